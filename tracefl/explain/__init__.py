"""Explaining the predictions of a recorded federated run: which client is responsible.

A run directory written by :class:`tracefl.flower.ProvenanceRecorder` (any Flower app)
or by this workflow's training step is read back with :func:`load_run`; its
``explain`` traces inputs through one round or every round.
"""

from tracefl.explain.recorded import Explanation, RecordedRun, load_run
from tracefl.explain.factory import load_factory

__all__ = ["Explanation", "RecordedRun", "load_factory", "load_run"]
