"""Explaining the predictions of a recorded federated run: which client is responsible.

A run directory written by :class:`tracefl.flower.ProvenanceRecorder` (any Flower app)
or by this workflow's training step is read back with :func:`load_run`; its
``explain`` traces inputs through one round or every round.
"""

from typing import Any

# torch loads on first use, so that the CLI's parser (which reads explain's output formats) and
# torch-free verbs start in a fraction of a second
_LAZY = {"Explanation": "tracefl.explain.recorded", "RecordedRun": "tracefl.explain.recorded",
         "load_run": "tracefl.explain.recorded", "load_factory": "tracefl.explain.factory"}

__all__ = ["Explanation", "RecordedRun", "load_factory", "load_run"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tracefl.explain' has no attribute {name!r}")
