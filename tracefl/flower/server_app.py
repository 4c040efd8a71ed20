"""The Flower ServerApp of one run: the round loop that trains, aggregates, evaluates and
records every round (global model + every participant's reply) for provenance, through
the same :class:`~tracefl.flower.recorder.ProvenanceRecorder` any Flower app can use.

Why a hand-written loop instead of ``Strategy.start``: a killed job must resume at
round k+1 with *absolute* round numbers, because client sampling, local-training seeds
and DP noise are all derived from (run seed, round). ``Strategy.start`` always counts
from round 1. The loop itself only calls the strategy's public ``configure_train`` /
``aggregate_train``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp
from tqdm import tqdm

from tracefl.config import RunSpec
from tracefl.data.partition import load_partition
from tracefl.data.tensors import server_tensors
from tracefl.flower.arrays import as_float_arrays, clamp_running_variances
from tracefl.flower.recorder import ProvenanceRecorder, RecordedReply
from tracefl.flower.strategy import make_strategy
from tracefl.models.catalog import channels_last
from tracefl.models.device import resolve_device
from tracefl.models.inference import evaluate
from tracefl.models.builders import build_model
from tracefl.runs.checkpoint import completed_rounds, read_global
from tracefl.runs.layout import TEST_PREDICTIONS
from tracefl.seeding import derive_seed, numpy_legacy_seed


def initial_state(spec: RunSpec) -> dict[str, torch.Tensor]:
    """The round-0 global model: same seed, same weights."""
    return build_model(spec.model, spec.num_classes, spec.pretrained, seed=derive_seed(spec.seed, "init")).state_dict()


def node_of_client(grid: Grid, expected: int, clients: set[str]) -> dict[str, int]:
    """Ask every node which partition it serves (node ids are random per simulation)."""
    deadline = time.time() + 120
    while len(node_ids := list(grid.get_node_ids())) < expected:
        if time.time() > deadline:
            raise RuntimeError(
                f"only {len(node_ids)} of {expected} nodes came up: the run has {expected} clients, one per node "
                f"(with flwr run: --federation-config num-supernodes={expected})"
            )
        time.sleep(0.5)
    messages = [
        Message(RecordDict({"config": ConfigRecord({})}), dst_node_id=node, message_type=MessageType.QUERY)
        for node in node_ids
    ]
    mapping: dict[str, int] = {}
    for reply in grid.send_and_receive(messages, timeout=600):
        if reply.has_error():
            raise RuntimeError(f"node {reply.metadata.src_node_id} failed to answer: {reply.error.reason}")
        client_id = str(int(reply.content["info"]["partition-id"]))
        if client_id in clients:
            mapping[client_id] = reply.metadata.src_node_id
    return mapping


def make_server_app(*args: Any, **kwargs: Any) -> ServerApp:
    """A ServerApp whose main runs :func:`run_rounds` with these arguments (after ``grid``):
    the ``train`` step's simulation. ``flwr run .`` uses :mod:`tracefl.flower.app` instead."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        run_rounds(grid, *args, **kwargs)

    return app


def run_rounds(
    grid: Grid,
    spec: RunSpec,
    dataset_dir: str | Path,
    partition_path: str | Path,
    run_dir: str | Path,
    device: str = "auto",
    fingerprint: str = "",
    threads: int = 1,
) -> None:
    """Train the rounds of ``spec`` not yet in ``run_dir`` on the nodes of ``grid``.

    ``threads``: torch threads of the global model's evaluation, the clients' own
    (``SimulationSettings.client_threads``), so that the inline backend, Ray and ``flwr run``
    record the same loss whatever threads their server process was started with.
    """
    partition = load_partition(partition_path)
    clients = partition["clients"]
    dev = resolve_device(device)
    nhwc = channels_last(spec.model, dev.type)
    x_test, y_test = server_tensors(
        spec.data, dataset_dir, spec.max_server_samples, model=spec.model, max_length=spec.max_length
    )
    model = build_model(spec.model, spec.num_classes, pretrained=False)

    def finish_round(rnd: int, aggregated: ArrayRecord, replies: list[RecordedReply]) -> tuple[ArrayRecord, dict]:
        """Evaluate the aggregated model; its state and the run's facts go into the round's record."""
        model.load_state_dict(aggregated.to_torch_state_dict())
        if spec.dp_clip > 0:
            clamp_running_variances(model)
        torch.set_num_threads(threads)
        accuracy, loss, predicted = evaluate(model, x_test, y_test, dev, channels_last=nhwc)
        meta = {
            "run_id": spec.run_id,
            "fingerprint": fingerprint,
            "label_counts": {r.client_id: clients[r.client_id]["label_counts"] for r in replies},
            "train_loss": {r.client_id: float(r.metrics.get("train-loss", float("nan"))) for r in replies},
            "faulty_clients": [str(c) for c in spec.faulty_clients],
            "dp_noise": spec.dp_noise,
            "dp_clip": spec.dp_clip,
            "global_accuracy": accuracy,
            "global_loss": loss,
            TEST_PREDICTIONS: predicted,
        }
        return ArrayRecord(model.state_dict()), meta

    strategy = ProvenanceRecorder(
        make_strategy(spec, node_of_client(grid, spec.num_clients, set(clients))), run_dir, round_hook=finish_round
    )
    done = completed_rounds(run_dir)
    first = done[-1] + 1 if done else 1
    # Handed over as the model orders its tensors, as after every round below: a checkpoint's
    # come back in name order (safetensors sorts them), and the DP wrapper pairs the global
    # model's and the replies' arrays by position.
    model.load_state_dict(read_global(run_dir, done[-1]) if done else initial_state(spec))
    arrays = as_float_arrays(model.state_dict())
    # A bar on a terminal; in a log file (not a tty) the per-round lines below say enough.
    rounds = tqdm(range(first, spec.rounds + 1), desc=f"train {spec.run_id}", initial=first - 1,
                  total=spec.rounds, disable=None)
    for rnd in rounds:
        messages = strategy.configure_train(rnd, arrays, ConfigRecord({}), grid)
        replies = list(grid.send_and_receive(messages, timeout=24 * 3600))
        failed = [r for r in replies if r.has_error()]
        if failed:
            raise RuntimeError(f"round {rnd}: client training failed: {failed[0].error.reason}")
        with numpy_legacy_seed(derive_seed(spec.seed, "dp-noise", rnd)):  # Flower's DP noise
            aggregated, _ = strategy.aggregate_train(rnd, replies)
        if aggregated is None:
            raise RuntimeError(f"round {rnd}: no client replied")
        record = strategy.meta
        tqdm.write(f"round {rnd}: global accuracy {record['global_accuracy']:.4f} loss {record['global_loss']:.4f} "
                   f"participants {record['participants']}")
        arrays = as_float_arrays(model.state_dict())  # the state the round hook just recorded
