"""Which server test inputs get traced in a round (docs/algorithm.md section 2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np


def _as_label_arrays(true_labels: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(true_labels).reshape(-1)
    pred = np.asarray(predicted).reshape(-1)
    if true.shape != pred.shape:
        raise ValueError(f"true_labels ({true.size}) and predicted ({pred.size}) differ in length")
    return true, pred


def per_label_quota(held_labels: int, inputs_per_label: int, min_inputs: int = 0) -> int:
    """Inputs to take per held label: ``inputs_per_label``, raised so that ``held_labels``
    labels can reach ``min_inputs`` in all (a 4-class text round needs 13 a label for 50)."""
    if held_labels <= 0:
        return inputs_per_label
    return max(inputs_per_label, -(-min_inputs // held_labels))


def select_correct_inputs(
    true_labels: np.ndarray, predicted: np.ndarray, held_labels: Iterable[int], per_label: int
) -> np.ndarray:
    """Test-order indices of the first ``per_label`` correct predictions of each held label.

    Only labels some participant holds are traced, so every trace has a possible right answer.
    """
    if per_label < 0:
        raise ValueError(f"per_label must be >= 0, got {per_label}")
    true, pred = _as_label_arrays(true_labels, predicted)
    correct = true == pred
    picked = [np.flatnonzero(correct & (true == label))[:per_label] for label in set(held_labels)]
    if not picked:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(picked)).astype(np.int64)


def select_mispredictions(
    true_labels: np.ndarray, predicted: np.ndarray, flip_map: Mapping[int, int], limit: int = 100
) -> np.ndarray:
    """Test-order indices of the first ``limit`` wrong predictions a label flip could explain.

    Such an input's true label is a flip source and its predicted label a flip target
    (any target), so a faulty client is a plausible culprit.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    true, pred = _as_label_arrays(true_labels, predicted)
    sources = np.fromiter((int(k) for k in flip_map), dtype=np.int64)
    targets = np.fromiter((int(v) for v in flip_map.values()), dtype=np.int64)
    wrong = (true != pred) & np.isin(true, sources) & np.isin(pred, targets)
    return np.flatnonzero(wrong)[:limit].astype(np.int64)
