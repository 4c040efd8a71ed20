"""Seconds per federated round at the paper's scale, and the device memory it peaks at.

A round here is what a run's round computes: every sampled client trains a copy of the
global model for its local epochs (:func:`~tracefl.models.training.train_local`, the
clients' own code), the server averages their weights (FedAvg, equal client sizes) and
evaluates the result (:func:`~tracefl.models.inference.evaluate`). Data are random 3x32x32
images with random labels (nothing is downloaded; the arithmetic does not depend on the
values), and Flower's message transport is left out, with the copies of the client weights to
the host that go with it: it is what differs between the inline, Ray and deployment back-ends,
while this is what they share. FedAvg here is the plain mean of float tensors (equal client
sizes); integer buffers come from the first client (a run keeps the server's; no time in it).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch

from tracefl.bench.measure import PeakMemory, sync
from tracefl.data.transforms import IMAGE_SHAPE
from tracefl.models.catalog import channels_last
from tracefl.models.inference import evaluate
from tracefl.models.training import has_batch_norm, train_local
from tracefl.models.builders import build_model

# The paper preset's defaults (config/experiments.yaml, presets.paper.defaults; a test keeps
# them equal): clients a round, examples a client, local epochs, batch size, server examples.
PAPER_ROUND = {"clients": 10, "samples": 2048, "epochs": 2, "batch_size": 32, "server_samples": 2048}
NUM_CLASSES = 10

COLUMNS = ["model", "round", "clients", "samples", "epochs", "batch_size", "round_s", "train_s",
           "aggregate_eval_s", "steps_per_s", "peak_mib", "accuracy"]


def time_rounds(
    model_name: str,
    rounds: int = 2,
    clients: int = PAPER_ROUND["clients"],
    samples: int = PAPER_ROUND["samples"],
    epochs: int = PAPER_ROUND["epochs"],
    batch_size: int = PAPER_ROUND["batch_size"],
    server_samples: int = PAPER_ROUND["server_samples"],
    device: str | torch.device = "cpu",
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One row per round: wall seconds (training, then averaging and evaluation) and peak memory.

    The first round includes the device's one-time set-up (kernels, allocator); compare rounds
    after it. Peak memory: all CUDA memory allocated at the peak; on a CPU the RSS growth in the round.
    """
    if rounds < 1 or clients < 1 or samples < 1 or epochs < 1 or batch_size < 1:
        raise ValueError("rounds, clients, samples, epochs and batch_size must be >= 1")
    device = torch.device(device)
    say = log or (lambda _message: None)
    gen = torch.Generator().manual_seed(seed)
    data = [
        (torch.randn(samples, *IMAGE_SHAPE, generator=gen), torch.randint(0, NUM_CLASSES, (samples,), generator=gen))
        for _ in range(clients)
    ]
    server_x = torch.randn(server_samples, *IMAGE_SHAPE, generator=gen)
    server_y = torch.randint(0, NUM_CLASSES, (server_samples,), generator=gen)
    global_model = build_model(model_name, NUM_CLASSES, pretrained=False, seed=seed).to(device)
    batches = -(-samples // batch_size)
    if samples % batch_size == 1 and has_batch_norm(global_model):
        batches -= 1  # train_local skips a last batch of one under BatchNorm
    steps = clients * epochs * batches
    nhwc = channels_last(model_name, device.type)  # the layout a run's clients and server use
    rows: list[dict[str, Any]] = []
    for rnd in range(1, rounds + 1):
        with PeakMemory(device) as memory:
            sync(device)
            start = time.perf_counter()
            states = []
            for client, (x, y) in enumerate(data):
                model = copy.deepcopy(global_model)
                train_local(model, x, y, epochs=epochs, batch_size=batch_size, lr=0.001, optimizer="adam",
                            seed=seed + 1000 * rnd + client, device=device, channels_last=nhwc)
                states.append(model.state_dict())
                del model
            sync(device)
            trained = time.perf_counter()
            global_model.load_state_dict(_mean_state(states))
            del states
            accuracy, _, _ = evaluate(global_model, server_x, server_y, device, channels_last=nhwc)
            sync(device)
            done = time.perf_counter()
        # CUDA: everything allocated at the peak (the global model included); CPU: RSS growth.
        peak = memory.peak_bytes + (memory.base_bytes if device.type == "cuda" else 0)
        rows.append({
            "model": model_name, "round": rnd, "clients": clients, "samples": samples, "epochs": epochs,
            "batch_size": batch_size, "round_s": done - start, "train_s": trained - start,
            "aggregate_eval_s": done - trained, "steps_per_s": steps / (trained - start),
            "peak_mib": peak / 2**20, "accuracy": accuracy,
        })
        say(f"{model_name}: round {rnd}: {done - start:.1f} s ({steps / (trained - start):.0f} steps/s), "
            f"peak {peak / 2**20:.0f} MiB")
    return pd.DataFrame(rows, columns=COLUMNS)


def _mean_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """FedAvg of equally sized clients: the mean of each float tensor; integer buffers (BatchNorm's
    step counters) from the first client."""
    mean = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            mean[key] = torch.stack([s[key] for s in states]).mean(0)
        else:
            mean[key] = first
    return mean


def rounds_markdown(frame: pd.DataFrame) -> str:
    """Per model: the median round after the first (set-up) one, its training steps a second and peak."""
    header = ["model", "clients x examples x epochs (batch)", "rounds timed", "s/round (median after round 1)",
              "first round s", "training steps/s", "peak MiB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, group in frame.groupby("model", sort=False):
        later = group[group["round"] > 1] if len(group) > 1 else group
        first = group.iloc[0]
        lines.append("| " + " | ".join([
            str(name), f"{first['clients']} x {first['samples']} x {first['epochs']} ({first['batch_size']})",
            str(len(group)), f"{statistics.median(later['round_s']):.1f}", f"{first['round_s']:.1f}",
            f"{statistics.median(later['steps_per_s']):.0f}", f"{group['peak_mib'].max():.0f}",
        ]) + " |")
    return "\n".join(lines)
