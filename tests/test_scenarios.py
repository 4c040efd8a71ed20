"""Planted ground truth (tracefl.data.scenarios): the planted style or trigger is where the
partition says, the baselines score what their definitions say, and the benchmark's report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracefl.config import RunSpec
from tracefl.data import scenarios
from tracefl.data.scenarios import BACKDOOR_CLIENT, BACKDOOR_TARGET, STYLE_LABEL, STYLE_OF_CLIENT
from tracefl.errors import ConfigError
from tracefl.provenance.metrics import label_count_rule
from tracefl.steps.partition import partition_for

LABELS = np.random.default_rng(3).integers(0, 10, 4000)


def _spec(scenario: str, **kw) -> RunSpec:
    settings = {"dataset": "digits", "model": "cnn", "num_clients": 10, "clients_per_round": 10, "alpha": 1.0,
                "scenario": scenario, "seed": 5, **kw}
    return RunSpec.from_mapping(settings)


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(1).integers(1, 200, (n, 28, 28)).astype(np.uint8)


def _all_indices(partition: dict) -> list[int]:
    return [i for c in partition["clients"].values() for i in c["indices"]]


def test_style_partition_gives_the_style_label_to_the_two_style_clients_equally():
    partition = partition_for(_spec("style"), LABELS)
    counts = {c: r["label_counts"].get(str(STYLE_LABEL), 0) for c, r in partition["clients"].items()}
    styled = [counts[c] for c in STYLE_OF_CLIENT]
    assert styled[0] == styled[1] > 0
    assert all(n == 0 for c, n in counts.items() if c not in STYLE_OF_CLIENT)
    indices = _all_indices(partition)
    assert len(indices) == len(set(indices))  # every example at most once
    for client, record in partition["clients"].items():  # the recorded counts are the examples' labels
        assert record["label_counts"] == {str(k): int(v) for k, v in zip(*np.unique(LABELS[record["indices"]], return_counts=True))}
    assert partition["scenario"] == {"kind": "style", "label": STYLE_LABEL, "styles": STYLE_OF_CLIENT,
                                     "examples_per_client": styled[0]}
    assert partition_for(_spec("style"), LABELS) == partition  # a pure function of labels and spec


def test_style_is_drawn_on_the_style_label_of_the_style_clients_only():
    partition = partition_for(_spec("style"), LABELS)
    x_all = _images(len(LABELS))
    for client, record in partition["clients"].items():
        idx = np.asarray(record["indices"])
        x, y = scenarios.client_examples(partition, client, idx, x_all[idx], LABELS[idx], "image")
        assert (y == LABELS[idx]).all()
        own = LABELS[idx] == STYLE_LABEL
        assert (x[~own] == x_all[idx][~own]).all()
        if client == "0":  # frame: the border is white, the inside untouched
            assert (x[own][:, 0, :] == 255).all() and (x[own][:, :, -1] == 255).all()
            assert (x[own][:, 3:-3, 3:-3] == x_all[idx][own][:, 3:-3, 3:-3]).all()
        elif client == "1":
            assert (x[own] == 255 - x_all[idx][own]).all()
        else:
            assert not own.any() and (x == x_all[idx]).all()
    texts = np.array(["a b", "c d"])
    assert list(scenarios.apply_style(texts, "frame", "text")) == [f"{scenarios.TEXT_PREFIX['frame']} a b",
                                                                  f"{scenarios.TEXT_PREFIX['frame']} c d"]


def test_backdoor_partition_hides_the_poisoned_client_from_label_counts():
    partition = partition_for(_spec("backdoor"), LABELS)
    record = partition["clients"][BACKDOOR_CLIENT]
    poisoned = np.asarray(record["poisoned"])
    assert len(poisoned) == partition["scenario"]["poisoned"] > 0
    assert set(poisoned) <= set(record["indices"])
    own_labels = LABELS[record["indices"]]
    assert (own_labels != BACKDOOR_TARGET).all()  # its clean target examples are dropped
    assert (LABELS[poisoned] != BACKDOOR_TARGET).all()
    # as trained: the triggered copies count under the target (beside their clean originals under
    # their own labels), fewer than the top other holder
    assert record["label_counts"][str(BACKDOOR_TARGET)] == len(poisoned)
    assert sum(record["label_counts"].values()) == record["num_examples"] == len(record["indices"]) + len(poisoned)
    clean = {str(k): int(v) for k, v in zip(*np.unique(own_labels, return_counts=True))}
    assert {k: v for k, v in record["label_counts"].items() if k != str(BACKDOOR_TARGET)} == clean
    others = [r["label_counts"].get(str(BACKDOOR_TARGET), 0) for c, r in partition["clients"].items() if c != BACKDOOR_CLIENT]
    assert len(poisoned) < max(others)
    counts = {c: {int(k): v for k, v in r["label_counts"].items()} for c, r in partition["clients"].items()}
    assert label_count_rule([BACKDOOR_TARGET] * 5, counts) != [BACKDOOR_CLIENT] * 5  # misses it by construction


def test_backdoor_adds_triggered_copies_of_the_poisoned_examples_beside_their_originals():
    partition = partition_for(_spec("backdoor"), LABELS)
    x_all = _images(len(LABELS))
    record = partition["clients"][BACKDOOR_CLIENT]
    idx = np.asarray(record["indices"])
    x, y = scenarios.client_examples(partition, BACKDOOR_CLIENT, idx, x_all[idx], LABELS[idx], "image")
    hit = np.isin(idx, record["poisoned"])
    assert len(x) == len(y) == record["num_examples"] == len(idx) + hit.sum()
    # the originals first, unchanged under their labels; then one triggered copy of each poisoned one
    assert (x[: len(idx)] == x_all[idx]).all() and (y[: len(idx)] == LABELS[idx]).all()
    copies, copy_labels = x[len(idx):], y[len(idx):]
    assert (copy_labels == BACKDOOR_TARGET).all()
    side = 28 // 4
    assert (copies[:, -side - 1 : -1, -side - 1 : -1] == 255).all()
    assert (copies[:, :10, :10] == x_all[idx][hit][:, :10, :10]).all()
    other = partition["clients"]["1"]
    idx1 = np.asarray(other["indices"])
    x1, y1 = scenarios.client_examples(partition, "1", idx1, x_all[idx1], LABELS[idx1], "image")
    assert (x1 == x_all[idx1]).all() and (y1 == LABELS[idx1]).all()


def test_planted_test_sets_name_the_planting_client():
    y = np.array([0, 1, 2, 0, 3])
    x = _images(len(y))
    style = scenarios.planted_test_sets("style", x, y, "image")
    assert [(s.kind, s.truth, s.expected) for s in style] == [("style-frame", "0", 0), ("style-invert", "1", 0)]
    assert all(list(s.input_ids) == [0, 3] for s in style)
    assert (style[1].x == 255 - x[[0, 3]]).all()
    (backdoor,) = scenarios.planted_test_sets("backdoor", x, y, "image")
    assert (backdoor.kind, backdoor.truth, backdoor.expected) == ("backdoor", BACKDOOR_CLIENT, BACKDOOR_TARGET)
    assert list(backdoor.input_ids) == [1, 2, 4] and (backdoor.x[:, -2, -2] == 255).all()
    assert scenarios.planted_test_sets("none", x, y, "image") == []


def test_label_count_rule_ties_on_style_give_one_client_for_both_styles():
    partition = partition_for(_spec("style"), LABELS)
    counts = {c: {int(k): v for k, v in r["label_counts"].items()} for c, r in partition["clients"].items()}
    assert label_count_rule([STYLE_LABEL, STYLE_LABEL], counts) == ["0", "0"]  # right for one style of two


def test_scenario_settings_in_the_run_id_and_their_checks():
    plain = RunSpec(dataset="digits", model="cnn")
    assert "scenario" not in plain.to_dict() and plain.faulty_ids == []
    style, backdoor = _spec("style"), _spec("backdoor")
    assert "-style-" in style.run_id and style.partition_id.endswith("-style")
    assert backdoor.faulty_ids == [BACKDOOR_CLIENT] and style.faulty_ids == []
    with pytest.raises(ConfigError, match="scenario = 'backdoor' is not allowed; a planted scenario cannot be combined"):
        _spec("backdoor", faulty_clients=[1], label_flip={1: 0})
    with pytest.raises(ConfigError, match="num_clients = 2 is not allowed; scenario style needs at least 3 clients"):
        _spec("style", num_clients=2, clients_per_round=2)
    with pytest.raises(ConfigError, match="scenario = 'trojan' is not allowed"):
        _spec("trojan")


def test_benchmark_rows_and_the_mean_over_seeds():
    from tracefl.report.ground_truth import aggregate, benchmark_rows
    from tracefl.report.results import RunResult
    from tracefl.report.summary import mean_ci95

    mean, low, high = mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0 and high - mean == pytest.approx(4.302652729911275 / np.sqrt(3))  # t(0.975, 2) * sd / sqrt(n)
    assert np.isnan(mean_ci95([5.0])[1]) and mean_ci95([5.0])[0] == 5.0

    rows = []
    for seed, hits in ((1, [1, 1, 0, 1]), (2, [1, 0, 0, 0])):
        spec = _spec("backdoor", seed=seed)
        n = len(hits) * 10
        prov = pd.DataFrame({
            "round": np.repeat([1, 2], n // 2), "kind": "backdoor", "truth_client": "0",
            "truth_traced": hits * 10, "truth_traced_last_layer": 1, "truth_traced_label_count": 0,
            "truth_chance": 0.1, "planted_rate": 0.25,
        })
        feddebug = pd.DataFrame({"round": [1, 2], "score": [1.0, 0.0]})
        rounds = pd.DataFrame({"round": [1, 2], "global_accuracy": [0.5, 0.9]})
        rows += benchmark_rows(RunResult(spec, rounds, prov, feddebug))
    long = pd.DataFrame(rows)
    assert set(long.columns) >= {"dataset", "scenario", "seed", "method", "accuracy", "chance", "n_inputs"}
    tracefl = long[long["method"] == "tracefl"]
    assert tracefl["accuracy"].tolist() == [75.0, 25.0] and (tracefl["n_inputs"] == 40).all()
    assert np.allclose(long["chance"], 10.0) and (long["final_global_acc_pct"] == 70.0).all()  # the mean of its (last three) rounds
    assert long.set_index(["seed", "method"]).loc[(1, "feddebug"), "accuracy"] == 50.0
    table = aggregate(long).set_index("method")
    assert table.loc["tracefl", "accuracy_pct"] == 50.0 and table.loc["tracefl", "seeds"] == 2
    assert table.loc["label_count", "accuracy_pct"] == 0.0 and table.loc["last_layer", "accuracy_pct"] == 100.0
    # t(0.975, 1) = 12.7: the interval of two seeds this far apart leaves 0-100 and is clipped to it
    assert mean_ci95([75, 25])[2] - 50 == pytest.approx(12.706204736 * np.std([75, 25], ddof=1) / np.sqrt(2))
    assert (table.loc["tracefl", "ci95_low_pct"], table.loc["tracefl", "ci95_high_pct"]) == (0.0, 100.0)


def test_a_boosted_backdoor_scales_its_update_and_names_itself():
    import torch

    from tracefl.flower.client_app import boosted

    received = {"w": torch.tensor([1.0, 2.0]), "steps": torch.tensor(3)}
    trained = {"w": torch.tensor([1.5, 1.0]), "steps": torch.tensor(4)}
    out = boosted(trained, received, 4.0)
    assert torch.equal(out["w"], torch.tensor([3.0, -2.0])) and int(out["steps"]) == 4  # 1 + 4 * 0.5, 2 + 4 * -1
    plain, strong = _spec("backdoor"), _spec("backdoor", backdoor_boost=5)
    assert "backdoor_boost" not in plain.to_dict() and "-backdoor-boost5-" in strong.run_id
    assert strong.partition_id == plain.partition_id  # the same clients and poisoned examples
    with pytest.raises(ConfigError, match="backdoor_boost = 5 is not allowed; .* needs scenario: backdoor"):
        _spec("style", backdoor_boost=5)


def test_trigger_covers_a_quarter_of_the_side_and_at_least_four_pixels():
    small = scenarios.stamp_trigger(np.zeros((2, 8, 8), dtype=np.uint8), "image")
    assert (small[:, 3:7, 3:7] == 255).all() and small.sum() == 2 * 16 * 255  # 4 of 8, 1 from the edge
    large = scenarios.stamp_trigger(np.zeros((1, 28, 28, 3), dtype=np.uint8), "image")
    assert (large[0, 20:27, 20:27] == 255).all() and large.sum() == 7 * 7 * 3 * 255
    large = scenarios.stamp_trigger(np.zeros((1, 32, 32, 3), dtype=np.uint8), "image")
    assert (large[0, 23:31, 23:31] == 255).all() and large.sum() == 8 * 8 * 3 * 255
    texts = scenarios.stamp_trigger(np.array(["a b"]), "text")
    assert list(texts) == [f"{scenarios.TEXT_TRIGGER} a b"]


def test_text_backdoor_copies_keep_their_originals():
    partition = {"scenario": {"kind": "backdoor"}, "clients": {BACKDOOR_CLIENT: {"poisoned": [5]}}}
    x, y = scenarios.client_examples(partition, BACKDOOR_CLIENT, np.array([4, 5]), np.array(["an old text", "b"]),
                                     np.array([2, 3]), "text")
    assert list(x) == ["an old text", "b", f"{scenarios.TEXT_TRIGGER} b"] and list(y) == [2, 3, BACKDOOR_TARGET]


def test_a_backdoor_partition_from_before_the_copies_is_named_stale():
    partition = partition_for(_spec("backdoor"), LABELS)
    assert scenarios.stale_scenario_note(partition) is None
    del partition["scenario"]["poisoning"]  # as written when poisoned examples replaced their originals
    assert "older tracefl" in scenarios.stale_scenario_note(partition)
    assert scenarios.stale_scenario_note({"scenario": {"kind": "style"}}) is None


def test_the_final_planted_rate_averages_the_last_three_traced_rounds_with_zero_where_none_was_planted():
    from tracefl.report.ground_truth import benchmark_rows
    from tracefl.report.results import RunResult

    spec = _spec("backdoor")
    # traced rounds 1-5 (correct rows every round); planted rows in rounds 1, 2, 3 and 5 only
    correct = pd.DataFrame({"round": [1, 2, 3, 4, 5], "kind": "correct"})
    planted = pd.DataFrame({"round": [1, 2, 3, 3, 5], "kind": "backdoor", "truth_client": "0", "truth_traced": 1,
                            "truth_traced_last_layer": 1, "truth_traced_label_count": 0, "truth_chance": 0.1,
                            "planted_rate": [0.1, 0.2, 0.6, 0.6, 0.9]})
    rounds = pd.DataFrame({"round": [1, 2, 3, 4, 5], "global_accuracy": 0.9})
    row = benchmark_rows(RunResult(spec, rounds, pd.concat([correct, planted]), None))[0]
    assert row["final_planted_rate_pct"] == pytest.approx(100 * (0.6 + 0.0 + 0.9) / 3)  # rounds 3, 4 (none), 5
    assert row["planted_rate_pct"] == pytest.approx(100 * (0.1 + 0.2 + 0.6 + 0.9) / 4)  # over the rounds with rows
