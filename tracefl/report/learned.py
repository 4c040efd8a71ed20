"""When a run's model has learned enough for its localization numbers to be read.

A trace explains what a model does; a model at chance explains nothing. Where the paper's
models reached an accuracy (MNIST, digits, AG News in the quick preset), a run whose global
model ends below it is marked *inconclusive* in its figure and table and is not averaged in.
The thresholds live on each dataset's ``DatasetSpec.learned_accuracy_pct``
(:mod:`tracefl.data.registry`); datasets without one (a user's own files) have no
threshold (every run counts).
"""

from __future__ import annotations

import math

from tracefl.data.registry import learned_thresholds


def learned_threshold(dataset: str) -> float:
    """The dataset's threshold in %, NaN where it has none."""
    return learned_thresholds().get(dataset, float("nan"))


def is_conclusive(dataset: str, last_accuracy_pct: float) -> bool:
    """True unless the dataset has a threshold and the run's last global accuracy is below it."""
    threshold = learned_threshold(dataset)
    return math.isnan(threshold) or last_accuracy_pct >= threshold


def inconclusive_note(dataset: str, last_accuracy_pct: float) -> str:
    """'' for a conclusive run, else the one line a figure shows on its panel."""
    if is_conclusive(dataset, last_accuracy_pct):
        return ""
    return f"inconclusive: model at {last_accuracy_pct:.0f}% < {learned_threshold(dataset):.0f}%"
