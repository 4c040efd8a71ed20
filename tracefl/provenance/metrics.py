"""Per-input localization metrics and their chance levels (docs/algorithm.md section 3).

Every accuracy is paired with the accuracy a uniformly random participant would get
under the same criterion, because "the traced client holds the label" is often true
for most participants under non-IID partitions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np


def _count_matrix(
    true_labels: Sequence[int], label_counts: Mapping[str, Mapping[int, int]]
) -> tuple[list[str], np.ndarray]:
    """(participants, counts[participant, input]) of each input's true label; missing = 0."""
    participants = [str(p) for p in label_counts]
    if not participants:
        raise ValueError("label_counts has no participants")
    labels = [int(y) for y in true_labels]
    rows = []
    for counts in label_counts.values():
        by_label = {int(k): int(v) for k, v in counts.items()}  # JSON may give str keys
        rows.append([by_label.get(y, 0) for y in labels])
    return participants, np.asarray(rows, dtype=np.int64).reshape(len(participants), len(labels))


def _positions(traced: Sequence[str], participants: Sequence[str]) -> np.ndarray:
    index = {p: i for i, p in enumerate(participants)}
    unknown = sorted({str(t) for t in traced} - index.keys())
    if unknown:
        raise ValueError(f"traced client(s) {unknown} are not participants {list(participants)}")
    return np.asarray([index[str(t)] for t in traced], dtype=np.int64)


def label_metrics(
    traced: Sequence[str],
    true_labels: Sequence[int],
    label_counts: Mapping[str, Mapping[int, int]],
) -> dict[str, np.ndarray]:
    """Paper metric ("label held"), strict metric ("top holder"), and their chance levels."""
    if len(traced) != len(true_labels):
        raise ValueError(f"traced ({len(traced)}) and true_labels ({len(true_labels)}) differ in length")
    participants, counts = _count_matrix(true_labels, label_counts)
    who = _positions(traced, participants)
    n = len(traced)
    mine = counts[who, np.arange(n)]
    best = counts.max(axis=0)
    is_top = (counts == best) & (best > 0)
    return {
        "label_held": (mine > 0).astype(np.float64),
        "label_held_chance": (counts > 0).mean(axis=0),
        "top_holder": ((mine == best) & (best > 0)).astype(np.float64),
        "top_holder_chance": is_top.mean(axis=0),
    }


def post_flip_counts(
    label_counts: Mapping[str, Mapping[int, int]], faulty_ids: Collection[str], flip_map: Mapping[int, int]
) -> dict[str, dict[int, int]]:
    """Label counts as each client trained: a faulty client's examples of a flipped label count
    under its target (the partition's counts are before the flip)."""
    faulty = {str(f) for f in faulty_ids}
    out: dict[str, dict[int, int]] = {}
    for client, counts in label_counts.items():
        trained: dict[int, int] = {}
        for label, n in counts.items():
            label = int(label)
            target = int(flip_map.get(label, label)) if str(client) in faulty else label
            trained[target] = trained.get(target, 0) + int(n)
        out[str(client)] = trained
    return out


def label_count_rule(labels: Sequence[int], label_counts: Mapping[str, Mapping[int, int]]) -> list[str]:
    """The baseline that never looks at a model: each input goes to the participant with the most
    training examples of ``labels[i]`` (its predicted label); ties go to the first participant.

    On correct predictions it is the top holder by construction (so also "label held"
    whenever anyone holds the label); on mispredictions with post-flip counts it finds a
    client that flipped many examples to the predicted label.
    """
    participants, counts = _count_matrix(labels, label_counts)
    return [participants[i] for i in counts.argmax(axis=0)] if len(labels) else []


def faulty_metrics(
    traced: Sequence[str], faulty_ids: Collection[str], participants: Sequence[str]
) -> dict[str, np.ndarray]:
    """Misprediction metric: was a faulty client traced, and how often would chance do it."""
    participants = [str(p) for p in participants]
    if not participants:
        raise ValueError("participants is empty")
    _positions(traced, participants)
    faulty = {str(f) for f in faulty_ids}
    chance = sum(p in faulty for p in participants) / len(participants)
    return {
        "faulty_traced": np.asarray([str(t) in faulty for t in traced], dtype=np.float64),
        "faulty_chance": np.full(len(traced), chance, dtype=np.float64),
    }

