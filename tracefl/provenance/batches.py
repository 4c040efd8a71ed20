"""Which of a round's test inputs are traced, in batches of one kind each: correct
predictions of the labels the participants hold, label-flip mispredictions when a faulty
client took part, and the planted inputs of a ground-truth run that the model predicts as
planted (docs/algorithm.md section 3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tracefl.data.scenarios import PlantedSet
from tracefl.models.inference import predict
from tracefl.models.inputs import Inputs, num_rows, take
from tracefl.provenance.columns import CORRECT, MISPREDICTION
from tracefl.provenance.selection import per_label_quota, select_correct_inputs, select_mispredictions
from tracefl.runs.layout import TEST_PREDICTIONS


@dataclass(frozen=True)
class Batch:
    """Inputs of one kind traced together in a round, with what they were selected for."""

    kind: str
    x: Inputs
    labels: np.ndarray
    input_ids: np.ndarray
    selected_as: np.ndarray  # the prediction each input was selected for
    truth: str | None = None  # planted inputs: the client that caused the prediction
    planted_rate: float = float("nan")  # planted inputs: share of the set predicted as planted


def planted_batch(planted: PlantedSet, x: Inputs, global_model: torch.nn.Module, device: torch.device,
                  limit: int) -> Batch:
    """The first ``limit`` inputs of a planted set that the model predicts as the scenario planted."""
    predicted = predict(global_model, x, device).argmax(1).numpy()
    hit = np.flatnonzero(predicted == planted.expected)
    idx = hit[:limit]
    return Batch(planted.kind, take(x, idx), planted.labels[idx], planted.input_ids[idx], predicted[idx],
                 planted.truth, float(len(hit) / max(len(predicted), 1)))


def round_predictions(meta: dict, global_model: torch.nn.Module, x_test: Inputs, device: torch.device) -> np.ndarray:
    """The global model's predicted class of each test input: as training recorded them with the
    round (the same model on the same inputs, possibly in another memory layout), else predicted here."""
    recorded = meta.get(TEST_PREDICTIONS)
    if recorded is not None and len(recorded) == num_rows(x_test):
        return np.asarray(recorded, dtype=np.int64)
    return predict(global_model, x_test, device).argmax(1).numpy()


def select_batches(
    x_test: Inputs,
    true: np.ndarray,
    predicted: np.ndarray,
    label_counts: dict[str, dict[int, int]],
    *,
    inputs_per_label: int,
    min_inputs_per_round: int,
    flip_map: dict[int, int] | None,
    faulty: Sequence[str],
    max_mispredictions: int,
    planted: Sequence[tuple[PlantedSet, Inputs]] = (),
    global_model: torch.nn.Module | None = None,
    device: torch.device | None = None,
    max_planted: int = 0,
) -> list[Batch]:
    """The round's non-empty batches: correct predictions of held labels; mispredictions when a
    faulty client took part (without one no trace could be right); each planted set whose
    planting client took part (a round without it cannot be scored)."""
    participants = list(label_counts)

    def test_batch(kind: str, idx: np.ndarray) -> Batch:
        return Batch(kind, take(x_test, idx), true[idx], idx, predicted[idx])

    held = sorted({label for counts in label_counts.values() for label, n in counts.items() if n > 0})
    per_label = per_label_quota(len(held), inputs_per_label, min_inputs_per_round)
    batches = [test_batch(CORRECT, select_correct_inputs(true, predicted, held, per_label))]
    if flip_map and set(faulty) & set(participants):
        batches.append(test_batch(MISPREDICTION, select_mispredictions(true, predicted, flip_map, max_mispredictions)))
    for planted_set, x in planted:
        if planted_set.truth in participants:
            batches.append(planted_batch(planted_set, x, global_model, device, max_planted))
    return [b for b in batches if len(b.input_ids)]
