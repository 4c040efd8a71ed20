"""The benchmark table: one row per (model, N, chunk size), and its Markdown rendering.

For every model and input count N a row gives the engine's time per input, the
reference's time per input, their ratio, the engine's peak memory, the largest relative
difference of the raw scores and whether the traced client agrees on every compared
input.

The reference runs once per model, on the first ``reference_inputs`` inputs (all of
them with ``full_reference``), and every N is compared on the inputs the reference
covered. When that is fewer than N, the reference's time per input is extrapolated, and
the table says so ("reference timed on" column).

Times are robust to bursts of load from other processes: the engine's time is the
median of ``repeats`` calls (each a whole ``trace()`` of the N inputs, scorer set-up
included); the reference's is the median over the inputs it traced (see ``measure``).
"""

from __future__ import annotations

import inspect
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd
import torch

from tracefl.bench.measure import PeakMemory, compare, sync, time_reference
from tracefl.bench.workloads import make_workload, bench_model_names
from tracefl.models.inputs import take, to_device
from tracefl.provenance import trace
from tracefl.provenance.reference import reference_trace

DEFAULT_MODELS = ("resnet18", "densenet121", "bert-small", "gpt-small")
DEFAULT_SIZES = (20, 100, 500)
# The engine's own default, so that the table shows what a plain trace() call does.
DEFAULT_CHUNK_SIZE: int | None = inspect.signature(trace).parameters["chunk_size"].default

COLUMNS = [
    "model", "n", "k", "chunk_size", "engine_s", "engine_s_per_input", "reference_s_per_input",
    "reference_inputs", "reference_extrapolated", "speedup", "engine_peak_mib", "max_rel_diff",
    "compared", "agreed", "traced_agree",
]


def run_benchmark(
    models: Sequence[str] = DEFAULT_MODELS,
    sizes: Sequence[int] = DEFAULT_SIZES,
    clients: int = 10,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    device: str | torch.device = "cpu",
    reference_inputs: int = 20,
    full_reference: bool = False,
    unchunked: Iterable[str] = ("resnet18",),
    threads: int | None = 2,
    seed: int = 0,
    perturbation: float = 0.05,
    repeats: int = 3,
    log: Callable[[str], None] | None = None,
    batch_clients: bool | None = None,
) -> pd.DataFrame:
    """Time :func:`trace` against :func:`reference_trace`; one row per (model, N, chunk size).

    ``reference_inputs``: how many inputs (the first ones) the reference traces; its time
    per input is extrapolated to larger N. ``full_reference`` traces all max(sizes)
    inputs instead (slow). ``0`` skips the reference. ``unchunked``: models for which the
    engine also runs with ``chunk_size=None`` at the largest N (the memory chunking
    saves). ``threads`` sets torch's intra-op threads for the run (None: leave as is).
    ``repeats``: engine calls per row; the median time and the largest peak are reported.
    ``batch_clients`` is :func:`trace`'s (None: vmap over the clients' BertLayers on CUDA for
    blocks under 1 M parameters).
    """
    sizes = sorted({int(s) for s in sizes})
    if not sizes or sizes[0] < 1:
        raise ValueError(f"sizes must be positive input counts, got {sizes}")
    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    unknown = [m for m in models if m not in bench_model_names()]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {bench_model_names()}")
    device = torch.device(device)
    say = log or (lambda _message: None)
    unchunked = set(unchunked)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    rows: list[dict[str, Any]] = []
    try:
        for name in models:
            rows.extend(
                _bench_model(name, sizes, clients, chunk_size, device, reference_inputs,
                             full_reference, name in unchunked, seed, perturbation, repeats, say,
                             batch_clients)
            )
    finally:
        torch.set_num_threads(previous_threads)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["chunk_size"] = frame["chunk_size"].astype("Int64")
    return frame


