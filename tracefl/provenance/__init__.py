"""Neuron provenance: which client is responsible for a global model's prediction.

The engine loads torch on first use: :mod:`tracefl.provenance.columns` (the provenance
table's columns) is read by the torch-free report."""

from __future__ import annotations

from typing import Any

_LAZY = {
    "TraceResult": "tracefl.provenance.engine",
    "last_layer_result": "tracefl.provenance.engine",
    "reweight_by_data_size": "tracefl.provenance.engine",
    "trace": "tracefl.provenance.engine",
    "is_provenance_layer": "tracefl.provenance.layers",
    "provenance_layers": "tracefl.provenance.layers",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tracefl.provenance' has no attribute {name!r}")
