"""A finished run as the figures and tables read it, and its summaries.

Every summary puts TraceFL's accuracy beside its chance level, the strict "top holder"
metric (for correct predictions), the global model accuracy and how many inputs were
traced, so no number stands without what it must be compared with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tracefl.config import RunSpec
from tracefl.data.scenarios import BACKDOOR
from tracefl.errors import InputError, reading
from tracefl.provenance.columns import (
    CORRECT,
    FAULTY_CHANCE,
    FAULTY_TRACED,
    KIND,
    LABEL_COUNT,
    LABEL_HELD,
    LABEL_HELD_CHANCE,
    LAST_LAYER,
    MISPREDICTION,
    SECONDS,
    TOP_HOLDER,
    TOP_HOLDER_CHANCE,
    TRACED_CLIENT,
    scored_by,
)
from tracefl.runs.layout import coverage_path
from tracefl.models.catalog import display_name
from tracefl.report.learned import final_accuracy, is_conclusive, learned_threshold
from tracefl.report.summary import pct, per_round, per_run


#: A run's summary column (figure and table CSVs) -> the provenance column it averages on
#: correct predictions (per round, then over rounds; in %): one name per number from CSV to
#: caption, the figures' labels are looked up by the provenance column (rounds_plot.CURVES).
SUMMARY_OF = {
    "tracefl_pct": LABEL_HELD,
    "chance_pct": LABEL_HELD_CHANCE,
    "top_holder_pct": TOP_HOLDER,
    "top_holder_chance_pct": TOP_HOLDER_CHANCE,
    # baselines on the same inputs: the label-count rule is the top holder by construction
    "label_count_top_holder_pct": scored_by(TOP_HOLDER, LABEL_COUNT),
    "last_layer_pct": scored_by(LABEL_HELD, LAST_LAYER),
    "last_layer_top_holder_pct": scored_by(TOP_HOLDER, LAST_LAYER),
}


@dataclass
class RunResult:
    """A finished run: its settings, rounds, provenance rows and (faulty runs) FedDebug rows."""

    spec: RunSpec
    rounds: pd.DataFrame
    provenance: pd.DataFrame
    feddebug: pd.DataFrame | None = None
    # Where the run's files are (items that read more than the tables above, e.g. Figure 1).
    run_dir: Path | None = None
    repair: pd.DataFrame | None = None  # tracefl.steps.repair's rows, where the run has them

    @classmethod
    def load(cls, spec: RunSpec, runs_dir: str | Path) -> "RunResult":
        """Read a run's tables, refusing any that does not cover every round of the run."""
        run = Path(runs_dir) / spec.run_id
        expected = list(range(1, spec.rounds + 1))
        rounds = read_rounds(run, spec.rounds, "run the training step again")
        provenance = _read_provenance(run / "provenance.csv", expected)
        feddebug = None
        if (run / "feddebug.csv").exists():
            feddebug = read_table(run / "feddebug.csv", ["round", "score"], "run the feddebug step again")
            if feddebug[["round", "score"]].isna().any().any():
                raise InputError(f"{run / 'feddebug.csv'}: incomplete rows; run the feddebug step again")
        repair = None
        if (run / "repair.csv").exists():
            repair = read_table(run / "repair.csv", ["method", "accuracy"], "run the repair step again")
        return cls(spec, rounds, provenance, feddebug, run, repair)

    def summary(self) -> dict:
        """Averages over rounds, as the paper reports them."""
        row = {
            "dataset": self.spec.data.display,
            "model": display_name(self.spec.model),
            "alpha": self.spec.alpha,
            "clients": self.spec.num_clients,
            "per_round": self.spec.clients_per_round,
            "rounds": self.spec.rounds,
        }
        correct = per_run(per_round(self.provenance, self.rounds, CORRECT))
        row["traced_correct"] = correct["inputs_traced"]
        row.update({name: correct[pct(column)] for name, column in SUMMARY_OF.items()})
        row.update(
            best_global_acc_pct=correct["best_global_accuracy_pct"],
            last_global_acc_pct=correct["last_global_accuracy_pct"],
            final_global_acc_pct=correct["final_global_accuracy_pct"],
            tracefl_s_per_input=correct["seconds_per_input"],
            # a model below the dataset's learned accuracy leaves the numbers above unreadable
            learned_threshold_pct=learned_threshold(self.spec.dataset),
            conclusive=is_conclusive(self.spec.dataset, correct["final_global_accuracy_pct"]),
            run_id=self.spec.run_id,
        )
        return row

    def twin_summary(self) -> dict:
        """A faulty run judged on its fault-free twin (RunSpec.fault_free_twin, trained beside it in
        runs_dir): the twin's final accuracy and whether it learned. The fault lowers the run's own
        accuracy by design, so its own model says how much the fault hurt, the twin whether the setting
        learns. Empty for a run without a fault."""
        twin = self.spec.fault_free_twin
        if twin is None:
            return {}
        rounds = read_rounds(Path(self.run_dir).parent / twin.run_id, twin.rounds,
                             f"train run {twin.run_id} (the fault-free twin of {self.spec.run_id})", ("round", "global_accuracy"))
        accuracy = final_accuracy(rounds["global_accuracy"].tolist()) * 100
        return {"twin_final_global_acc_pct": accuracy, "conclusive": is_conclusive(self.spec.dataset, accuracy)}

    def dp_summary(self) -> dict:
        """The run's DP setting (noise multiplier, clipping norm) before its summary: Figure 4 and Table II."""
        return {"dp_noise": self.spec.dp_noise, "dp_clip": self.spec.dp_clip, **self.summary()}

    def faulty_summary(self) -> dict:
        """Faulty-client localization on mispredictions, TraceFL beside FedDebug and chance.

        A planted backdoor's faulty predictions are its triggered inputs predicted as the target.
        """
        mis = self.provenance[self.provenance[KIND].isin([MISPREDICTION, BACKDOOR])]
        by_round = mis.groupby("round")
        row = {
            "traced_mispredictions": int(len(mis)),
            "rounds_with_mispredictions": int(by_round.ngroups),
            "tracefl_faulty_pct": _pct(by_round, FAULTY_TRACED, mis),
            "faulty_chance_pct": _pct(by_round, FAULTY_CHANCE, mis),
            "label_count_faulty_pct": _pct(by_round, scored_by(FAULTY_TRACED, LABEL_COUNT), mis),
            "last_layer_faulty_pct": _pct(by_round, scored_by(FAULTY_TRACED, LAST_LAYER), mis),
            # per round, then over rounds, like every other number here
            "tracefl_mis_s_per_input": float(by_round[SECONDS].mean().mean()) if len(mis) else float("nan"),
        }
        if self.feddebug is not None and len(self.feddebug):
            fd = self.feddebug.groupby("round")
            row["feddebug_pct"] = float(fd["score"].mean().mean() * 100)
            row["feddebug_s_per_input"] = float(self.feddebug["seconds"].mean())
        else:
            row["feddebug_pct"] = float("nan")
            row["feddebug_s_per_input"] = float("nan")
        return row


