"""When a run's model has learned enough for its localization numbers to be read.

A trace explains what a model does; a model at chance explains nothing. Where the paper's
models reached an accuracy (MNIST, digits, AG News in the quick preset), a run whose global
model ends below it is marked *inconclusive* in its figure and table and is not averaged in.
A run is judged on its *final accuracy*, the mean global accuracy of its last
:data:`FINAL_ROUNDS` rounds, not on the last round alone: one unlucky round (a small model at
alpha 0.3 has gone from 82% to 55% in two rounds) would otherwise decide what a figure shows.
A faulty run (a client flipping labels, a backdoor) in Table I is judged by the same rule on
its *fault-free twin* (the same settings without the fault, trained beside it:
``RunSpec.fault_free_twin``, ``RunResult.twin_summary``): the fault lowers its own model's
accuracy by design (a client flipping every label of alpha-0.3 digits held its model at 63%
while the twin reached 95%), and the question is whether the setting learns, not whether the
attack hurt. Elsewhere a run is judged on its own model.
The thresholds live on each dataset's ``DatasetSpec.learned_accuracy_pct``
(:mod:`tracefl.data.registry`); datasets without one (a user's own files) have no
threshold (every run counts).
"""

from __future__ import annotations

import math
from typing import Sequence

from tracefl.data.registry import learned_thresholds

#: How many of a run's last rounds its final accuracy averages.
FINAL_ROUNDS = 3


def final_accuracy(accuracies: Sequence[float]) -> float:
    """The mean of the last :data:`FINAL_ROUNDS` values of a run's per-round global accuracy
    (all of them where it has fewer rounds; NaN where it has none), in the unit given."""
    tail = [float(a) for a in list(accuracies)[-FINAL_ROUNDS:]]
    return sum(tail) / len(tail) if tail else float("nan")


def learned_threshold(dataset: str) -> float:
    """The dataset's threshold in %, NaN where it has none."""
    return learned_thresholds().get(dataset, float("nan"))


def is_conclusive(dataset: str, final_accuracy_pct: float) -> bool:
    """True unless the dataset has a threshold and the run's final accuracy is below it."""
    threshold = learned_threshold(dataset)
    return math.isnan(threshold) or final_accuracy_pct >= threshold


def inconclusive_note(dataset: str, final_accuracy_pct: float) -> str:
    """'' for a conclusive run, else the one line a figure shows on its panel."""
    if is_conclusive(dataset, final_accuracy_pct):
        return ""
    return f"inconclusive: model at {final_accuracy_pct:.0f}% < {learned_threshold(dataset):.0f}%"
