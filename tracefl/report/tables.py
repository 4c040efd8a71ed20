"""Tables I-III and the client-weighting ablation, each as CSV, Markdown and LaTeX.

Builders of the paper-item catalog (:mod:`tracefl.config.items`): ``builder(results,
prefix, item)`` writes ``prefix.csv`` with every column and ``prefix.{md,tex}`` shaped like
the paper's table (:mod:`tracefl.report.table_files`): its columns (:data:`SHOWN`) and a
one-sentence caption (:func:`caption`).
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
from tracefl.report.seeds import summaries_by_setting, with_interval_columns
from tracefl.report.summary import pct, per_round, per_run
from tracefl.report.table_files import DAGGER, Shown, write_table

#: Said by every caption: what a cell is.
MEANS = "mean over seeds with TraceFL's 95% interval where there are several"
CELLS = f"{MEANS}, {DAGGER} inconclusive (model below its learned accuracy)"
_DATASET, _MODEL = Shown("dataset", "Dataset", "text"), Shown("model", "Model", "text")
_SEEDS = Shown("seeds", "Seeds", "count")
_MODEL_ACC = Shown("final_global_acc_pct", "Model acc.", dagger=True)  # the last 3 rounds', as the dagger reads it
#: Correct predictions: TraceFL by the paper's metric and chance, then the strict metric with the baselines.
_CORRECT = [Shown("traced_correct", "n", "count"), Shown("tracefl_pct", "TraceFL", interval=True),
            Shown("chance_pct", "Chance"), Shown("top_holder_pct", "Strict"),
            Shown("last_layer_top_holder_pct", "Last layer"), Shown("label_count_top_holder_pct", "Label count"),
            _MODEL_ACC]
#: The ablation's metrics: each as configured and weighted by data size, then its chance level.
ABLATION_METRICS = [LABEL_HELD, scored_by(LABEL_HELD, DATA_SIZE), LABEL_HELD_CHANCE,
                    TOP_HOLDER, scored_by(TOP_HOLDER, DATA_SIZE), TOP_HOLDER_CHANCE]
#: The printed columns of each table (the CSV keeps every column).
SHOWN: dict[str, list[Shown]] = {
    "table1": [_DATASET, _MODEL, Shown("fault", "Fault", "text"), Shown("alpha", "α", "number"), _SEEDS,
               Shown("traced_mispredictions", "n", "count"), Shown("tracefl_faulty_pct", "TraceFL", interval=True),
               Shown("feddebug_pct", "FedDebug"), Shown("label_count_faulty_pct", "Label count"),
               Shown("last_layer_faulty_pct", "Last layer"), Shown("faulty_chance_pct", "Chance"),
               Shown("twin_final_global_acc_pct", "No-fault acc.", dagger=True)],
    "table2": [_DATASET, _MODEL, Shown("dp_noise", "Noise", "number"), Shown("dp_clip", "Clip", "number"), _SEEDS,
               *_CORRECT],
    "table3": [_DATASET, _MODEL, Shown("clients", "Clients", "count"), Shown("per_round", "Per round", "count"),
               _SEEDS, *_CORRECT],
    "ablation_weighting": [_DATASET, _MODEL, Shown("alpha", "α", "number"), _SEEDS,
                           Shown("traced_correct", "n", "count"),
                           *(Shown(pct(metric), header, interval=metric == LABEL_HELD, dagger=metric == LABEL_HELD)
                             for metric, header in zip(ABLATION_METRICS, ("TraceFL", "TraceFL p_k", "Chance", "Strict",
                                                                          "Strict p_k", "Chance strict")))],
}
_CORRECT_WHAT = ("% of correct predictions traced to a client holding their label (TraceFL, chance) and to its "
                 "top holder (strict, last layer, label count; n: inputs traced; model acc.: mean of the last three rounds)")
#: What each table shows, the middle of its one-sentence caption.
_WHAT = {
    "table1": "% of mispredictions traced to the faulty client (FedDebug: image models only; n: mispredictions "
              "traced; no-fault accuracy: the setting trained without the fault, mean of its last three rounds, "
              f"{DAGGER} below its learned accuracy: inconclusive)",
    "table2": _CORRECT_WHAT,
    "table3": _CORRECT_WHAT,
    "ablation_weighting": "% of correct predictions traced to a client holding their label and to its top holder "
                          "(strict), unweighted and weighted by data size p_k = n_k / Σn (the paper's equations 5-6)",
}


def caption(item, what: str | None = None, cells: str = CELLS) -> str:
    """The table's one-sentence caption: its title, what it shows, what a cell is, where the rest is."""
    return f"{item.title}, {what or _WHAT[item.name]}, {cells}; all columns in {item.name}.csv."


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
    # twin_summary's conclusive (the fault-free twin learned) replaces summary's (the faulty model did)
    table = summaries_by_setting(results, lambda r: {"fault": fault_description(r.spec), **r.summary(),
                                                     **r.faulty_summary(), **r.twin_summary()})
    cols = [
        "dataset", "model", "fault", "alpha", "clients", "rounds", "seeds", "traced_mispredictions", "tracefl_faulty_pct",
        "faulty_chance_pct", "feddebug_pct", "label_count_faulty_pct", "last_layer_faulty_pct", "traced_correct",
        "tracefl_pct", "chance_pct", "top_holder_pct", "top_holder_chance_pct", "label_count_top_holder_pct",
        "last_layer_top_holder_pct", "best_global_acc_pct", "last_global_acc_pct", "final_global_acc_pct",
        "twin_final_global_acc_pct", "learned_threshold_pct",
        "conclusive", "conclusive_seeds", "tracefl_mis_s_per_input", "feddebug_s_per_input", "run_id",
    ]
    table = table[with_interval_columns(table, cols)]
    write_table(table, prefix, caption(item, cells=MEANS), SHOWN["table1"])  # its dagger is said in _WHAT
    return table


def table2(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Table II: TraceFL under server-side differential privacy (noise multiplier, clipping norm)."""
    table = summaries_by_setting(results, RunResult.dp_summary)
    write_table(table, prefix, caption(item), SHOWN["table2"])
    return table


def table3(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Table III: scalability in the number of clients."""
    table = summaries_by_setting(results, RunResult.summary).sort_values(["dataset", "model", "clients"])
    write_table(table, prefix, caption(item), SHOWN["table3"])
    return table


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
            "conclusive": is_conclusive(r.spec.dataset, summary["final_global_accuracy_pct"]),
            "run_id": r.spec.run_id,
        }

    table = summaries_by_setting(results, scored)
    write_table(table, prefix, caption(item), SHOWN["ablation_weighting"])
    return table
