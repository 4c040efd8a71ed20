"""Provenance speed benchmark: the batched engine against the per-input reference.

Both run on identical random models: a global model and K client models that are the
global model with independently perturbed weights (so the traces are not trivial). For
every model and input count N the table gives the engine's time per input, the
reference's time per input, their ratio, the engine's peak memory, the largest relative
difference of the raw scores and whether the traced client agrees on every compared
input.

Modules:

- ``workloads``: the random global/client models and inputs (image and text models).
- ``measure``: peak memory, synchronised timing, timing of the reference, agreement.
- ``table``: :func:`run_benchmark`, the table's rows, its Markdown and memory summary.
- ``cli``: the command line (``python -m tracefl.bench``, ``tracefl bench``).
- ``build_profile``: where a workflow build's time went, from its jobs' Snakemake benchmark
  files (``tracefl profile``).

Threads: ``threads`` (default 2) sets torch's intra-op threads. ``python -m
tracefl.bench`` sets ``OMP_WAIT_POLICY=PASSIVE`` before torch loads, unless the variable
is already set (see ``__main__``); the table's header line gives the policy. Importing
this package changes nothing, and loads its submodules (and torch) only when one of the
names below is first used, so that ``__main__`` can run before torch is imported.

Run ``python -m tracefl.bench --help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracefl.bench.cli import build_parser, main
    from tracefl.bench.table import (
        COLUMNS,
        DEFAULT_CHUNK_SIZE,
        DEFAULT_MODELS,
        DEFAULT_SIZES,
        memory_summary,
        run_benchmark,
        to_markdown,
    )
    from tracefl.bench.workloads import (
        BENCH_IMAGE_MODELS,
        BENCH_TEXT_MODELS,
        Workload,
        make_workload,
        bench_model_names,
        perturbed_clients,
    )

# Public name -> submodule that defines it (imported on first use, see the docstring).
_EXPORTS: dict[str, str] = {
    "build_parser": "cli",
    "main": "cli",
    "COLUMNS": "table",
    "DEFAULT_CHUNK_SIZE": "table",
    "DEFAULT_MODELS": "table",
    "DEFAULT_SIZES": "table",
    "memory_summary": "table",
    "run_benchmark": "table",
    "to_markdown": "table",
    "BENCH_IMAGE_MODELS": "workloads",
    "BENCH_TEXT_MODELS": "workloads",
    "Workload": "workloads",
    "make_workload": "workloads",
    "bench_model_names": "workloads",
    "perturbed_clients": "workloads",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load the submodule defining ``name`` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
