"""Models: names and families (:mod:`~tracefl.models.catalog`, no torch), building them
(:mod:`~tracefl.models.builders`), inputs of either family (:mod:`~tracefl.models.inputs`)."""

from typing import Any

# Short names for the most used functions; loaded on first use (building needs torch).
_LAZY = {
    "build_model": "tracefl.models.builders",
    "model_family": "tracefl.models.catalog",
    "model_names": "tracefl.models.catalog",
    "is_known_model": "tracefl.models.catalog",
    "training_defaults": "tracefl.models.catalog",
    "unavailable_reason": "tracefl.models.catalog",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tracefl.models' has no attribute {name!r}")
