"""The contributions step (the paper's Figure 1): every client's TraceFL contribution to a few
test inputs of two labels, beside each client's training examples per label.

The paper's Figure 1 shows, for four test images of two labels, TraceFL's per-client output
as heatmaps next to which hospital holds which labels. This step traces the last round of a
finished run for such inputs and writes two tables the report draws:

- ``contributions.csv``: one row per (input, client): ``input, round, predicted, label,
  client, contribution, label_examples, traced, holds_label``;
- ``client_labels.csv``: one row per (client, label) a client trained on: ``client, label, examples``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tracefl.atomic import write_csv
from tracefl.config import ProvenanceSettings, RunSpec
from tracefl.data.store import check_store
from tracefl.data.tensors import server_tensors
from tracefl.errors import InputError
from tracefl.explain.recorded import RecordedRun
from tracefl.models.builders import build_model
from tracefl.runs.layout import read_meta

#: Labels shown and test inputs per label (the paper's Figure 1: four inputs of two labels).
LABELS_SHOWN = 2
INPUTS_PER_LABEL = 2
#: Test inputs of a label traced to find correctly predicted ones among them.
CANDIDATES_PER_LABEL = 20
CLIENT_LABEL_COLUMNS = ["client", "label", "examples"]


def shown_labels(num_classes: int) -> list[int]:
    """Label 0 and the label half-way round: in the neighbouring-labels partition no client holds both."""
    return [0, num_classes // 2][:LABELS_SHOWN]


def client_labels(run_dir: str | Path, rounds: list[int]) -> pd.DataFrame:
    """Each client's training examples per label, as the rounds' ``meta.json`` recorded them."""
    counts: dict[str, dict[str, int]] = {}
    for rnd in rounds:
        for client, per_label in (read_meta(Path(run_dir), rnd).get("label_counts") or {}).items():
            counts.setdefault(str(client), {k: int(v) for k, v in per_label.items()})
    if not counts:
        raise InputError(f"{run_dir}: no round recorded its clients' label counts; train the run again")
    rows = [{"client": int(c), "label": int(k), "examples": n}
            for c, per_label in counts.items() for k, n in per_label.items() if n > 0]
    return pd.DataFrame(rows, columns=CLIENT_LABEL_COLUMNS).sort_values(["client", "label"], ignore_index=True)


def run_contributions(
    spec: RunSpec,
    dataset_dir: str | Path,
    run_dir: str | Path,
    out_csv: str | Path,
    labels_csv: str | Path,
    settings: ProvenanceSettings = ProvenanceSettings(),
    device: str = "auto",
) -> pd.DataFrame:
    """Trace the last round of ``run_dir`` for two test inputs of each of two labels (correctly
    predicted ones first, lowest test index first); write both tables atomically."""
    check_store(dataset_dir, spec.data.name, spec.data.kind, spec.num_classes)
    run = RecordedRun(run_dir, lambda: build_model(spec.model, spec.num_classes, pretrained=False))
    if len(run.rounds) < spec.rounds:
        raise InputError(f"{run_dir}: {len(run.rounds)} of {spec.rounds} rounds on disk; train the run first")
    x_test, y_test = server_tensors(spec.data, dataset_dir, spec.max_server_samples, model=spec.model,
                                    max_length=spec.max_length)
    labels = shown_labels(spec.num_classes)
    candidates = [i for label in labels for i in (y_test == label).nonzero().flatten()[:CANDIDATES_PER_LABEL].tolist()]
    missing = [label for label in labels if not (y_test == label).any()]
    if missing:
        raise InputError(f"{dataset_dir}: the server's test set has no input of label(s) {missing}; "
                         "raise max_server_samples")
    explanation = run.explain(x_test, device=device, labels=y_test, select=candidates,
                              layer_decay=settings.layer_decay, client_weighting=settings.client_weighting,
                              chunk_size=settings.chunk_size)
    rows: list[int] = []
    for label in labels:
        of_label = [r for r, i in enumerate(explanation.index) if int(y_test[i]) == label]
        correct = [r for r in of_label if int(explanation.predicted[r]) == label]
        rows += (correct + [r for r in of_label if r not in correct])[:INPUTS_PER_LABEL]
    table = explanation.subset(rows, "figure 1's inputs").table()
    counts = client_labels(run_dir, run.rounds)
    held = {(int(r.client), int(r.label)) for r in counts.itertuples()}
    table["holds_label"] = [(int(c), int(l)) in held for c, l in zip(table["client"], table["label"])]
    write_csv(counts, labels_csv)
    write_csv(table, out_csv)
    return table
