"""The provenance step: trace every round of a finished training run -> provenance.csv."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from tracefl.atomic import write_csv, write_json
from tracefl.config import ProvenanceSettings, RunSpec
from tracefl.errors import InputError
from tracefl.data.scenarios import NONE, PlantedSet, planted_test_sets
from tracefl.data.store import load_split
from tracefl.data.tensors import model_inputs, server_tensors
from tracefl.models.device import resolve_device
from tracefl.models.inference import predict
from tracefl.models.inputs import Inputs, num_rows, take, to_device
from tracefl.provenance import last_layer_result, reweight_by_data_size, trace
from tracefl.provenance.metrics import faulty_metrics, label_count_rule, label_metrics, post_flip_counts
from tracefl.provenance.selection import per_label_quota, select_correct_inputs, select_mispredictions
from tracefl.runs.checkpoint import completed_rounds
from tracefl.runs.layout import RETRAIN, TEST_PREDICTIONS, coverage_path
from tracefl.runs.load import round_models

logger = logging.getLogger(__name__)

PROVENANCE_COLUMNS = [
    "round",
    "kind",
    "input_id",
    "true_label",
    "predicted_label",
    "traced_client",
    "traced_score",
    "label_held",
    "label_held_chance",
    "top_holder",
    "top_holder_chance",
    "faulty_traced",
    "faulty_chance",
    "n_participants",
    "global_accuracy",
    "seconds",
    # The same trace with data-size client weighting (paper Eq. 5-6), for the ablation.
    "traced_client_data_size",
    "label_held_data_size",
    "top_holder_data_size",
    "faulty_traced_data_size",
    # TraceFL scored with the labels as the clients trained them (a faulty client's flipped
    # examples under their target label); equal to the columns above in runs without a fault.
    "label_held_post_flip",
    "label_held_post_flip_chance",
    "top_holder_post_flip",
    "top_holder_post_flip_chance",
    # Baselines on the same inputs, scored like TraceFL: the participant with the most
    # (post-flip) training examples of the predicted label, which never looks at a model, and
    # the trace of the last provenance layer alone (from the same pass).
    "label_count_client",
    "label_held_label_count",
    "top_holder_label_count",
    "faulty_traced_label_count",
    "last_layer_client",
    "label_held_last_layer",
    "top_holder_last_layer",
    "faulty_traced_last_layer",
    # Planted ground truth (scenario runs, tracefl.data.scenarios): the client that caused the
    # prediction, whether TraceFL and each baseline traced it, a random participant's chance,
    # and the share of the planted set the model predicted as planted that round.
    "truth_client",
    "truth_traced",
    "truth_chance",
    "truth_traced_label_count",
    "truth_traced_last_layer",
    "planted_rate",
]
# Columns holding 0/1 per input (nullable integers in the CSV).
HIT_COLUMNS = [c for c in PROVENANCE_COLUMNS if c.startswith(("label_held", "top_holder", "faulty_traced", "truth_traced"))
               and not c.endswith("_chance")]


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


def check_predictions(recorded: list, classes: int | None, meta: dict) -> None:
    """Recorded predicted classes are class indices of the model (integers in 0..classes-1)."""
    bad = [c for c in recorded if not isinstance(c, int) or isinstance(c, bool) or c < 0
           or (isinstance(classes, int) and c >= classes)]
    if bad:
        raise InputError(
            f"round {meta.get('round', '?')} meta.json: {TEST_PREDICTIONS} holds {bad[0]!r}, not a class index"
            f"{f' in 0..{classes - 1}' if isinstance(classes, int) else ''}; {RETRAIN}"
        )


def round_predictions(meta: dict, global_model: torch.nn.Module, x_test: Inputs, device: torch.device,
                      num_classes: int | None = None) -> np.ndarray:
    """The global model's predicted class of each test input: as training recorded them with the
    round (the same model on the same inputs, possibly in another memory layout), else predicted here."""
    recorded = meta.get(TEST_PREDICTIONS)
    if recorded is not None and len(recorded) == num_rows(x_test):
        check_predictions(recorded, num_classes, meta)
        return np.asarray(recorded, dtype=np.int64)
    return predict(global_model, x_test, device).argmax(1).numpy()


def trace_round(
    spec: RunSpec,
    run_dir: str | Path,
    rnd: int,
    x_test: Inputs,
    y_test: torch.Tensor,
    settings: ProvenanceSettings,
    device: torch.device,
    planted: Sequence[tuple[PlantedSet, Inputs]] = (),
) -> pd.DataFrame:
    """Trace the selected test inputs of one round; an empty frame when none qualifies.

    ``planted``: a ground-truth run's planted test sets (tracefl.data.scenarios) with their
    model inputs; those the model predicts as planted are traced and scored against the
    client that planted them.
    """
    global_model, clients, meta = round_models(spec, run_dir, rnd, device)
    participants: list[str] = meta["participants"]
    label_counts = {c: {int(k): int(v) for k, v in meta["label_counts"][c].items()} for c in participants}
    trained_counts = post_flip_counts(label_counts, [str(c) for c in spec.faulty_clients], spec.flip_map)
    predicted = round_predictions(meta, global_model, x_test, device, spec.num_classes)
    true = y_test.numpy()

    def test_batch(kind: str, idx: np.ndarray) -> Batch:
        return Batch(kind, take(x_test, idx), true[idx], idx, predicted[idx])

    held = sorted({label for counts in label_counts.values() for label, n in counts.items() if n > 0})
    per_label = per_label_quota(len(held), settings.inputs_per_label, settings.min_inputs_per_round)
    batches = [test_batch("correct", select_correct_inputs(true, predicted, held, per_label))]
    faulty = spec.faulty_ids  # label flippers, or a planted backdoor client
    if spec.flip_map and set(faulty) & set(participants):  # without a faulty participant no trace could be right
        batches.append(test_batch("misprediction",
                                  select_mispredictions(true, predicted, spec.flip_map, settings.max_mispredictions)))
    for planted_set, x in planted:
        if planted_set.truth in participants:  # a round without the planted client cannot be scored
            batches.append(planted_batch(planted_set, x, global_model, device, settings.max_planted))
    batches = [b for b in batches if len(b.input_ids)]
    if not batches:
        return pd.DataFrame(columns=PROVENANCE_COLUMNS)

    frames = []
    for batch in batches:
        started = time.perf_counter()
        unweighted = trace(
            global_model,
            clients,
            to_device(batch.x, device),
            layer_decay=settings.layer_decay,
            chunk_size=settings.chunk_size,
        )
        # Both client weightings from one trace: the configured one, and data size (paper
        # Eq. 5-6) for the ablation columns.
        weighted = reweight_by_data_size(unweighted, meta["num_examples"])
        result = weighted if settings.client_weighting == "data_size" else unweighted
        seconds = (time.perf_counter() - started) / len(batch.input_ids)
        labels = batch.labels
        col = {c: i for i, c in enumerate(result.client_ids)}
        frame = pd.DataFrame(
            {
                "round": rnd,
                "kind": batch.kind,
                "input_id": batch.input_ids,
                "true_label": labels,
                "predicted_label": result.predicted.cpu().numpy(),
                "traced_client": result.traced,
                "traced_score": [float(result.scores[i, col[c]]) for i, c in enumerate(result.traced)],
                "n_participants": len(participants),
                "global_accuracy": meta["global_accuracy"],
                "seconds": seconds,
            }
        )
        for key, values in label_metrics(result.traced, labels, label_counts).items():
            frame[key] = values
        frame["traced_client_data_size"] = weighted.traced
        weighted_metrics = label_metrics(weighted.traced, labels, label_counts)
        for key in ("label_held", "top_holder"):  # chance levels do not depend on the weighting
            frame[f"{key}_data_size"] = weighted_metrics[key]
        post_flip = label_metrics(result.traced, labels, trained_counts)
        for key in ("label_held", "top_holder"):
            frame[f"{key}_post_flip"] = post_flip[key]
            frame[f"{key}_post_flip_chance"] = post_flip[f"{key}_chance"]
        baselines = {
            "label_count": label_count_rule(frame["predicted_label"].tolist(), trained_counts),
            "last_layer": last_layer_result(result).traced,
        }
        for name, traced in baselines.items():
            frame[f"{name}_client"] = traced
            baseline_metrics = label_metrics(traced, labels, label_counts)
            for key in ("label_held", "top_holder"):
                frame[f"{key}_{name}"] = baseline_metrics[key]
        if faulty:
            for key, values in faulty_metrics(result.traced, faulty, participants).items():
                frame[key] = values
            frame["faulty_traced_data_size"] = faulty_metrics(weighted.traced, faulty, participants)["faulty_traced"]
            for name, traced in baselines.items():
                frame[f"faulty_traced_{name}"] = faulty_metrics(traced, faulty, participants)["faulty_traced"]
        if batch.truth is not None:
            frame["truth_client"] = batch.truth
            scored = faulty_metrics(result.traced, [batch.truth], participants)
            frame["truth_traced"], frame["truth_chance"] = scored["faulty_traced"], scored["faulty_chance"]
            for name, traced in baselines.items():
                frame[f"truth_traced_{name}"] = faulty_metrics(traced, [batch.truth], participants)["faulty_traced"]
            frame["planted_rate"] = batch.planted_rate
        # Selection used a batched prediction (in training's memory layout, channels-last for
        # some models on a CPU: catalog.channels_last); the trace predicts again in its own
        # chunks and the default layout. A near-tie of two logits may flip between them: such
        # an input was not traced for the class it was selected for, so it is left out.
        same = frame["predicted_label"].to_numpy() == batch.selected_as
        if not same.all():
            logger.warning("round %d: %d %s input(s) left out: the trace predicted another class",
                           rnd, int((~same).sum()), batch.kind)
            frame = frame[same]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).reindex(columns=PROVENANCE_COLUMNS)


def coverage(rounds: list[int], table: pd.DataFrame) -> dict:
    return {"rounds": [int(r) for r in rounds], "rows": int(len(table))}


def run_provenance(
    spec: RunSpec,
    dataset_dir: str | Path,
    run_dir: str | Path,
    out_csv: str | Path,
    settings: ProvenanceSettings = ProvenanceSettings(),
    device: str = "auto",
) -> pd.DataFrame:
    """Trace every completed round of ``run_dir`` and write ``out_csv`` atomically."""
    dev = resolve_device(device)
    check_store(dataset_dir, spec.data.name, spec.data.kind, spec.num_classes)
    rounds = completed_rounds(run_dir)
    if len(rounds) < spec.rounds:
        raise InputError(f"{run_dir}: {len(rounds)} of {spec.rounds} rounds on disk; train the run first")
    x_test, y_test = server_tensors(
        spec.data, dataset_dir, spec.max_server_samples, model=spec.model, max_length=spec.max_length
    )
    planted = []
    if spec.scenario != NONE:
        x_raw, y_raw = load_split(dataset_dir, "test")
        n = spec.max_server_samples
        planted = [(s, model_inputs(s.x, spec.data, spec.model, spec.max_length))
                   for s in planted_test_sets(spec.scenario, x_raw[:n], y_raw[:n], spec.data.kind)]
    frames = [
        trace_round(spec, run_dir, rnd, x_test, y_test, settings, dev, planted)
        for rnd in tqdm(rounds, desc=f"provenance {spec.run_id}")
    ]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PROVENANCE_COLUMNS)
    for key in HIT_COLUMNS:
        table[key] = table[key].astype("Int64")
    # What a complete table holds, written first: a reader can tell a cut file from a whole one.
    write_json(coverage(rounds, table), coverage_path(out_csv), sort_keys=True)
    write_csv(table, out_csv)
    return table
