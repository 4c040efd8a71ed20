"""Seeds of one setting read together: grouped by settings, mean and 95% interval, inconclusive seeds left out."""

import math

import pandas as pd
import pytest
from scipy import stats

from tracefl.config import RunSpec
from tracefl.report.results import RunResult
from tracefl.report.rounds_plot import seed_rounds
from tracefl.report.seeds import aggregate_seeds, group_by_settings, settings_key
from tracefl.report.table_files import Shown, printed
from tracefl.config.items import get_item
from tracefl.report.tables import table1


def _result(seed: int, label_held: list[float], accuracy: list[float], **settings) -> RunResult:
    spec = RunSpec(dataset="digits", model="cnn", rounds=len(accuracy), seed=seed, **settings)
    rounds = pd.DataFrame({"round": range(1, len(accuracy) + 1), "global_accuracy": accuracy})
    provenance = pd.DataFrame({"round": range(1, len(accuracy) + 1), "kind": "correct", "label_held": label_held,
                               "label_held_chance": 0.5, "top_holder": label_held, "top_holder_chance": 0.25,
                               "seconds": 0.1})
    return RunResult(spec, rounds, provenance)


def test_runs_differing_only_in_seed_share_a_setting():
    a, b = RunSpec(dataset="digits", model="cnn", seed=1), RunSpec(dataset="digits", model="cnn", seed=2)
    assert a.run_id != b.run_id and settings_key(a) == settings_key(b)
    assert settings_key(a) != settings_key(RunSpec(dataset="digits", model="cnn", seed=1, alpha=1.0))
    results = [_result(s, [1.0], [0.9], alpha=alpha) for alpha in (0.3, 1.0) for s in (1, 2)]
    groups = group_by_settings(results)
    assert [[r.spec.seed for r in g] for g in groups] == [[1, 2], [1, 2]]
    assert [g[0].spec.alpha for g in groups] == [0.3, 1.0]


def test_mean_and_student_t_interval_over_the_conclusive_seeds():
    runs = pd.DataFrame({"group": "g", "seed": [1, 2, 3, 4], "run_id": ["r1", "r2", "r3", "r4"], "alpha": 0.3,
                         "tracefl_pct": [60.0, 70.0, 80.0, 5.0], "chance_pct": [50.0, 50.0, 50.0, 40.0],
                         "traced_correct": [10, 20, 30, 99], "conclusive": [True, True, True, False]})
    row = aggregate_seeds(runs).iloc[0]
    half = stats.t.ppf(0.975, 2) * 10.0 / math.sqrt(3)  # sd of 60, 70, 80 is 10
    assert row["tracefl_pct"] == pytest.approx(70.0)
    assert row["tracefl_pct_ci95_low"] == pytest.approx(70.0 - half)
    assert row["tracefl_pct_ci95_high"] == pytest.approx(min(100.0, 70.0 + half))
    assert row["chance_pct"] == pytest.approx(50.0) and "chance_pct_ci95_low" not in row  # a level, not an outcome
    assert row["traced_correct"] == 60  # summed over the kept seeds
    assert (row["seeds"], row["conclusive_seeds"], row["conclusive"]) == (4, 3, True)
    assert row["alpha"] == 0.3 and row["run_id"] == "r1;r2;r3;r4"


def test_a_setting_with_no_conclusive_seed_shows_all_marked_and_one_seed_has_no_interval():
    runs = pd.DataFrame({"group": ["g", "g", "h"], "seed": [1, 2, 1], "run_id": ["a", "b", "c"],
                         "tracefl_pct": [40.0, 60.0, 90.0], "conclusive": [False, False, True]})
    table = aggregate_seeds(runs)
    assert table["tracefl_pct"].tolist() == [50.0, 90.0] and table["conclusive"].tolist() == [False, True]
    assert math.isnan(table["tracefl_pct_ci95_low"].iloc[1])
    shown = printed(table, [Shown("tracefl_pct", "TraceFL", interval=True, dagger=True)])
    assert shown["TraceFL"].iloc[1] == "90.0"  # one seed: no interval
    assert shown["TraceFL"].iloc[0].startswith("50.0 [") and shown["TraceFL"].iloc[0].endswith("]†")


def test_per_round_curves_average_the_seeds_that_learned():
    learned = [_result(s, [1.0, v], [0.9, 0.9]) for s, v in ((1, 0.5), (2, 0.7))]
    weak = _result(3, [0.0, 0.0], [0.5, 0.5])
    table = seed_rounds([*learned, weak])
    assert table["label_held"].tolist() == pytest.approx([100.0, 60.0])  # the weak seed is not averaged in
    assert table["label_held_ci95_low"].iloc[1] < 60.0 < table["label_held_ci95_high"].iloc[1]
    assert table["n_traced"].tolist() == [2, 2]


def test_table1_is_one_row_per_setting_with_its_seeds(tmp_path):
    results = []
    for seed, hit in ((1, 1.0), (2, 0.0)):
        r = _result(seed, [1.0, 1.0], [0.9, 0.95], faulty_clients=(0,), label_flip=((7, 1),), clients_per_round=10)
        mis = pd.DataFrame({"round": [1, 2], "kind": "misprediction", "faulty_traced": hit, "faulty_chance": 0.1,
                            "faulty_traced_label_count": 1.0, "faulty_traced_last_layer": 0.0, "seconds": 0.1})
        twin = tmp_path / r.spec.fault_free_twin.run_id  # the fault-free twin's rounds judge the row
        twin.mkdir(exist_ok=True)
        r.rounds.to_csv(twin / "rounds.csv", index=False)
        results.append(RunResult(r.spec, r.rounds, pd.concat([r.provenance, mis], ignore_index=True),
                                 run_dir=tmp_path / r.spec.run_id))
    table = table1(results, tmp_path / "table1", get_item("table1"))
    assert len(table) == 1 and table["seeds"].iloc[0] == 2 and table["fault"].iloc[0] == "7 -> 1"
    assert table["tracefl_faulty_pct"].iloc[0] == pytest.approx(50.0)
    assert table["tracefl_faulty_pct_ci95_low"].iloc[0] == 0.0  # clipped to 0-100
    assert "[0.0, 100.0]" in (tmp_path / "table1.md").read_text()
