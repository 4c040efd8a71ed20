"""Command line of the benchmark: ``python -m tracefl.bench`` and ``tracefl bench``.

Parses the options, runs :func:`run_benchmark`, prints a header line (device, threads,
``OMP_WAIT_POLICY``, torch version), the Markdown table and the memory summary, and
optionally writes the table as CSV and Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from tracefl.bench.table import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MODELS,
    DEFAULT_SIZES,
    memory_summary,
    run_benchmark,
    to_markdown,
)
from tracefl.bench.workloads import bench_model_names


def _chunk(value: str) -> int | None:
    """``--chunk-size`` values: a positive int, or "none"/"0" for a single chunk."""
    if value.lower() in {"none", "0"}:
        return None
    chunk = int(value)
    if chunk < 1:
        raise argparse.ArgumentTypeError("chunk size must be >= 1, or 'none'")
    return chunk


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's argument parser (also used by ``tracefl bench``)."""
    parser = argparse.ArgumentParser(
        prog="tracefl bench",
        description="Time the batched provenance engine against the per-input reference.",
    )
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="MODEL",
                        choices=bench_model_names(),
                        help=f"models to run, from {', '.join(bench_model_names())} "
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
    parser.add_argument("--batch-clients", choices=["auto", "on", "off"], default="auto",
                        help="score the K client copies of a BertLayer in one vmapped call: on, off, or "
                        "auto (the engine's default: on CUDA for blocks under 1 M parameters)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--perturbation", type=float, default=0.05,
                        help="relative size of each client's weight noise (default 0.05)")
    parser.add_argument("--csv", type=Path, help="write the table as CSV here")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--next-to-training", action="store_true",
                        help="instead of the table above: the engine's time per input alone and next to a "
                        "training load in another process, at the largest N (slowdown per model)")
    parser.add_argument("--training", action="store_true",
                        help="instead of the table above: seconds per federated round at the paper preset's "
                        "size (10 clients x 2,048 examples x 2 epochs, batch 32) for each image model of --models")
    parser.add_argument("--rounds", type=int, default=3, help="rounds timed with --training (default 3)")
    parser.add_argument("--load-threads", type=int, default=None,
                        help="threads of the training load (default: --threads)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table; exit status 1 if any traced client disagrees."""
    args = build_parser().parse_args(argv)
    log = None if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    if args.next_to_training:
        return _next_to_training(args, log)
    if args.training:
        return _training(args, log)
    start = time.perf_counter()
    frame = run_benchmark(
        models=args.models, sizes=args.sizes, clients=args.clients, chunk_size=args.chunk_size,
        device=args.device, reference_inputs=args.reference_inputs,
        full_reference=args.full_reference, unchunked=args.unchunked, threads=args.threads or None,
        seed=args.seed, perturbation=args.perturbation, repeats=args.repeats, log=log,
        batch_clients={"auto": None, "on": True, "off": False}[args.batch_clients],
    )
    wall = time.perf_counter() - start
    threads = args.threads or torch.get_num_threads()
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    header = (
        f"Provenance benchmark: device {args.device}, {threads} torch thread(s) "
        f"(OMP_WAIT_POLICY={policy}), float32, clients batched: {args.batch_clients}, "
        f"torch {torch.__version__}, "
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
    _write_csv(frame, args.csv)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join([header, "", table, "", *notes]) + "\n")
    compared = frame[frame["compared"] > 0]
    return 0 if bool(compared["traced_agree"].all()) else 1


def _next_to_training(args: argparse.Namespace, log) -> int:
    from tracefl.bench.contention import contention_markdown, next_to_training

    threads = args.threads or torch.get_num_threads()
    start = time.perf_counter()
    frame = next_to_training(args.models, max(args.sizes), args.clients, threads,
                             args.load_threads or threads, repeats=args.repeats, log=log)
    print(f"Provenance next to a training job: device cpu, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}, torch {torch.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; wall {time.perf_counter() - start:.0f} s")
    print()
    print(contention_markdown(frame))
    _write_csv(frame, args.csv)
    return 0


def _training(args: argparse.Namespace, log) -> int:
    from tracefl.bench.training import rounds_markdown, time_rounds
    from tracefl.bench.workloads import BENCH_IMAGE_MODELS

    if args.threads:
        torch.set_num_threads(args.threads)
    models = [m for m in args.models if m in BENCH_IMAGE_MODELS]
    if not models:
        print(f"--training times image models; choose from {', '.join(BENCH_IMAGE_MODELS)}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    frames = [time_rounds(m, rounds=args.rounds, clients=args.clients, device=args.device, seed=args.seed, log=log)
              for m in models]
    frame = pd.concat(frames, ignore_index=True)
    print(f"Federated rounds (train_local, FedAvg, server evaluation): device {args.device}, "
          f"torch {torch.__version__}, {platform.machine()}; wall {time.perf_counter() - start:.0f} s")
    print()
    print(rounds_markdown(frame))
    _write_csv(frame, args.csv)
    return 0


def _write_csv(frame: pd.DataFrame, path: Path | None) -> None:
    """``--csv``: the frame behind the printed table, when asked for."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