def _bench_model(
    name: str, sizes: list[int], k: int, chunk_size: int | None, device: torch.device,
    reference_inputs: int, full_reference: bool, unchunked: bool, seed: int,
    perturbation: float, repeats: int, say: Callable[[str], None], batch_clients: bool | None,
) -> list[dict[str, Any]]:
    """The rows of one model: the reference once, then the engine at every N (and chunk)."""
    largest = sizes[-1]
    work = make_workload(name, largest, k, seed, perturbation)
    model = work.global_model.to(device)
    clients = {c: m.to(device) for c, m in work.clients.items()}
    inputs = to_device(work.inputs, device)

    # Warm-up (one-time kernel and allocator set-up), not timed.
    trace(model, clients, take(inputs, slice(0, 2)), chunk_size=chunk_size, device=device,
          batch_clients=batch_clients)
    reference_count = largest if full_reference else min(largest, max(0, reference_inputs))
    reference: tuple[torch.Tensor, list[str]] | None = None
    reference_s = float("nan")
    if reference_count:
        reference_trace(model, clients, take(inputs, slice(0, 1)), device=device)
        say(f"{name}: reference on {reference_count} input(s) ...")
        reference, reference_s = time_reference(model, clients, inputs, reference_count, device)
        say(f"{name}: reference {reference_s:.4f} s/input")

    rows = []
    for n in sizes:
        chunks = [chunk_size]
        if unchunked and n == largest and chunk_size is not None and chunk_size < n:
            chunks.append(None)
        for chunk in chunks:
            batch = take(inputs, slice(0, n))
            times, peaks = [], []
            for _ in range(repeats):
                result = None  # the previous repeat's result is not part of this one's memory
                with PeakMemory(device) as memory:
                    sync(device)
                    start = time.perf_counter()
                    result = trace(model, clients, batch, chunk_size=chunk, device=device,
                                   batch_clients=batch_clients)
                    sync(device)
                    times.append(time.perf_counter() - start)
                peaks.append(memory.peak_bytes)
            del batch
            engine_s = statistics.median(times)
            peak_bytes = max(peaks)
            covered = min(n, reference_count)
            if reference is not None:
                raw, traced = reference
                rel, compared, agreed = compare(
                    result.raw, raw[:covered], result.traced, traced[:covered]
                )
            else:
                rel, compared, agreed = float("nan"), 0, 0
            per_input = engine_s / n
            rows.append({
                "model": name,
                "n": n,
                "k": k,
                "chunk_size": chunk,
                "engine_s": engine_s,
                "engine_s_per_input": per_input,
                "reference_s_per_input": reference_s,
                "reference_inputs": covered,
                "reference_extrapolated": bool(reference is not None and covered < n),
                "speedup": reference_s / per_input if reference is not None else float("nan"),
                "engine_peak_mib": peak_bytes / 2**20,
                "max_rel_diff": rel,
                "compared": compared,
                "agreed": agreed,
                "traced_agree": bool(reference is not None and agreed == compared),
            })
            say(f"{name}: N={n} chunk={chunk}: engine {per_input:.4f} s/input, "
                f"peak {peak_bytes / 2**20:.0f} MiB, agree {agreed}/{compared}")
            del result
    return rows


def _mib(value: float) -> str:
    """A MiB cell: one decimal below 10, none above, "n/a" when not measured."""
    if math.isnan(value):
        return "n/a"
    return f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"


def to_markdown(frame: pd.DataFrame) -> str:
    """The benchmark table in Markdown, one row per (model, N, chunk size)."""
    header = [
        "model", "N", "K", "chunk", "engine s/input", "reference s/input", "reference timed on",
        "speedup", "engine peak MiB", "max rel diff raw", "traced agree",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        chunk = "none" if pd.isna(row.chunk_size) else str(int(row.chunk_size))
        if row.compared:
            timed_on = f"{row.reference_inputs} of {row.n}"
            if row.reference_extrapolated:
                timed_on += ", extrapolated"
            agree = f"{'yes' if row.traced_agree else 'NO'} ({row.agreed}/{row.compared})"
            rel = f"{row.max_rel_diff:.1e}"
        else:
            timed_on, agree, rel = "not run", "n/a", "n/a"
        cells = [
            row.model, str(row.n), str(row.k), chunk, f"{row.engine_s_per_input:.4f}",
            "n/a" if math.isnan(row.reference_s_per_input) else f"{row.reference_s_per_input:.4f}",
            timed_on, "n/a" if math.isnan(row.speedup) else f"{row.speedup:.1f}x",
            _mib(row.engine_peak_mib), rel, agree,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def memory_summary(frame: pd.DataFrame) -> list[str]:
    """One line per model: how engine peak memory grows with N (chunked), and unchunked."""
    lines = []
    for name, group in frame.groupby("model", sort=False):
        chunked = group[group["chunk_size"].notna()] if group["chunk_size"].notna().any() else group
        chunked = chunked.sort_values("n")
        if len(chunked) >= 2:
            first, last = chunked.iloc[0], chunked.iloc[-1]
            growth = last["engine_peak_mib"] / max(first["engine_peak_mib"], 1e-9)
            lines.append(
                f"{name}: engine peak memory N={first['n']} -> N={last['n']} "
                f"(x{last['n'] / first['n']:.0f} inputs): "
                f"{first['engine_peak_mib']:.0f} -> {last['engine_peak_mib']:.0f} MiB (x{growth:.1f})"
            )
        whole = group[group["chunk_size"].isna()]
        for row in whole.itertuples(index=False):
            same_n = chunked[chunked["n"] == row.n]
            if len(same_n):
                lines.append(
                    f"{name}: N={row.n} unchunked {row.engine_peak_mib:.0f} MiB vs chunk "
                    f"{int(same_n.iloc[0]['chunk_size'])} {same_n.iloc[0]['engine_peak_mib']:.0f} MiB"
                )
    return lines
