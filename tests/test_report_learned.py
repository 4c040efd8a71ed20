"""Inconclusive runs: a model below its dataset's learned accuracy is marked, not averaged in."""

import math

import pandas as pd

from tracefl.config import RunSpec
from tracefl.report.learned import inconclusive_note, is_conclusive, learned_threshold
from tracefl.report.results import RunResult


def test_thresholds_by_dataset():
    assert learned_threshold("mnist-5k") == 90 and learned_threshold("digits") == 85 and learned_threshold("ag-news") == 80
    assert math.isnan(learned_threshold("cifar10"))  # no threshold: every run counts
    assert is_conclusive("mnist-5k", 90.0) and not is_conclusive("mnist-5k", 89.9) and is_conclusive("cifar10", 10.0)
    assert inconclusive_note("digits", 70.4) == "inconclusive: model at 70% < 85%" and inconclusive_note("digits", 90) == ""


def test_a_run_summary_says_whether_it_is_conclusive():
    spec = RunSpec(dataset="digits", model="cnn", rounds=2)
    provenance = pd.DataFrame({"round": [1, 2], "kind": "correct", "label_held": 1.0, "label_held_chance": 0.5,
                               "top_holder": 1.0, "top_holder_chance": 0.25, "seconds": 0.1})
    for last, conclusive in ((0.9, True), (0.8, False)):
        rounds = pd.DataFrame({"round": [1, 2], "global_accuracy": [0.95, last]})
        summary = RunResult(spec, rounds, provenance).summary()
        assert summary["conclusive"] is conclusive and summary["learned_threshold_pct"] == 85