def _pct(by_round, column: str, rows: pd.DataFrame) -> float:
    """Mean per round, then over rounds, in %; NaN without rows (or without the column)."""
    if not len(rows) or column not in rows.columns:
        return float("nan")
    return float(by_round[column].mean().mean() * 100)


def read_rounds(run_dir: Path, rounds: int, fix: str, columns: tuple[str, ...] = ("round",)) -> pd.DataFrame:
    """A run's rounds.csv with ``columns``, refused (one :class:`InputError` saying ``fix``) unless it
    covers rounds 1..``rounds``."""
    path = run_dir / "rounds.csv"
    table = read_table(path, list(columns), fix)
    if table["round"].tolist() != list(range(1, rounds + 1)):
        raise InputError(f"{path}: rounds {table['round'].tolist()}, expected 1..{rounds}; {fix}")
    return table


def read_table(path: Path, columns: list[str], fix: str) -> pd.DataFrame:
    """A CSV table with (at least) ``columns``; anything else is one :class:`InputError` naming it."""
    with reading(path, fix):
        table = pd.read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{path}: no column(s) {', '.join(missing)}; {fix}")
    return table


def _read_provenance(path: Path, expected_rounds: list[int]) -> pd.DataFrame:
    """provenance.csv, checked against the rounds and row count the step recorded beside it."""
    fix = "run the provenance step again"
    needed = ["round", KIND, "input_id", TRACED_CLIENT, LABEL_HELD, LABEL_HELD_CHANCE]
    table = read_table(path, needed, fix)
    with reading(coverage_path(path), fix):
        recorded = json.loads(coverage_path(path).read_text())
    if recorded.get("rounds") != expected_rounds:
        raise InputError(f"{path}: traced rounds {recorded.get('rounds')}, expected 1..{len(expected_rounds)}; {fix}")
    if len(table) != recorded.get("rows") or table[needed].isna().any().any():
        raise InputError(f"{path}: {len(table)} complete rows of {recorded.get('rows')} written (a cut file?); {fix}")
    return table
