"""Provenance speed benchmark: the batched engine against the per-input reference.

Both run on identical random models: a global model and K client models that are the
global model with independently perturbed weights (so the traces are not trivial). For
every model and input count N the table gives the engine's time per input, the
reference's time per input, their ratio, the engine's peak memory, the largest relative
difference of the raw scores and whether the traced client agrees on every compared
input.

The reference is per-input by construction (its cost per input does not depend on N),
so it runs once per model, on the first ``reference_inputs`` inputs (all of them with
``full_reference``), and every N is compared on the inputs the reference covered. When
that is fewer than N, the reference's time per input is extrapolated, and the table
says so ("reference timed on" column).

Times are robust to bursts of load from other processes: the engine's time is the
median of ``repeats`` calls (each a whole ``trace()`` of the N inputs, scorer set-up
included); the reference's time per input is the median over the inputs it traced,
each timed on its own.

Peak memory is the growth of the process's resident set size over the call, sampled by
a background thread (CPU), or ``torch.cuda.max_memory_allocated`` growth (CUDA).

Threads: ``threads`` (default 2) sets torch's intra-op threads. OpenMP threads that spin
while they wait slow batched work down several-fold on a shared or oversubscribed CPU
(measured 5-10x on a 2-core VM running other jobs). So ``python -m tracefl.bench`` sets
``OMP_WAIT_POLICY=PASSIVE`` before torch loads, unless the variable is already set
(importing this module changes nothing). The table's header line gives the policy.

Run ``python -m tracefl.bench --help``.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and "torch" not in sys.modules:  # OpenMP reads it once, at load
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import copy
import ctypes
import gc
import inspect
import math
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from tracefl.provenance import trace
from tracefl.provenance.reference import reference_trace

DEFAULT_MODELS = ("resnet18", "densenet121", "bert-small")
DEFAULT_SIZES = (20, 100, 500)
# The engine's own default, so that the table shows what a plain trace() call does.
DEFAULT_CHUNK_SIZE: int | None = inspect.signature(trace).parameters["chunk_size"].default
IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10

# Randomly initialised BERT encoders built from a BertConfig (nothing is downloaded).
TEXT_MODELS: dict[str, dict[str, int]] = {
    "bert-small": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 2,
                   "intermediate_size": 512, "seq_len": 64, "vocab_size": 1000},
    "bert-tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                  "intermediate_size": 64, "seq_len": 16, "vocab_size": 100},
}

COLUMNS = [
    "model", "n", "k", "chunk_size", "engine_s", "engine_s_per_input", "reference_s_per_input",
    "reference_inputs", "reference_extrapolated", "speedup", "engine_peak_mib", "max_rel_diff",
    "compared", "agreed", "traced_agree",
]

Inputs = Tensor | dict[str, Tensor]


# ----------------------------------------------------------------------------- workloads


@dataclass
class Workload:
    """A global model, K perturbed client models and ``n`` random inputs for them."""

    name: str
    global_model: nn.Module
    clients: dict[str, nn.Module]
    inputs: Inputs


def _image_model(name: str) -> nn.Module:
    if name in ("cnn", "tiny-cnn"):
        from tracefl.models.cnn import SmallCNN, TinyCNN

        return (SmallCNN if name == "cnn" else TinyCNN)(num_classes=NUM_CLASSES)
    import torchvision

    return getattr(torchvision.models, name)(weights=None, num_classes=NUM_CLASSES)


IMAGE_MODELS = ("resnet18", "resnet34", "resnet50", "densenet121", "cnn", "tiny-cnn")


def model_names() -> list[str]:
    """Models the benchmark can build: image classifiers and random BERTs."""
    return [*IMAGE_MODELS, *TEXT_MODELS]


def make_workload(
    name: str, n: int, k: int, seed: int = 0, perturbation: float = 0.05
) -> Workload:
    """Random float32 models and inputs; the clients are the global model plus noise.

    Image models: torchvision's (random init) or the project's small CNNs, 10 classes,
    3x32x32 inputs. ``bert-small``/``bert-tiny``: random BERT classifiers fed token ids
    with attention masks that pad every input to a random length between a quarter of
    and the full sequence length.
    """
    if name not in model_names():
        raise ValueError(f"unknown benchmark model {name!r}; choose from {model_names()}")
    gen = torch.Generator().manual_seed(seed)
    if name in TEXT_MODELS:
        model, inputs = _text_workload(TEXT_MODELS[name], n, seed, gen)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _image_model(name)
        inputs = torch.randn(n, *IMAGE_SHAPE, generator=gen)
    model = model.float().eval()
    return Workload(name, model, perturbed_clients(model, k, perturbation, seed + 1), inputs)


def perturbed_clients(
    model: nn.Module, k: int, scale: float = 0.05, seed: int = 1
) -> dict[str, nn.Module]:
    """K client models: ``model`` with independent Gaussian noise of relative size ``scale``."""
    gen = torch.Generator().manual_seed(seed)
    clients = {}
    for i in range(k):
        client = copy.deepcopy(model)
        with torch.no_grad():
            for p in client.parameters():
                noise = torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype)
                p.add_(scale * (p.abs().mean() + 1e-3) * noise)
        clients[f"client{i}"] = client
    return clients


def _text_workload(
    spec: Mapping[str, int], n: int, seed: int, gen: torch.Generator
) -> tuple[nn.Module, dict[str, Tensor]]:
    from transformers import BertConfig, BertForSequenceClassification

    seq_len = spec["seq_len"]
    config = BertConfig(
        vocab_size=spec["vocab_size"], hidden_size=spec["hidden_size"],
        num_hidden_layers=spec["num_hidden_layers"], num_attention_heads=spec["num_attention_heads"],
        intermediate_size=spec["intermediate_size"], max_position_embeddings=seq_len,
        num_labels=NUM_CLASSES, pad_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config)
    ids = torch.randint(1, spec["vocab_size"], (n, seq_len), generator=gen)
    lengths = torch.randint(max(1, seq_len // 4), seq_len + 1, (n,), generator=gen)
    mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
    return model, {"input_ids": ids * mask, "attention_mask": mask}


# ----------------------------------------------------------------------------- measuring


def _take(inputs: Inputs, n: int) -> Inputs:
    if isinstance(inputs, Mapping):
        return {key: value[:n] for key, value in inputs.items()}
    return inputs[:n]


def _to(inputs: Inputs, device: torch.device) -> Inputs:
    if isinstance(inputs, Mapping):
        return {key: value.to(device) for key, value in inputs.items()}
    return inputs.to(device)


def _rss_reader() -> Callable[[], int] | None:
    """A cheap function returning this process's resident set size in bytes, if available."""
    statm = Path("/proc/self/statm")
    if statm.exists():
        page = os.sysconf("SC_PAGE_SIZE")

        def read_statm() -> int:
            return int(statm.read_text().split()[1]) * page

        return read_statm
    try:
        import psutil
    except ImportError:
        return None
    process = psutil.Process()
    return lambda: process.memory_info().rss


