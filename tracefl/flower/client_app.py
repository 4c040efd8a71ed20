"""The Flower ClientApp of one run: local training of the partition a node serves.

``train_partition`` does the work; ``make_client_app`` (the simulation of the ``train``
step) closes over the run's settings, with the dataset's description, so simulation
workers need no registry or config lookup; :mod:`tracefl.flower.app` (``flwr run``)
reads them from the run config.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from tracefl.config import RunSpec
from tracefl.data.faults import RANDOM_LABELS
from tracefl.data.scenarios import BACKDOOR, BACKDOOR_CLIENT
from tracefl.data.tensors import client_tensors
from tracefl.flower.arrays import as_float_arrays, keep_step_counters
from tracefl.models.catalog import channels_last
from tracefl.models.device import resolve_device
from tracefl.models.inputs import num_rows
from tracefl.models.builders import build_model
from tracefl.models.training import train_local
from tracefl.seeding import derive_seed


@lru_cache(maxsize=2)
def _architecture(name: str, num_classes: int) -> torch.nn.Module:
    """One model object per process, reused by every train call it serves.

    Each call overwrites every parameter and buffer with the server's arrays, so reusing
    it is exact, and saves building a transformer from scratch per client and round.
    """
    return build_model(name, num_classes, pretrained=False)


def partition_query(msg: Message, context: Context) -> Message:
    """Answer the server's question: which partition does this node serve?"""
    info = ConfigRecord({"partition-id": int(context.node_config["partition-id"])})
    return Message(RecordDict({"info": info}), reply_to=msg)


def train_partition(
    msg: Message,
    context: Context,
    spec: RunSpec,
    dataset_dir: str | Path,
    partition_path: str | Path,
    device: str = "auto",
    threads: int = 1,
) -> Message:
    """Train the received model on this node's partition; reply with it and its metrics."""
    torch.set_num_threads(max(1, threads))
    dataset = spec.data
    client_id = str(int(context.node_config["partition-id"]))
    rnd = int(msg.content["config"]["server-round"])
    model = _architecture(spec.model, dataset.num_classes)
    received = msg.content["arrays"].to_torch_state_dict()
    model.load_state_dict(received)
    faulty = int(client_id) in spec.faulty_clients
    x, y = client_tensors(
        dataset,
        dataset_dir,
        partition_path,
        client_id,
        spec.flip_map if faulty else None,
        model=spec.model,
        max_length=spec.max_length,
        random_labels_seed=spec.seed if faulty and spec.faulty_labels == RANDOM_LABELS else None,
    )
    dev = resolve_device(device)
    loss = train_local(
        model,
        x,
        y,
        epochs=spec.local_epochs,
        batch_size=spec.batch_size,
        lr=spec.lr,
        optimizer=spec.optimizer,
        seed=derive_seed(spec.seed, "train", rnd, client_id),
        device=dev,
        channels_last=channels_last(spec.model, dev.type),
    )
    metrics = MetricRecord({"num-examples": num_rows(x), "partition-id": int(client_id), "train-loss": loss})
    state = model.state_dict()
    if spec.scenario == BACKDOOR and client_id == BACKDOOR_CLIENT and spec.backdoor_boost != 1.0:
        state = boosted(state, received, spec.backdoor_boost)
    if spec.dp_clip > 0:
        state = keep_step_counters(state, received)
    return Message(RecordDict({"arrays": as_float_arrays(state), "metrics": metrics}), reply_to=msg)


def boosted(state: dict[str, torch.Tensor], received: dict[str, torch.Tensor], boost: float) -> dict[str, torch.Tensor]:
    """``received + boost * (state - received)`` for every floating-point tensor (the update scaled,
    a model-replacement attack); integer buffers (BatchNorm's step counters) stay as trained."""
    return {name: received[name] + boost * (value - received[name]) if value.is_floating_point() else value
            for name, value in state.items()}


def make_client_app(
    spec: RunSpec, dataset_dir: str | Path, partition_path: str | Path, device: str = "auto", threads: int = 1
) -> ClientApp:
    """The client app of one run, for ``run_simulation`` (the ``flwr run`` app is :mod:`tracefl.flower.app`)."""
    app = ClientApp()

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        return partition_query(msg, context)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        return train_partition(msg, context, spec, dataset_dir, partition_path, device, threads)

    return app
