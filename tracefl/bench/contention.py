"""The engine next to a training job: its time per input alone and while a training load runs.

Snakemake runs several jobs at once, and a SLURM node is shared: a provenance job must
not slow down much when a training job computes beside it. Each row times ``trace()``
(median of ``repeats`` calls) alone, then again while ``python -m tracefl.bench.cpu_load``
trains a ResNet-18 with ``load_threads`` threads in another process; both processes use
the thread settings of :mod:`tracefl.threads` (the wait policy in the header line).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import pandas as pd
import torch

from tracefl.bench.workloads import make_workload
from tracefl.models.inputs import num_rows
from tracefl.provenance import trace

CONTENTION_COLUMNS = ["model", "n", "k", "threads", "load_threads", "alone_s_per_input",
                      "loaded_s_per_input", "slowdown"]


def _engine_s_per_input(workload, repeats: int) -> float:
    trace(workload.global_model, workload.clients, workload.inputs)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        trace(workload.global_model, workload.clients, workload.inputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / num_rows(workload.inputs)


def start_load(threads: int) -> subprocess.Popen:
    """The training load, in its own session (so that stopping it stops all of it)."""
    return subprocess.Popen([sys.executable, "-m", "tracefl.bench.cpu_load", "--threads", str(threads)],
                            stdout=subprocess.DEVNULL, start_new_session=True)


def stop_load(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def next_to_training(
    models: Sequence[str],
    n: int,
    k: int,
    threads: int,
    load_threads: int,
    repeats: int = 3,
    settle_s: float = 5.0,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One row per model: engine seconds per input alone and next to the training load."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for name in models:
            workload = make_workload(name, n=n, k=k)
            alone = _engine_s_per_input(workload, repeats)
            load = start_load(load_threads)
            try:
                time.sleep(settle_s)  # the load imports torch and builds its model first
                if load.poll() is not None:
                    raise RuntimeError(f"the training load exited early (code {load.returncode})")
                loaded = _engine_s_per_input(workload, repeats)
            finally:
                stop_load(load)
            rows.append({"model": name, "n": n, "k": k, "threads": threads, "load_threads": load_threads,
                         "alone_s_per_input": alone, "loaded_s_per_input": loaded, "slowdown": loaded / alone})
            if log:
                log(f"{name}: {alone * 1e3:.1f} ms/input alone, {loaded * 1e3:.1f} next to training "
                    f"({loaded / alone:.1f}x)")
    finally:
        torch.set_num_threads(previous)
    return pd.DataFrame(rows, columns=CONTENTION_COLUMNS)


def contention_markdown(frame: pd.DataFrame) -> str:
    lines = ["| model | N | K | engine threads | load threads | alone s/input | next to training s/input | slowdown |",
             "|---|---|---|---|---|---|---|---|"]
    for r in frame.itertuples(index=False):
        lines.append(f"| {r.model} | {r.n} | {r.k} | {r.threads} | {r.load_threads} | {r.alone_s_per_input:.4f} | "
                     f"{r.loaded_s_per_input:.4f} | {r.slowdown:.1f}x |")
    return "\n".join(lines)
