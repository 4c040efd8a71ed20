"""When a run's model has learned enough for its localization numbers to be read.

A trace explains what a model does; a model at chance explains nothing. Where the paper's
models reached an accuracy (MNIST, digits, AG News in the quick preset), a run whose global
model ends below it is marked *inconclusive* in its figure and table and is not averaged in.
Datasets without an entry have no threshold (every run counts).
"""

from __future__ import annotations

import math

#: Last-round global accuracy (%) a run must reach to count, by dataset name.
LEARNED_ACCURACY_PCT: dict[str, float] = {"mnist": 90.0, "mnist-5k": 90.0, "digits": 85.0, "ag-news": 80.0}


def learned_threshold(dataset: str) -> float:
    """The dataset's threshold in %, NaN where it has none."""
    return LEARNED_ACCURACY_PCT.get(dataset, float("nan"))


def is_conclusive(dataset: str, last_accuracy_pct: float) -> bool:
    """True unless the dataset has a threshold and the run's last global accuracy is below it."""
    threshold = learned_threshold(dataset)
    return math.isnan(threshold) or last_accuracy_pct >= threshold


def inconclusive_note(dataset: str, last_accuracy_pct: float) -> str:
    """'' for a conclusive run, else the one line a figure shows on its panel."""
    if is_conclusive(dataset, last_accuracy_pct):
        return ""
    return f"inconclusive: model at {last_accuracy_pct:.0f}% < {learned_threshold(dataset):.0f}%"
