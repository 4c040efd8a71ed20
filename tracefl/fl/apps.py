"""The Flower ClientApp and ServerApp of one run (Message API).

Both are built by factories that close over the run's settings, so the same code
serves the Snakemake rule, the CLI and the tests.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, Strategy
from tqdm import tqdm

from tracefl.config import RunSpec
from tracefl.data.registry import get_dataset_spec
from tracefl.fl.checkpoint import completed_rounds, read_global, write_round
from tracefl.fl.client_data import client_tensors, server_tensors
from tracefl.fl.inputs import num_rows
from tracefl.fl.local_training import evaluate, train_local
from tracefl.fl.strategy import CapturingFedAvg
from tracefl.models import build_model
from tracefl.partition import load_partition
from tracefl.seeding import derive_seed


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when visible, so one config serves laptops and GPU nodes."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("simulation.device = 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(name)


def as_float_arrays(state: dict[str, torch.Tensor]) -> ArrayRecord:
    """State dict as an ArrayRecord of floating arrays.

    Flower's DP clipping and noise work in place on every array, which integer buffers
    (BatchNorm's ``num_batches_tracked``) do not survive; ``load_state_dict`` casts
    them back to their own dtype on the way in.
    """
    return ArrayRecord(
        {k: (v if v.is_floating_point() else v.to(torch.float32)).detach().cpu() for k, v in state.items()}
    )


def keep_step_counters(state: dict[str, torch.Tensor], received: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with BatchNorm's ``num_batches_tracked`` as the server sent it.

    The counter grows by the local steps (~100 a round), not a weight: inside the DP
    update norm it would dwarf the real update and make the clipping shrink every weight.
    It is read only by BatchNorm with ``momentum=None``.
    """
    return {k: (received[k] if k.endswith("num_batches_tracked") and k in received else v) for k, v in state.items()}


def clamp_running_variances(model: torch.nn.Module) -> None:
    """DP noise on BatchNorm's running variances may push one below 0 (NaN in eval): clamp at 0."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_var is not None:
                module.running_var.clamp_(min=0.0)


def make_strategy(spec: RunSpec, node_of_client: dict[str, int]) -> tuple[Strategy, CapturingFedAvg]:
    """FedAvg that captures client models, wrapped in Flower's server-side DP when configured.

    Returns (strategy to drive, inner FedAvg whose captured replies are the clipped ones).
    """
    inner = CapturingFedAvg(node_of_client, spec.clients_per_round, spec.seed)
    if spec.dp_clip > 0:
        wrapped = DifferentialPrivacyServerSideFixedClipping(
            inner,
            noise_multiplier=spec.dp_noise,
            clipping_norm=spec.dp_clip,
            num_sampled_clients=min(spec.clients_per_round, len(node_of_client)),
        )
        return wrapped, inner
    return inner, inner


def initial_state(spec: RunSpec) -> dict[str, torch.Tensor]:
    """The round-0 global model: same seed, same weights."""
    num_classes = get_dataset_spec(spec.dataset).num_classes
    return build_model(spec.model, num_classes, spec.pretrained, seed=derive_seed(spec.seed, "init")).state_dict()


@lru_cache(maxsize=2)
def _architecture(name: str, num_classes: int) -> torch.nn.Module:
    """One model object per process, reused by every train call it serves.

    Each call overwrites every parameter and buffer with the server's arrays, so reusing
    it is exact, and saves building a transformer from scratch per client and round.
    """
    return build_model(name, num_classes, pretrained=False)


def make_client_app(
    spec: RunSpec, dataset_dir: str | Path, partition_path: str | Path, device: str = "auto", threads: int = 1
) -> ClientApp:
    app = ClientApp()
    dataset = get_dataset_spec(spec.dataset)  # resolved here: workers need no registry entry
    num_classes = dataset.num_classes

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        info = ConfigRecord({"partition-id": int(context.node_config["partition-id"])})
        return Message(RecordDict({"info": info}), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(max(1, threads))
        client_id = str(int(context.node_config["partition-id"]))
        rnd = int(msg.content["config"]["server-round"])
        model = _architecture(spec.model, num_classes)
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
        )
        loss = train_local(
            model,
            x,
            y,
            epochs=spec.local_epochs,
            batch_size=spec.batch_size,
            lr=spec.lr,
            optimizer=spec.optimizer,
            seed=derive_seed(spec.seed, "train", rnd, client_id),
            device=resolve_device(device),
        )
        metrics = MetricRecord({"num-examples": num_rows(x), "partition-id": int(client_id), "train-loss": loss})
        state = model.state_dict()
        if spec.dp_clip > 0:
            state = keep_step_counters(state, received)
        return Message(RecordDict({"arrays": as_float_arrays(state), "metrics": metrics}), reply_to=msg)

    return app


def _node_of_client(grid: Grid, expected: int, clients: set[str]) -> dict[str, int]:
    """Ask every node which partition it serves (node ids are random per simulation)."""
    deadline = time.time() + 120
    while len(node_ids := list(grid.get_node_ids())) < expected:
        if time.time() > deadline:
            raise RuntimeError(f"only {len(node_ids)} of {expected} simulated nodes came up")
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


def make_server_app(
    spec: RunSpec,
    dataset_dir: str | Path,
    partition_path: str | Path,
    run_dir: str | Path,
    device: str = "auto",
) -> ServerApp:
    app = ServerApp()
    dataset = get_dataset_spec(spec.dataset)
    num_classes = dataset.num_classes

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        partition = load_partition(partition_path)
        clients = partition["clients"]
        node_of_client = _node_of_client(grid, spec.num_clients, set(clients))
        strategy, capturing = make_strategy(spec, node_of_client)
        dev = resolve_device(device)
        x_test, y_test = server_tensors(
            dataset, dataset_dir, spec.max_server_samples, model=spec.model, max_length=spec.max_length
        )
        model = build_model(spec.model, num_classes, pretrained=False)

        done = completed_rounds(run_dir)
        first = done[-1] + 1 if done else 1
        state = read_global(run_dir, done[-1]) if done else initial_state(spec)
        arrays = as_float_arrays(state)
        for rnd in tqdm(range(first, spec.rounds + 1), desc=f"train {spec.run_id}", initial=first - 1, total=spec.rounds):
            started = time.time()
            messages = strategy.configure_train(rnd, arrays, ConfigRecord({}), grid)
            replies = list(grid.send_and_receive(messages, timeout=24 * 3600))
            failed = [r for r in replies if r.has_error()]
            if failed:
                raise RuntimeError(f"round {rnd}: client training failed: {failed[0].error.reason}")
            np.random.seed(derive_seed(spec.seed, "dp-noise", rnd))  # Flower's DP noise draws from np.random
            aggregated, _ = strategy.aggregate_train(rnd, replies)
            if aggregated is None:
                raise RuntimeError(f"round {rnd}: no client replied")
            model.load_state_dict(aggregated.to_torch_state_dict())
            if spec.dp_clip > 0:
                clamp_running_variances(model)
            accuracy, loss = evaluate(model, x_test, y_test, dev)
            captured = sorted(capturing.captured, key=lambda c: int(c.client_id))
            meta = {
                "round": rnd,
                "run_id": spec.run_id,
                "participants": [c.client_id for c in captured],
                "num_examples": {c.client_id: c.num_examples for c in captured},
                "label_counts": {c.client_id: clients[c.client_id]["label_counts"] for c in captured},
                "train_loss": {c.client_id: float(c.metrics.get("train-loss", float("nan"))) for c in captured},
                "faulty_clients": [str(c) for c in spec.faulty_clients],
                "dp_noise": spec.dp_noise,
                "dp_clip": spec.dp_clip,
                "global_accuracy": accuracy,
                "global_loss": loss,
                "seconds": time.time() - started,
            }
            global_state = model.state_dict()
            write_round(
                run_dir,
                rnd,
                global_state,
                {c.client_id: c.arrays.to_torch_state_dict() for c in captured},
                meta,
            )
            tqdm.write(f"round {rnd}: global accuracy {accuracy:.4f} loss {loss:.4f} participants {meta['participants']}")
            arrays = as_float_arrays(global_state)

    return app
