"""Input selection and localization metrics against small hand-computed examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracefl.provenance.metrics import faulty_metrics, label_count_rule, label_metrics, post_flip_counts
from tracefl.provenance.selection import per_label_quota, select_correct_inputs, select_mispredictions

# index:          0  1  2  3  4  5  6  7  8  9
TRUE = np.array([0, 1, 0, 2, 1, 0, 2, 1, 0, 3])
PRED = np.array([0, 1, 1, 2, 1, 0, 0, 0, 0, 3])


def test_correct_inputs_first_per_label_in_test_order():
    # correct: 0(0) 1(1) 3(2) 4(1) 5(0) 8(0) 9(3)
    got = select_correct_inputs(TRUE, PRED, held_labels=[1, 0], per_label=2)
    np.testing.assert_array_equal(got, [0, 1, 4, 5])
    assert got.dtype == np.int64


def test_correct_inputs_only_held_labels_and_short_labels():
    got = select_correct_inputs(TRUE, PRED, held_labels={2, 3, 7}, per_label=5)
    np.testing.assert_array_equal(got, [3, 9])  # label 7 never occurs: nothing, no error
    assert select_correct_inputs(TRUE, PRED, held_labels=[], per_label=2).size == 0
    assert select_correct_inputs(TRUE, PRED, held_labels=[0], per_label=0).size == 0
    with pytest.raises(ValueError):
        select_correct_inputs(TRUE, PRED[:-1], held_labels=[0], per_label=1)


def test_mispredictions_follow_the_flip_map():
    # wrong: 2 (0->1), 6 (2->0), 7 (1->0)
    flip = {1: 0, 2: 0}
    np.testing.assert_array_equal(select_mispredictions(TRUE, PRED, flip), [6, 7])
    np.testing.assert_array_equal(select_mispredictions(TRUE, PRED, flip, limit=1), [6])
    np.testing.assert_array_equal(select_mispredictions(TRUE, PRED, {0: 1}), [2])
    # any target counts: index 6 (2 -> 0) qualifies although 2's own target is 3
    np.testing.assert_array_equal(select_mispredictions(TRUE, PRED, {2: 3, 1: 0}), [6, 7])
    # with 0 no longer a target, neither 6 nor 7 qualifies
    np.testing.assert_array_equal(select_mispredictions(TRUE, PRED, {2: 3, 1: 2}), [])
    assert select_mispredictions(TRUE, PRED, {3: 0}).size == 0


def test_label_metrics_by_hand():
    counts = {
        "a": {0: 5, 1: 2},
        "b": {0: 5, 2: 1},
        "c": {1: 9},
        "d": {},
    }
    traced = ["a", "b", "c", "d", "a"]
    labels = [0, 0, 0, 1, 3]
    m = label_metrics(traced, labels, counts)
    np.testing.assert_array_equal(m["label_held"], [1, 1, 0, 0, 0])
    np.testing.assert_allclose(m["label_held_chance"], [0.5, 0.5, 0.5, 0.5, 0.0])
    # label 0: a and b tie at 5, both top; label 1: c alone; label 3: nobody holds it
    np.testing.assert_array_equal(m["top_holder"], [1, 1, 0, 0, 0])
    np.testing.assert_allclose(m["top_holder_chance"], [0.5, 0.5, 0.5, 0.25, 0.0])


def test_label_metrics_accepts_string_label_keys_and_checks_participants():
    m = label_metrics(["x"], [4], {"x": {"4": 3}, "y": {"4": 1}})
    assert m["label_held"].tolist() == [1.0] and m["top_holder"].tolist() == [1.0]
    assert m["top_holder_chance"].tolist() == [0.5]
    with pytest.raises(ValueError, match="not participants"):
        label_metrics(["z"], [4], {"x": {4: 1}})


def test_label_metrics_on_no_inputs():
    m = label_metrics([], [], {"a": {0: 1}})
    assert all(v.shape == (0,) for v in m.values())


def test_faulty_metrics():
    m = faulty_metrics(["0", "3", "0"], faulty_ids={"0", "9"}, participants=["0", "1", "2", "3"])
    np.testing.assert_array_equal(m["faulty_traced"], [1, 0, 1])
    np.testing.assert_allclose(m["faulty_chance"], [0.25] * 3)  # client 9 did not participate
    with pytest.raises(ValueError):
        faulty_metrics(["7"], faulty_ids={"0"}, participants=["0", "1"])


def test_per_label_quota_reaches_the_minimum_in_rounds_with_few_labels():
    assert per_label_quota(10, 10, 50) == 10  # 10 classes: the per-label count already gives 100
    assert per_label_quota(4, 10, 50) == 13  # 4 classes: 52 >= 50
    assert per_label_quota(3, 10, 0) == 10  # off
    assert per_label_quota(0, 10, 50) == 10  # nothing held: nothing to raise


def test_post_flip_counts_move_a_faulty_clients_flipped_examples_to_their_target():
    counts = {"0": {0: 5, 1: 7, 2: 3}, "1": {1: 4, 2: 2}}
    flipped = post_flip_counts(counts, ["0"], {1: 0, 2: 0})
    assert flipped == {"0": {0: 15}, "1": {1: 4, 2: 2}}  # only the faulty client's labels move
    assert post_flip_counts(counts, [], {1: 0}) == counts


def test_label_count_rule_is_the_top_holder_of_the_predicted_label_and_never_looks_at_a_model():
    counts = {"3": {0: 2, 1: 9}, "5": {0: 8, 1: 1}, "7": {0: 8}}
    assert label_count_rule([1, 0, 0, 1], counts) == ["3", "5", "5", "3"]  # a tie goes to the first
    assert label_count_rule([], counts) == []
    # on correct predictions it is the top holder, hence holds the label: perfect on both metrics
    traced = label_count_rule([0, 1], counts)
    scored = label_metrics(traced, [0, 1], counts)
    assert scored["top_holder"].tolist() == [1.0, 1.0] and scored["label_held"].tolist() == [1.0, 1.0]
    # a client that flips everything to 0 holds the most post-flip 0s: the rule names it
    flipped = post_flip_counts({"0": {1: 6, 2: 6}, "1": {0: 9}}, ["0"], {1: 0, 2: 0})
    assert label_count_rule([0], flipped) == ["0"]


def test_every_score_lands_in_a_declared_column_and_near_ties_are_dropped():
    """The scoring functions of one round write only the provenance table's columns."""
    from tracefl.provenance import columns as col
    from tracefl.provenance import scoring

    counts = {"0": {1: 5, 2: 1}, "1": {2: 4}}
    labels = np.array([1, 2])
    traced, weighted = ["0", "1"], ["0", "0"]
    baselines = scoring.baseline_traces([1, 2], ["1", "1"], counts)
    assert baselines == {col.LABEL_COUNT: ["0", "1"], col.LAST_LAYER: ["1", "1"]}
    scores = {
        **scoring.label_scores(traced, labels, counts),
        **scoring.weighting_scores(weighted, labels, counts),
        **scoring.post_flip_scores(traced, labels, counts),
        **scoring.baseline_scores(baselines, labels, counts),
        **scoring.faulty_scores(traced, weighted, baselines, ["1"], ["0", "1"]),
        **scoring.ground_truth_scores(traced, baselines, "0", ["0", "1"], 0.5),
    }
    assert set(scores) <= set(col.PROVENANCE_COLUMNS)
    assert len(col.PROVENANCE_COLUMNS) == len(set(col.PROVENANCE_COLUMNS))
    np.testing.assert_array_equal(scores[col.LABEL_HELD], [1.0, 1.0])
    np.testing.assert_array_equal(scores[col.scored_by(col.TOP_HOLDER, col.DATA_SIZE)], [1.0, 0.0])
    np.testing.assert_array_equal(scores[col.scored_by(col.FAULTY_TRACED, col.LAST_LAYER)], [1.0, 1.0])
    np.testing.assert_array_equal(scores[col.TRUTH_TRACED], [1.0, 0.0])
    frame = pd.DataFrame({"predicted_label": [1, 2, 3]})
    kept = scoring.drop_near_ties(frame, np.array([1, 0, 3]), rnd=1, kind=col.CORRECT)
    assert kept["predicted_label"].tolist() == [1, 3]
