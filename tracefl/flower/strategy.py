"""FedAvg with reproducible client sampling and a reproducible order of aggregation.

Flower's own sampling uses the unseeded module-level ``random`` over node ids that
change every simulation; here participants are chosen among partition ids by a seed
derived from (run seed, round) and mapped to node ids. ``make_strategy`` wraps it in
Flower's server-side DP when the run asks for it; the provenance recorder
(:mod:`tracefl.flower.recorder`) wraps the result and keeps every client's model.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, FedAvg, Strategy

from tracefl.config import RunSpec
from tracefl.seeding import derive_seed


def sample_participants(available: list[str], per_round: int, seed: int, rnd: int) -> list[str]:
    """Partition ids taking part in round ``rnd``: a seeded draw without replacement."""
    rng = np.random.default_rng(derive_seed(seed, "sample", rnd))
    chosen = rng.choice(len(available), size=min(per_round, len(available)), replace=False)
    return sorted((available[i] for i in chosen), key=int)


class SeededFedAvg(FedAvg):
    """FedAvg that samples participants by seed and aggregates them in partition-id order."""

    def __init__(self, node_of_client: dict[str, int], clients_per_round: int, seed: int,
                 excluded: tuple[int, ...] = (), exclude_from_round: int = 1) -> None:
        super().__init__(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=1, min_available_nodes=1)
        self.node_of_client = node_of_client
        self.clients_per_round = clients_per_round
        self.seed = seed
        # Retraining without clients: from ``exclude_from_round`` on they are never sampled.
        self.excluded = {str(c) for c in excluded}
        self.exclude_from_round = exclude_from_round
        self.last_participants: list[str] = []

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        available = sorted(self.node_of_client, key=int)
        if server_round >= self.exclude_from_round:
            available = [c for c in available if c not in self.excluded]
        self.last_participants = sample_participants(available, self.clients_per_round, self.seed, server_round)
        config["server-round"] = server_round
        record = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config})
        return [
            Message(content=record, message_type=MessageType.TRAIN, dst_node_id=self.node_of_client[c])
            for c in self.last_participants
        ]

    def aggregate_train(self, server_round: int, replies: Iterable[Message]):
        # Arrival order varies between simulations and float sums of 3+ clients depend on
        # it: aggregate in partition-id order so the same seed gives the same bits.
        return super().aggregate_train(server_round, sorted(replies, key=_reply_order))


def _reply_order(msg: Message) -> tuple[int, int]:
    """Sort key of a reply: failed replies first (they are skipped), then by partition id."""
    if msg.has_error():
        return (0, 0)
    return (1, int(msg.content["metrics"]["partition-id"]))


def make_strategy(spec: RunSpec, node_of_client: dict[str, int]) -> Strategy:
    """Seeded FedAvg, wrapped in Flower's server-side DP when the run asks for it."""
    inner = SeededFedAvg(node_of_client, spec.clients_per_round, spec.seed, spec.exclude_clients, spec.exclude_from_round)
    if spec.dp_clip > 0:
        return DifferentialPrivacyServerSideFixedClipping(
            inner,
            noise_multiplier=spec.dp_noise,
            clipping_norm=spec.dp_clip,
            num_sampled_clients=min(spec.clients_per_round, len(node_of_client)),
        )
    return inner