def _release_freed_memory() -> None:
    """Collect garbage and hand freed heap back to the OS, so RSS growth is measured afresh."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


class _PeakMemory:
    """Peak memory growth while the block runs: RSS sampled by a thread (CPU) or CUDA stats."""

    def __init__(self, device: torch.device, interval_s: float = 0.002) -> None:
        self.device = device
        self.interval_s = interval_s
        self.read = None if device.type == "cuda" else _rss_reader()
        self.peak_bytes = float("nan")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _PeakMemory:
        _release_freed_memory()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        elif self.read is not None:
            self._base = self._peak = self.read()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, self.read())

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._base
        elif self.read is not None:
            self._stop.set()
            assert self._thread is not None
            self._thread.join()
            self._peak = max(self._peak, self.read())
            self.peak_bytes = self._peak - self._base


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _compare(engine_raw: Tensor, reference_raw: Tensor, engine_traced: list[str],
             reference_traced: list[str]) -> tuple[float, int, int]:
    """(max relative raw difference, compared, agreed) over the inputs both traced.

    The relative difference of an input is max_k |engine - reference| / max_k |reference|.
    """
    m = reference_raw.shape[0]
    if m == 0:
        return float("nan"), 0, 0
    ours = engine_raw[:m].double()
    theirs = reference_raw.double()
    scale = theirs.abs().amax(dim=1).clamp_min(torch.finfo(torch.float64).tiny)
    rel = float(((ours - theirs).abs().amax(dim=1) / scale).max())
    agreed = sum(a == b for a, b in zip(engine_traced[:m], reference_traced))
    return rel, m, agreed


# ----------------------------------------------------------------------------- benchmark


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
) -> pd.DataFrame:
    """Time :func:`trace` against :func:`reference_trace`; one row per (model, N, chunk size).

    ``reference_inputs``: how many inputs (the first ones) the reference traces; its time
    per input is extrapolated to larger N. ``full_reference`` traces all max(sizes)
    inputs instead (slow). ``0`` skips the reference. ``unchunked``: models for which the
    engine also runs with ``chunk_size=None`` at the largest N (the memory chunking
    saves). ``threads`` sets torch's intra-op threads for the run (None: leave as is).
    ``repeats``: engine calls per row; the median time and the largest peak are reported.
    """
    sizes = sorted({int(s) for s in sizes})
    if not sizes or sizes[0] < 1:
        raise ValueError(f"sizes must be positive input counts, got {sizes}")
    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    unknown = [m for m in models if m not in model_names()]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {model_names()}")
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
                             full_reference, name in unchunked, seed, perturbation, repeats, say)
            )
    finally:
        torch.set_num_threads(previous_threads)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["chunk_size"] = frame["chunk_size"].astype("Int64")
    return frame


def _bench_model(
    name: str, sizes: list[int], k: int, chunk_size: int | None, device: torch.device,
    reference_inputs: int, full_reference: bool, unchunked: bool, seed: int,
    perturbation: float, repeats: int, say: Callable[[str], None],
) -> list[dict[str, Any]]:
    largest = sizes[-1]
    work = make_workload(name, largest, k, seed, perturbation)
    model = work.global_model.to(device)
    clients = {c: m.to(device) for c, m in work.clients.items()}
    inputs = _to(work.inputs, device)

    # Warm-up (one-time kernel and allocator set-up), not timed.
    trace(model, clients, _take(inputs, 2), chunk_size=chunk_size, device=device)
    reference_count = largest if full_reference else min(largest, max(0, reference_inputs))
    reference: tuple[Tensor, list[str]] | None = None
    reference_s = float("nan")
    if reference_count:
        reference_trace(model, clients, _take(inputs, 1), device=device)
        say(f"{name}: reference on {reference_count} input(s) ...")
        reference, reference_s = _time_reference(model, clients, inputs, reference_count, device)
        say(f"{name}: reference {reference_s:.4f} s/input")

    rows = []
    for n in sizes:
        chunks = [chunk_size]
        if unchunked and n == largest and chunk_size is not None and chunk_size < n:
            chunks.append(None)
        for chunk in chunks:
            batch = _take(inputs, n)
            times, peaks = [], []
            for _ in range(repeats):
                result = None  # the previous repeat's result is not part of this one's memory
                with _PeakMemory(device) as memory:
                    _sync(device)
                    start = time.perf_counter()
                    result = trace(model, clients, batch, chunk_size=chunk, device=device)
                    _sync(device)
                    times.append(time.perf_counter() - start)
                peaks.append(memory.peak_bytes)
            del batch
            engine_s = statistics.median(times)
            peak_bytes = max(peaks)
            covered = min(n, reference_count)
            if reference is not None:
                raw, traced = reference
                rel, compared, agreed = _compare(
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


def _time_reference(
    model: nn.Module, clients: Mapping[str, nn.Module], inputs: Inputs, count: int,
    device: torch.device,
) -> tuple[tuple[Tensor, list[str]], float]:
    """Reference raw scores and traced clients of the first ``count`` inputs, and the
    median seconds per input (each input traced and timed on its own)."""
    raws, traced, seconds = [], [], []
    for i in range(count):
        if isinstance(inputs, Mapping):
            one: Inputs = {key: value[i : i + 1] for key, value in inputs.items()}
        else:
            one = inputs[i : i + 1]
        _sync(device)
        start = time.perf_counter()
        result = reference_trace(model, clients, one, device=device)
        _sync(device)
        seconds.append(time.perf_counter() - start)
        raws.append(result.raw)
        traced.extend(result.traced)
    return (torch.cat(raws), traced), statistics.median(seconds)


# ----------------------------------------------------------------------------- reporting


def _mib(value: float) -> str:
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


# ----------------------------------------------------------------------------- command line


def _chunk(value: str) -> int | None:
    if value.lower() in {"none", "0"}:
        return None
    chunk = int(value)
    if chunk < 1:
        raise argparse.ArgumentTypeError("chunk size must be >= 1, or 'none'")
    return chunk


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracefl bench",
        description="Time the batched provenance engine against the per-input reference.",
    )
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="MODEL",
                        choices=model_names(),
                        help=f"models to run, from {', '.join(model_names())} "
                        f"(default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--sizes", nargs="+", type=int, default=list(DEFAULT_SIZES), metavar="N",
                        help="numbers of traced inputs (default: 20 100 500)")
    parser.add_argument("--clients", type=int, default=10, metavar="K",
                        help="client models (default 10)")
    parser.add_argument("--chunk-size", type=_chunk, default=DEFAULT_CHUNK_SIZE,
                        help="engine chunk size, or 'none' for one chunk "
                        f"(default {DEFAULT_CHUNK_SIZE}, trace()'s default)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads; 0 leaves torch's default (default 2)")
    parser.add_argument("--reference-inputs", type=int, default=20, metavar="R",
                        help="inputs the reference traces; its time per input is extrapolated "
                        "to larger N (default 20; 0 skips the reference)")
    parser.add_argument("--full-reference", action="store_true",
                        help="run the reference on every input of the largest N (slow)")
    parser.add_argument("--unchunked", nargs="*", default=["resnet18"], metavar="MODEL",
                        help="models also run unchunked at the largest N, for memory (default resnet18)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="engine calls per row, median time reported (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--perturbation", type=float, default=0.05,
                        help="relative size of each client's weight noise (default 0.05)")
    parser.add_argument("--csv", type=Path, help="write the table as CSV here")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table; exit status 1 if any traced client disagrees."""
    args = build_parser().parse_args(argv)
    log = None if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    start = time.perf_counter()
    frame = run_benchmark(
        models=args.models, sizes=args.sizes, clients=args.clients, chunk_size=args.chunk_size,
        device=args.device, reference_inputs=args.reference_inputs,
        full_reference=args.full_reference, unchunked=args.unchunked, threads=args.threads or None,
        seed=args.seed, perturbation=args.perturbation, repeats=args.repeats, log=log,
    )
    wall = time.perf_counter() - start
    threads = args.threads or torch.get_num_threads()
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    header = (
        f"Provenance benchmark: device {args.device}, {threads} torch thread(s) "
        f"(OMP_WAIT_POLICY={policy}), float32, torch {torch.__version__}, "
        f"{platform.machine()}; wall {wall:.0f} s"
    )
    table = to_markdown(frame)
    notes = memory_summary(frame)
    print(header)
    print()
    print(table)
    if notes:
        print()
        for line in notes:
            print(line)
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.csv, index=False)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join([header, "", table, "", *notes]) + "\n")
    compared = frame[frame["compared"] > 0]
    return 0 if bool(compared["traced_agree"].all()) else 1


if __name__ == "__main__":
    sys.exit(main())
