"""The repair item: per-seed repair rows labelled by scenario and averaged with a 95% interval,
and the random-labels fault kind it needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracefl.config import RunSpec
from tracefl.config.run_spec import validate_run
from tracefl.data.faults import random_labels
from tracefl.errors import ConfigError
from tracefl.report.repair import aggregate, long_rows, scenario_of
from tracefl.report.results import RunResult
from tracefl.report.summary import mean_ci95

FLIP = {str(k): 0 for k in range(1, 10)}


def _result(seed: int, accuracy: dict[str, float], before: float = 0.5, **settings) -> RunResult:
    spec = RunSpec.from_mapping({"dataset": "digits", "model": "cnn", "num_clients": 10, "clients_per_round": 10,
                                 "rounds": 3, "seed": seed, **settings})
    faulty = " ".join(spec.faulty_ids)
    rows = []
    for method, acc in accuracy.items():
        robust = method[0].isupper()
        excluded = "" if robust or method == "nobody" else ("0" if method != "random" else "4")
        hit = excluded == "0" and bool(faulty)
        rows.append({"run_id": spec.run_id, "round": 3, "method": method, "excluded": excluded, "flagged": "0",
                     "faulty": faulty, "accuracy": acc, "accuracy_before": before, "attack_success": np.nan,
                     "attack_success_before": np.nan,
                     "precision": (1.0 if hit else 0.0) if excluded and faulty else np.nan,
                     "recall": (1.0 if hit else 0.0) if excluded and faulty else np.nan})
    return RunResult(spec, pd.DataFrame({"round": [1, 2, 3]}), pd.DataFrame(), repair=pd.DataFrame(rows))


def test_scenarios_are_named_from_the_run_settings():
    assert scenario_of(_result(1, {"nobody": 0.5})) == "fault-free"
    assert scenario_of(_result(1, {"nobody": 0.5}, faulty_clients=[0], label_flip=FLIP)) == "label flip"
    assert scenario_of(_result(1, {"nobody": 0.5}, faulty_clients=[0, 1, 2], label_flip=FLIP)) == "3 flippers"
    assert scenario_of(_result(1, {"nobody": 0.5}, faulty_clients=[0], faulty_labels="random")) == "random labels"
    assert scenario_of(_result(1, {"nobody": 0.5}, scenario="backdoor")) == "backdoor"


def test_seeds_of_a_scenario_average_with_a_student_t_interval_per_method():
    accs = {"audit": [0.8, 0.7, 0.9], "random": [0.4, 0.5, 0.45], "Krum": [0.6, 0.6, 0.7], "nobody": [0.5] * 3}
    results = [_result(seed, {m: v[i] for m, v in accs.items()}, faulty_clients=[0], label_flip=FLIP)
               for i, seed in enumerate((1, 2, 3))]
    long = long_rows(results)
    assert len(long) == 12 and set(long["scenario"]) == {"label flip"}
    # robust strategies exclude nobody by name: no count, no precision
    krum = long[long["method"] == "Krum"]
    assert krum["excluded_clients"].isna().all() and krum["precision_pct"].isna().all()
    out = aggregate(long)
    assert out["method"].tolist() == ["audit", "random", "nobody", "Krum"]  # TraceFL first, robust last
    audit = out.set_index("method").loc["audit"]
    mean, low, high = mean_ci95(np.array([80.0, 70.0, 90.0]), bounds=(0, 100))
    assert audit["seeds"] == 3 and audit["accuracy_pct"] == pytest.approx(mean)
    assert (audit["accuracy_pct_ci95_low"], audit["accuracy_pct_ci95_high"]) == pytest.approx((low, high))
    assert audit["change_pp"] == pytest.approx(30.0) and audit["recall_pct"] == 100 and audit["precision_pct"] == 100
    assert out.set_index("method").loc["random", "recall_pct"] == 0
    assert out.set_index("method").loc["nobody", "change_pp"] == 0


def test_one_seed_has_no_interval_and_scenarios_stay_apart():
    results = [_result(1, {"audit": 0.6, "nobody": 0.5}), _result(1, {"audit": 0.9, "nobody": 0.5},
                                                                   faulty_clients=[0], label_flip=FLIP)]
    out = aggregate(long_rows(results))
    assert len(out) == 4 and out["seeds"].eq(1).all()
    assert out["accuracy_pct_ci95_low"].isna().all()
    free = out[(out["scenario"] == "fault-free") & (out["method"] == "audit")].iloc[0]
    assert free["accuracy_pct"] == pytest.approx(60.0) and np.isnan(free["precision_pct"])


def test_a_run_without_its_repair_rows_is_refused():
    result = _result(1, {"nobody": 0.5})
    with pytest.raises(ValueError, match="repair step"):
        long_rows([RunResult(result.spec, result.rounds, result.provenance)])


def test_random_labels_are_a_validated_fault_kind():
    spec = RunSpec.from_mapping({"dataset": "digits", "model": "cnn", "faulty_clients": [0], "faulty_labels": "random"})
    validate_run(spec)
    assert spec.faulty_ids == ["0"] and spec.run_id != RunSpec.from_mapping(
        {"dataset": "digits", "model": "cnn", "faulty_clients": [0], "label_flip": {"1": 0}}).run_id
    with pytest.raises(ConfigError, match="faulty_labels"):
        validate_run(RunSpec.from_mapping({"dataset": "digits", "model": "cnn", "faulty_labels": "random"}))
    with pytest.raises(ConfigError, match="label_flip"):
        validate_run(RunSpec.from_mapping({"dataset": "digits", "model": "cnn", "faulty_clients": [0],
                                           "faulty_labels": "random", "label_flip": {"1": 0}}))
    with pytest.raises(ConfigError, match="faulty_labels"):
        RunSpec.from_mapping({"dataset": "digits", "model": "cnn", "faulty_labels": "noisy"})
    # existing run ids do not change at the default
    assert "faulty_labels" not in RunSpec.from_mapping({"dataset": "digits", "model": "cnn"}).to_dict()


def test_random_labels_are_seeded_per_client_and_cover_the_classes():
    a = random_labels(1000, 10, 7, "0")
    assert np.array_equal(a, random_labels(1000, 10, 7, "0"))
    assert not np.array_equal(a, random_labels(1000, 10, 7, "1"))
    assert set(a.tolist()) == set(range(10))
