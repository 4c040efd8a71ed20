"""Tables I-III and the client-weighting ablation, each as CSV, Markdown and LaTeX.

Builders of the paper-item catalog (:mod:`tracefl.config.items`): ``builder(results,
prefix, item)`` writes ``prefix.{csv,md,tex}`` with the item's caption.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tracefl.data.scenarios import BACKDOOR, BACKDOOR_TARGET
from tracefl.models.catalog import display_name
from tracefl.config.items import Item
from tracefl.provenance.columns import (
    CORRECT,
    DATA_SIZE,
    LABEL_HELD,
    LABEL_HELD_CHANCE,
    TOP_HOLDER,
    TOP_HOLDER_CHANCE,
    scored_by,
)
from tracefl.report.results import RunResult
from tracefl.report.learned import is_conclusive
from tracefl.report.seeds import summaries_by_setting, with_interval, with_interval_columns
from tracefl.report.summary import pct, per_round, per_run


def write_table(table: pd.DataFrame, prefix: str | Path, caption: str) -> None:
    """The same table as CSV (full precision, intervals in their own columns), Markdown and
    LaTeX (rounded; a metric and its 95% interval in one cell, ``mean [low, high]``)."""
    prefix = Path(prefix)
    table.to_csv(prefix.with_suffix(".csv"), index=False)
    shown = table.drop(columns=[c for c in table.columns if c == "run_id"])
    shown = shown.round({c: 1 for c in shown.columns if c.endswith("_pct")} | {c: 4 for c in shown.columns if "_s_" in c})
    shown = with_interval(shown)
    prefix.with_suffix(".md").write_text(f"{caption}\n\n{shown.to_markdown(index=False)}\n")
    prefix.with_suffix(".tex").write_text(
        shown.to_latex(index=False, caption=caption, label=f"tab:{prefix.name}", float_format="%g", na_rep="NA")
    )


def fault_description(spec) -> str:
    """What the faulty client does, in a table cell: every label to one, one label, or a backdoor."""
    if spec.scenario == BACKDOOR:
        return f"backdoor (trigger -> {BACKDOOR_TARGET})"
    flips = spec.flip_map
    targets = sorted(set(flips.values()))
    if len(flips) > 1 and len(targets) == 1 and len(flips) == spec.num_classes - 1:
        return f"all labels -> {targets[0]}"
    return ", ".join(f"{src} -> {dst}" for src, dst in sorted(flips.items()))


def table1(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Table I: faulty-client localization, TraceFL vs FedDebug vs chance, per dataset, fault and alpha."""
    table = summaries_by_setting(results, lambda r: {"fault": fault_description(r.spec), **r.summary(),
                                                     **r.faulty_summary()})
    cols = [
        "dataset", "model", "fault", "alpha", "clients", "rounds", "seeds", "traced_mispredictions", "tracefl_faulty_pct",
        "faulty_chance_pct", "feddebug_pct", "label_count_faulty_pct", "last_layer_faulty_pct", "traced_correct",
        "tracefl_pct", "chance_pct", "top_holder_pct", "top_holder_chance_pct", "label_count_top_holder_pct",
        "last_layer_top_holder_pct", "best_global_acc_pct", "last_global_acc_pct", "learned_threshold_pct",
        "conclusive", "conclusive_seeds", "tracefl_mis_s_per_input", "feddebug_s_per_input", "run_id",
    ]
    table = table[with_interval_columns(table, cols)]
    write_table(table, prefix, item.caption)
    return table


def table2(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Table II: TraceFL under server-side differential privacy (noise multiplier, clipping norm)."""
    table = summaries_by_setting(results, RunResult.dp_summary)
    write_table(table, prefix, item.caption)
    return table


def table3(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Table III: scalability in the number of clients."""
    table = summaries_by_setting(results, RunResult.summary).sort_values(["dataset", "model", "clients"])
    write_table(table, prefix, item.caption)
    return table


ABLATION_METRICS = [LABEL_HELD, scored_by(LABEL_HELD, DATA_SIZE), LABEL_HELD_CHANCE,
                    TOP_HOLDER, scored_by(TOP_HOLDER, DATA_SIZE), TOP_HOLDER_CHANCE]


def ablation_weighting(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Ablation of client weighting: each trace scored without (the artifact's default) and
    with data-size weighting p_k = n_k / sum n (paper Eq. 5-6), beside the chance levels."""
    def scored(r: RunResult) -> dict:
        summary = per_run(per_round(r.provenance, r.rounds, CORRECT, ABLATION_METRICS), ABLATION_METRICS)
        return {
            "dataset": r.spec.data.display,
            "model": display_name(r.spec.model),
            "alpha": r.spec.alpha,
            "clients": r.spec.num_clients,
            "per_round": r.spec.clients_per_round,
            "rounds": r.spec.rounds,
            "traced_correct": summary["inputs_traced"],
            **{pct(m): summary[pct(m)] for m in ABLATION_METRICS},
            "conclusive": is_conclusive(r.spec.dataset, summary["last_global_accuracy_pct"]),
            "run_id": r.spec.run_id,
        }

    table = summaries_by_setting(results, scored)
    write_table(table, prefix, item.caption)
    return table
