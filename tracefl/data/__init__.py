"""Datasets: a registry of sources, one on-disk format, and model-input transforms.

Heavy modules (``datasets``, ``torch``) load only when their functions are first used,
so light callers (the CLI's argument checks, Snakemake's DAG) stay fast.
"""

from __future__ import annotations

from typing import Any

from tracefl.data.registry import (
    DATASETS,
    DatasetSpec,
    get_dataset_spec,
    register_local_dataset,
    unregister_dataset,
)
from tracefl.data.store import load_meta, load_split, write_dataset

_LAZY = {
    "DatasetUnavailableError": "tracefl.data.sources",
    "images_to_tensor": "tracefl.data.transforms",
}

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "get_dataset_spec",
    "register_local_dataset",
    "unregister_dataset",
    "load_meta",
    "load_split",
    "write_dataset",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tracefl.data' has no attribute {name!r}")
