"""The repair step: audit a run over every round, then re-aggregate its last round by every way
of choosing whom to exclude and by Flower's robust strategies -> repair.csv (the repair item's rows).

Each row is one method on one run: whom it excluded, the re-aggregated model's accuracy on the
server test set (and a backdoor's attack success) beside the recorded model's ("before"), and
precision / recall at naming the run's truly faulty clients.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tracefl.atomic import write_csv
from tracefl.config import RunSpec
from tracefl.errors import InputError
from tracefl.runs.checkpoint import completed_rounds
from tracefl.seeding import derive_seed

#: The audit traces the first this many server test inputs in every round (accuracy uses them all).
DEFAULT_AUDIT_INPUTS = 500
REPAIR_COLUMNS = ["run_id", "round", "method", "excluded", "flagged", "faulty", "accuracy", "accuracy_before",
                  "attack_success", "attack_success_before", "precision", "recall"]


def run_repair(spec: RunSpec, run_dir: str | Path, data_dir: str | Path, out_csv: str | Path,
               audit_inputs: int = DEFAULT_AUDIT_INPUTS, device: str = "cpu") -> pd.DataFrame:
    """Audit ``run_dir`` (its server test set's first ``audit_inputs`` inputs, every round), then compare
    the repairs of its last round (:func:`tracefl.audit.repair.repair_table`); write and return the rows."""
    from tracefl.audit.inputs import workflow_attack_set, workflow_test_set
    from tracefl.audit.repair import repair_table
    from tracefl.explain import load_run

    rounds = completed_rounds(run_dir)
    if len(rounds) < spec.rounds:
        raise InputError(f"{run_dir}: {len(rounds)} of {spec.rounds} rounds on disk; train the run first")
    run = load_run(run_dir)
    inputs, labels = workflow_test_set(run_dir, data_dir)
    audit = run.audit(inputs[:audit_inputs], labels[:audit_inputs], device=device)
    last = run.rounds[-1]
    table = repair_table(run, audit, inputs, labels, last, spec.faulty_ids, seed=derive_seed(spec.seed, "repair"),
                         attack_set=workflow_attack_set(run_dir, data_dir),
                         validation=(inputs[:audit_inputs], labels[:audit_inputs]))
    before = table[table["method"] == "nobody"].iloc[0]
    table = table.assign(run_id=spec.run_id, flagged=" ".join(audit.flagged), faulty=" ".join(spec.faulty_ids),
                         accuracy_before=before["accuracy"], attack_success_before=before["attack_success"])
    table = table.reindex(columns=REPAIR_COLUMNS)
    write_csv(table, out_csv)
    return table
