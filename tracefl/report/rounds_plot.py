"""Per-round panels (Figures 2 and 5): TraceFL's localization accuracy and the global model's
accuracy per round as the paper plots them, the strict metric, the baselines and chance lighter
behind them; one panel per setting (its seeds: mean and a 95% band)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from tracefl.config import RunSpec
from tracefl.provenance.columns import (
    LABEL_COUNT,
    LABEL_HELD,
    LABEL_HELD_CHANCE,
    LAST_LAYER,
    TOP_HOLDER,
    TOP_HOLDER_CHANCE,
    scored_by,
)
from tracefl.report.learned import final_accuracy, inconclusive_note, is_conclusive, learned_threshold
from tracefl.report.panel_titles import panel_title, seeds_text
from tracefl.report.results import RunResult
from tracefl.report.seeds import HIGH, LOW, aggregate_seeds
from tracefl.report.style import (
    NOTE_PAD,
    LOOKS,
    accuracy_axis,
    grid_shape,
    hide_unused,
    label_outer,
    legend_below,
    new_figure,
    note,
    panel_width_in,
    paper_style,
    save_figure,
)
from tracefl.report.summary import mean_ci95, per_round, per_run


@dataclass
class Panel:
    """One panel: the runs of one setting, one per seed (one run: no band)."""

    runs: list[RunResult]

    @property
    def spec(self) -> RunSpec:
        return self.runs[0].spec


#: Per-round curves: column -> its look (:data:`tracefl.report.style.LOOKS`; leads get a 95% band over seeds).
CURVES = {
    LABEL_HELD: "tracefl",
    "global_accuracy": "model",
    TOP_HOLDER: "tracefl_strict",
    scored_by(TOP_HOLDER, LAST_LAYER): "last_layer",
    scored_by(TOP_HOLDER, LABEL_COUNT): "label_count",
    LABEL_HELD_CHANCE: "chance",
    TOP_HOLDER_CHANCE: "chance_strict",
}


def seed_rounds(runs: list[RunResult], tables: list[pd.DataFrame] | None = None) -> pd.DataFrame:
    """Per round, the mean over the kept seeds of every curve, with ``_ci95_low``/``_ci95_high``
    (no band for chance levels or one seed) and the inputs traced summed over those seeds.
    ``tables``: the runs' :func:`per_round` tables where the caller has them already."""
    tables = tables if tables is not None else [per_round(r.provenance, r.rounds) for r in runs]
    conclusive = [is_conclusive(r.spec.dataset, final_accuracy(t["global_accuracy"])) for r, t in zip(runs, tables)]
    kept = [t for t, ok in zip(tables, conclusive) if ok] or tables
    stacked = pd.concat(kept, keys=range(len(kept)), names=["seed_index"]).reset_index(level=0)
    rows = []
    for rnd, group in stacked.groupby("round", sort=True):
        row = {"round": rnd, "n_traced": int(group["n_traced"].sum())}
        for column in CURVES:
            mean, low, high = mean_ci95(group[column].to_numpy(dtype=float), bounds=(0.0, 100.0))
            row.update({column: mean, column + LOW: low, column + HIGH: high})
        rows.append(row)
    return pd.DataFrame(rows)


def plot_round_panels(panels: list[Panel], prefix: Path) -> pd.DataFrame:
    """Draw the panels into ``prefix.{pdf,png}`` and the per-run averages into ``prefix.csv``."""
    specs = [panel.spec for panel in panels]
    rows, cols = grid_shape(len(panels))
    summaries = []
    with paper_style():
        fig, axes = new_figure(rows, cols)
        for i, panel in enumerate(panels):
            ax = axes.flat[i]
            tables = [per_round(r.provenance, r.rounds) for r in panel.runs]
            runs = [{"group": "panel", "seed": r.spec.seed, "run_id": r.spec.run_id, "dataset": r.spec.dataset,
                     "model": r.spec.model, **per_run(t)} for r, t in zip(panel.runs, tables)]
            for row in runs:
                row.update(learned_threshold_pct=learned_threshold(row["dataset"]),
                           conclusive=is_conclusive(row["dataset"], row["final_global_accuracy_pct"]))
            summary = aggregate_seeds(pd.DataFrame(runs)).iloc[0].to_dict()
            summaries.append({"panel": string.ascii_lowercase[i], **summary})
            table = seed_rounds(panel.runs, tables)
            x = table["round"]
            for column, key in CURVES.items():
                look = LOOKS[key]
                ax.plot(x, table[column], **look.line(len(x)))
                # a band over seeds for what the paper plots; none for one seed (its interval is NaN)
                if look.lead and table[column + LOW].notna().any():
                    ax.fill_between(x, table[column + LOW], table[column + HIGH], color=look.color, alpha=0.15,
                                    lw=0, zorder=look.zorder - 1)
            averaged = summary["conclusive_seeds"] or summary["seeds"]
            extra = [f"{summary['inputs_traced']} inputs", seeds_text(averaged)]
            ax.set_title(panel_title(i, panel.spec, specs, extra, panel_width_in(fig, cols)),
                         pad=NOTE_PAD if summary["seeds"] - summary["conclusive_seeds"] else None)
            weak = summary["seeds"] - summary["conclusive_seeds"]
            if weak:
                note(ax, f"{weak} of {summary['seeds']} seeds inconclusive, left out" if summary["conclusive"]
                      else inconclusive_note(panel.spec.dataset, summary["final_global_accuracy_pct"])
                      + (f" (all {summary['seeds']} seeds)" if summary["seeds"] > 1 else ""))
            accuracy_axis(ax)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        hide_unused(axes, len(panels))
        label_outer(axes, len(panels), "Communication rounds")
        legend_below(fig, axes.flat, fig.get_figwidth())
        save_figure(fig, prefix)
    summary_table = pd.DataFrame(summaries)
    summary_table.to_csv(prefix.with_suffix(".csv"), index=False)
    return summary_table
