"""Inconclusive runs: a model below its dataset's learned accuracy is marked, not averaged in."""

import math

import pandas as pd
import pytest

from tracefl.config import RunSpec
from tracefl.errors import InputError
from tracefl.report.learned import final_accuracy, inconclusive_note, is_conclusive, learned_threshold
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
    for last, conclusive in ((0.9, True), (0.7, False)):  # final accuracy 92.5% and 82.5%
        rounds = pd.DataFrame({"round": [1, 2], "global_accuracy": [0.95, last]})
        summary = RunResult(spec, rounds, provenance).summary()
        assert summary["conclusive"] is conclusive and summary["learned_threshold_pct"] == 85


def test_final_accuracy_is_the_mean_of_the_last_three_rounds():
    assert final_accuracy([10, 20, 60, 90, 30]) == 60.0  # (60 + 90 + 30) / 3: one bad last round does not decide
    assert final_accuracy([80, 90]) == 85.0 and math.isnan(final_accuracy([]))


def test_a_run_is_judged_on_its_last_three_rounds_not_the_last_one():
    spec = RunSpec(dataset="digits", model="cnn", rounds=4)
    provenance = pd.DataFrame({"round": [1, 2, 3, 4], "kind": "correct", "label_held": 1.0, "label_held_chance": 0.5,
                               "top_holder": 1.0, "top_holder_chance": 0.25, "seconds": 0.1})
    dip = pd.DataFrame({"round": [1, 2, 3, 4], "global_accuracy": [0.5, 0.95, 0.95, 0.8]})  # last 80% < 85%
    summary = RunResult(spec, dip, provenance).summary()
    assert summary["conclusive"] and summary["final_global_acc_pct"] == 90.0 and summary["last_global_acc_pct"] == 80.0
    spike = pd.DataFrame({"round": [1, 2, 3, 4], "global_accuracy": [0.5, 0.6, 0.7, 0.9]})  # last 90%, mean 73%
    assert not RunResult(spec, spike, provenance).summary()["conclusive"]


def test_a_faulty_run_is_judged_on_its_fault_free_twin(tmp_path):
    spec = RunSpec(dataset="digits", model="cnn", rounds=2, clients_per_round=4, faulty_clients=(0,),
                   label_flip=((7, 1),))
    twin = spec.fault_free_twin
    assert twin.run_id != spec.run_id and not twin.faulty_ids and twin.seed == spec.seed and twin.alpha == spec.alpha
    assert RunSpec(dataset="digits", model="cnn").fault_free_twin is None
    backdoor = RunSpec(dataset="digits", model="cnn", scenario="backdoor", backdoor_boost=5.0).fault_free_twin
    assert backdoor.scenario == "none" and backdoor.backdoor_boost == 1.0
    hurt = pd.DataFrame({"round": [1, 2], "global_accuracy": [0.6, 0.6]})  # the fault keeps its own model at 60%
    result = RunResult(spec, hurt, pd.DataFrame(), run_dir=tmp_path / spec.run_id)
    (tmp_path / twin.run_id).mkdir()
    for twin_accuracy, conclusive in ((0.9, True), (0.7, False)):
        pd.DataFrame({"round": [1, 2], "global_accuracy": [twin_accuracy] * 2}).to_csv(
            tmp_path / twin.run_id / "rounds.csv", index=False)
        judged = result.twin_summary()
        assert judged["conclusive"] is conclusive and round(judged["twin_final_global_acc_pct"]) == twin_accuracy * 100


def test_a_missing_twin_is_one_error_naming_it(tmp_path):
    spec = RunSpec(dataset="digits", model="cnn", rounds=2, clients_per_round=4, faulty_clients=(0,),
                   label_flip=((7, 1),))
    result = RunResult(spec, pd.DataFrame(), pd.DataFrame(), run_dir=tmp_path / spec.run_id)
    with pytest.raises(InputError, match=f"train run {spec.fault_free_twin.run_id}"):
        result.twin_summary()
