"""The provenance step: trace every round of a finished training run -> provenance.csv."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

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
from tracefl.models.inputs import Inputs, to_device
from tracefl.provenance import last_layer_result, reweight_by_data_size, trace
from tracefl.provenance.batches import round_predictions, select_batches
from tracefl.provenance.columns import HIT_COLUMNS, PROVENANCE_COLUMNS
from tracefl.provenance.metrics import post_flip_counts
from tracefl.provenance.scoring import (
    baseline_scores,
    baseline_traces,
    drop_near_ties,
    faulty_scores,
    ground_truth_scores,
    label_scores,
    post_flip_scores,
    weighting_scores,
)
from tracefl.runs.checkpoint import completed_rounds
from tracefl.runs.layout import coverage_path
from tracefl.runs.load import round_models


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
    """Trace the selected test inputs of one round and score them; an empty frame when none qualifies.

    ``planted``: a ground-truth run's planted test sets (tracefl.data.scenarios) with their
    model inputs; those the model predicts as planted are traced and scored against the
    client that planted them.
    """
    global_model, clients, meta = round_models(spec, run_dir, rnd, device)
    participants: list[str] = meta["participants"]
    label_counts = {c: {int(k): int(v) for k, v in meta["label_counts"][c].items()} for c in participants}
    trained_counts = post_flip_counts(label_counts, [str(c) for c in spec.faulty_clients], spec.flip_map)
    faulty = spec.faulty_ids  # label flippers, or a planted backdoor client
    batches = select_batches(
        x_test, y_test.numpy(), round_predictions(meta, global_model, x_test, device), label_counts,
        inputs_per_label=settings.inputs_per_label, min_inputs_per_round=settings.min_inputs_per_round,
        flip_map=spec.flip_map, faulty=faulty, max_mispredictions=settings.max_mispredictions,
        planted=planted, global_model=global_model, device=device, max_planted=settings.max_planted,
    )
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
        index = {c: i for i, c in enumerate(result.client_ids)}
        frame = pd.DataFrame(
            {
                "round": rnd,
                "kind": batch.kind,
                "input_id": batch.input_ids,
                "true_label": labels,
                "predicted_label": result.predicted.cpu().numpy(),
                "traced_client": result.traced,
                "traced_score": [float(result.scores[i, index[c]]) for i, c in enumerate(result.traced)],
                "n_participants": len(participants),
                "global_accuracy": meta["global_accuracy"],
                "seconds": seconds,
            }
        )
        baselines = baseline_traces(frame["predicted_label"].tolist(), last_layer_result(result).traced, trained_counts)
        scores = {
            **label_scores(result.traced, labels, label_counts),
            **weighting_scores(weighted.traced, labels, label_counts),
            **post_flip_scores(result.traced, labels, trained_counts),
            **baseline_scores(baselines, labels, label_counts),
        }
        if faulty:
            scores.update(faulty_scores(result.traced, weighted.traced, baselines, faulty, participants))
        if batch.truth is not None:
            scores.update(ground_truth_scores(result.traced, baselines, batch.truth, participants, batch.planted_rate))
        for key, values in scores.items():
            frame[key] = values
        frames.append(drop_near_ties(frame, batch.selected_as, rnd, batch.kind))
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
