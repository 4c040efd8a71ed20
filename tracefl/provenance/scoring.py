"""One round's traced inputs scored (docs/algorithm.md section 3): one function per group of
columns of the provenance table (:mod:`tracefl.provenance.columns`).

Each ``*_scores`` function returns new columns for a frame of traced inputs: TraceFL's label
scores, the data-size weighting's, the post-flip ones, the two baselines', the faulty
clients' and the planted ground truth's; :func:`drop_near_ties` leaves out inputs the trace
predicted differently from the selection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tracefl.provenance import columns as col
from tracefl.provenance.metrics import faulty_metrics, label_count_rule, label_metrics

logger = logging.getLogger(__name__)

Counts = Mapping[str, Mapping[int, int]]
Scores = dict[str, object]


def label_scores(traced: Sequence[str], labels: np.ndarray, label_counts: Counts) -> Scores:
    """TraceFL as configured: label held / top holder, each with a random participant's chance."""
    return dict(label_metrics(traced, labels, label_counts))


def weighting_scores(weighted: Sequence[str], labels: np.ndarray, label_counts: Counts) -> Scores:
    """The same trace with data-size client weighting (chance levels do not depend on it)."""
    scored = label_metrics(weighted, labels, label_counts)
    out: Scores = {col.client_of(col.DATA_SIZE): weighted}
    for key in (col.LABEL_HELD, col.TOP_HOLDER):
        out[col.scored_by(key, col.DATA_SIZE)] = scored[key]
    return out


def post_flip_scores(traced: Sequence[str], labels: np.ndarray, trained_counts: Counts) -> Scores:
    """TraceFL scored against the labels as the clients trained them (a faulty client's flips)."""
    scored = label_metrics(traced, labels, trained_counts)
    out: Scores = {}
    for key in (col.LABEL_HELD, col.TOP_HOLDER):
        out[col.scored_by(key, col.POST_FLIP)] = scored[key]
        out[col.chance_of(col.scored_by(key, col.POST_FLIP))] = scored[col.chance_of(key)]
    return out


def baseline_traces(predicted: Sequence[int], last_layer: Sequence[str], trained_counts: Counts) -> dict[str, list[str]]:
    """Each baseline's traced client per input: the label-count rule and the last layer alone."""
    return {col.LABEL_COUNT: label_count_rule(list(predicted), trained_counts), col.LAST_LAYER: list(last_layer)}


def baseline_scores(baselines: Mapping[str, Sequence[str]], labels: np.ndarray, label_counts: Counts) -> Scores:
    """The baselines' traced clients, scored like TraceFL."""
    out: Scores = {}
    for name, traced in baselines.items():
        out[col.client_of(name)] = traced
        scored = label_metrics(traced, labels, label_counts)
        for key in (col.LABEL_HELD, col.TOP_HOLDER):
            out[col.scored_by(key, name)] = scored[key]
    return out


def faulty_scores(traced: Sequence[str], weighted: Sequence[str], baselines: Mapping[str, Sequence[str]],
                  faulty: Sequence[str], participants: Sequence[str]) -> Scores:
    """Whether TraceFL, its data-size weighting and each baseline traced a faulty client."""
    out: Scores = dict(faulty_metrics(traced, faulty, participants))
    out[col.scored_by(col.FAULTY_TRACED, col.DATA_SIZE)] = faulty_metrics(weighted, faulty, participants)[col.FAULTY_TRACED]
    for name, other in baselines.items():
        out[col.scored_by(col.FAULTY_TRACED, name)] = faulty_metrics(other, faulty, participants)[col.FAULTY_TRACED]
    return out


def ground_truth_scores(traced: Sequence[str], baselines: Mapping[str, Sequence[str]], truth: str,
                        participants: Sequence[str], planted_rate: float) -> Scores:
    """Planted inputs: whether TraceFL and each baseline traced the client that planted them."""
    scored = faulty_metrics(traced, [truth], participants)
    out: Scores = {col.TRUTH_CLIENT: truth, col.TRUTH_TRACED: scored[col.FAULTY_TRACED],
                   col.TRUTH_CHANCE: scored[col.FAULTY_CHANCE]}
    for name, other in baselines.items():
        out[col.scored_by(col.TRUTH_TRACED, name)] = faulty_metrics(other, [truth], participants)[col.FAULTY_TRACED]
    out[col.PLANTED_RATE] = planted_rate
    return out


def drop_near_ties(frame: pd.DataFrame, selected_as: np.ndarray, rnd: int, kind: str) -> pd.DataFrame:
    """Inputs the trace predicted as the class they were selected for.

    Selection used a batched prediction (in training's memory layout, channels-last for
    some models on a CPU: catalog.channels_last); the trace predicts again in its own
    chunks and the default layout. A near-tie of two logits may flip between them: such
    an input was not traced for the class it was selected for, so it is left out.
    """
    same = frame["predicted_label"].to_numpy() == selected_as
    if same.all():
        return frame
    logger.warning("round %d: %d %s input(s) left out: the trace predicted another class", rnd, int((~same).sum()), kind)
    return frame[same]
