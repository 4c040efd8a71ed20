"""Record any Flower strategy's rounds for provenance: the global model and every reply.

``ProvenanceRecorder(strategy, run_dir=...)`` wraps a Message-API strategy (FedAvg,
FedProx, FedAdam, Flower's DP wrappers, ...) and is used in its place, e.g.
``ProvenanceRecorder(FedAvg(), run_dir="runs/a").start(grid, arrays, num_rounds=5)``.
Each round it writes, in the project's run layout (:mod:`tracefl.runs.layout`), the
aggregated global arrays and each participant's reply arrays as safetensors, plus a
``meta.json`` with participants, example counts and, when the clients send them, label
counts. It changes nothing the strategy computes: every call is passed through, and
the replies are read only after the strategy has aggregated them, so that in-place
changes (Flower's DP clipping replaces each reply's arrays) are what gets recorded.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from tracefl.runs.checkpoint import write_round
from tracefl.runs.layout import client_order

logger = logging.getLogger(__name__)

#: The reply metric that names a client (Flower's examples put the partition id there);
#: a reply without it is named by its node id.
CLIENT_KEY = "partition-id"
#: The reply metric with the client's training examples per class: a list, index = class.
LABEL_COUNTS_KEY = "label-counts"

#: ``round_hook(server_round, aggregated, replies) -> (global arrays, extra meta)``: lets a
#: caller finish the global model (e.g. evaluate it) before it is recorded and returned.
RoundHook = Callable[[int, ArrayRecord, list["RecordedReply"]], tuple[ArrayRecord, Mapping[str, Any]]]


def label_counts_metric(labels: Iterable[int], num_classes: int) -> list[int]:
    """A client's label counts in the form the recorder reads (``metrics["label-counts"]``)."""
    counts = [0] * num_classes
    for label in labels:
        counts[int(label)] += 1
    return counts


@dataclass
class RecordedReply:
    """One participant's reply as the strategy aggregated it."""

    client_id: str
    node_id: int
    arrays: ArrayRecord
    metrics: dict[str, Any] = field(default_factory=dict)


class ProvenanceRecorder(Strategy):
    """A strategy that behaves exactly as ``strategy`` and records every round in ``run_dir``.

    ``client_key`` names the reply metric that identifies a client (default
    ``"partition-id"``; replies without it are named by node id). ``examples_key`` is
    the metric with the client's example count (default: the wrapped strategy's
    ``weighted_by_key``, else ``"num-examples"``). A run that records round 1 starts a
    fresh record: earlier rounds in ``run_dir`` are removed first.
    """

    def __init__(
        self,
        strategy: Strategy,
        run_dir: str | Path,
        *,
        client_key: str = CLIENT_KEY,
        examples_key: str | None = None,
        label_counts_key: str = LABEL_COUNTS_KEY,
        round_hook: RoundHook | None = None,
    ) -> None:
        self.strategy = strategy
        self.run_dir = Path(run_dir)
        self.client_key = client_key
        self.examples_key = examples_key or _weighted_by_key(strategy)
        self.label_counts_key = label_counts_key
        self.round_hook = round_hook
        self.replies: list[RecordedReply] = []  # the last round's, sorted by client id
        self.meta: dict[str, Any] = {}  # the last round's record (its meta.json)
        self._started: dict[int, float] = {}

    def __getattr__(self, name: str) -> Any:
        # Attributes the recorder does not have (e.g. FedAvg's ``arrayrecord_key``) are the strategy's.
        if name == "strategy":
            raise AttributeError(name)
        return getattr(self.strategy, name)

    def __repr__(self) -> str:
        return f"ProvenanceRecorder({self.strategy!r}, run_dir={str(self.run_dir)!r})"

    def summary(self) -> None:
        logger.info("recording every round for provenance in %s", self.run_dir)
        self.strategy.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._started[server_round] = time.time()
        return self.strategy.configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        arrays, metrics = self.strategy.aggregate_train(server_round, replies)
        if arrays is None:  # the strategy aggregated nothing: nothing to explain this round
            return arrays, metrics
        self.replies = sorted((self._reply(m) for m in replies if not m.has_error()), key=lambda r: client_order(r.client_id))
        extra: Mapping[str, Any] = {}
        if self.round_hook is not None:
            arrays, extra = self.round_hook(server_round, arrays, self.replies)
        self._write(server_round, arrays, metrics, extra)
        return arrays, metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round, replies)

    def _reply(self, message: Message) -> RecordedReply:
        content = message.content
        if len(content.array_records) != 1:
            raise ValueError(
                f"a reply from node {message.metadata.src_node_id} holds {len(content.array_records)} "
                "ArrayRecords; the recorder needs exactly one (the client's model)"
            )
        metrics: dict[str, Any] = {}
        for record in content.metric_records.values():
            metrics.update(record)
        node = int(message.metadata.src_node_id)
        client = metrics.get(self.client_key)
        client_id = str(int(client)) if isinstance(client, (int, float)) else str(node)
        return RecordedReply(client_id, node, next(iter(content.array_records.values())), metrics)

    def _write(
        self, server_round: int, arrays: ArrayRecord, metrics: MetricRecord | None, extra: Mapping[str, Any]
    ) -> None:
        if server_round == 1 and (self.run_dir / "rounds").exists():
            logger.info("round 1: a new record in %s replaces the rounds there", self.run_dir)
            shutil.rmtree(self.run_dir / "rounds")
        replies = self.replies
        meta: dict[str, Any] = {
            "round": server_round,
            "strategy": type(self.strategy).__name__,
            "participants": [r.client_id for r in replies],
            "node_ids": {r.client_id: r.node_id for r in replies},
            "num_examples": {r.client_id: int(r.metrics.get(self.examples_key, 0)) for r in replies},
            "client_metrics": {r.client_id: _plain_metrics(r.metrics, self.label_counts_key) for r in replies},
            # The strategy's aggregate, less the per-client facts (an averaged id or label count means nothing).
            "train_metrics": {} if metrics is None else {
                k: _plain(v) for k, v in metrics.items() if k not in (self.client_key, self.label_counts_key)
            },
        }
        if replies and all(self.label_counts_key in r.metrics for r in replies):
            meta["label_counts"] = {
                r.client_id: {str(label): int(n) for label, n in enumerate(r.metrics[self.label_counts_key])}
                for r in replies
            }
        meta["seconds"] = time.time() - self._started.pop(server_round, time.time())
        meta.update(extra)
        self.meta = meta
        write_round(
            self.run_dir,
            server_round,
            arrays.to_torch_state_dict(),
            {r.client_id: r.arrays.to_torch_state_dict() for r in replies},
            meta,
        )


def _weighted_by_key(strategy: Strategy) -> str:
    """The example-count key of ``strategy`` or of the strategy a wrapper (DP) holds."""
    while strategy is not None:
        key = getattr(strategy, "weighted_by_key", None)
        if isinstance(key, str):
            return key
        strategy = getattr(strategy, "strategy", None)
    return "num-examples"


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _plain_metrics(metrics: Mapping[str, Any], skip: str) -> dict[str, Any]:
    return {k: _plain(v) for k, v in metrics.items() if k != skip}
