"""Figures 2-6 of the paper, each as PDF, PNG and the CSV of the numbers behind it.

Builders of the paper-item catalog (:mod:`tracefl.config.items`): ``builder(results,
prefix, item)`` writes ``prefix.{pdf,png,csv}``. Per-round figures (2 and 5) are drawn
by :mod:`tracefl.report.rounds_plot`.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd

from tracefl.config.items import Item
from tracefl.report.panel_titles import seeds_text, wrap
from tracefl.report.results import SUMMARY_OF, RunResult
from tracefl.report.rounds_plot import CURVES, Panel, plot_round_panels
from tracefl.report.seeds import HIGH, LOW, group_by_settings, summaries_by_setting
from tracefl.report.style import (
    COLUMN_WIDTH_IN,
    FULL_WIDTH_IN,
    LOOKS,
    NOTE_PAD,
    TITLE_PT,
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
from tracefl.report.summary import mean_ci95


def figure2(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Figure 2: localization accuracy and global model accuracy per round, one panel per setting
    (the mean of its seeds with a 95% band)."""
    return plot_round_panels([Panel(runs) for runs in group_by_settings(results)], prefix)


def figure5(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Figure 5: scalability in rounds: per-round localization and model accuracy of long runs."""
    return plot_round_panels([Panel(runs) for runs in group_by_settings(results)], prefix)


#: Curves of the sweep plots (Figures 3 and 4): summary column -> its look, the look of the provenance
#: column it averages in the per-round figures (the model's accuracy: its best round's, as the paper's).
SWEEP_CURVES = {
    "tracefl_pct": CURVES[SUMMARY_OF["tracefl_pct"]],
    "best_global_acc_pct": "model_best",
    **{column: CURVES[SUMMARY_OF[column]] for column in ("top_holder_pct", "last_layer_top_holder_pct",
                                                        "label_count_top_holder_pct", "chance_pct",
                                                        "top_holder_chance_pct")},
}


def error_bars(ax, x: np.ndarray, rows: pd.DataFrame, column: str, look) -> None:
    """95% error bars on the points that stand on several seeds; a single seed's point gets none."""
    if column + LOW not in rows.columns:
        return
    low, high = rows[column + LOW].to_numpy(dtype=float), rows[column + HIGH].to_numpy(dtype=float)
    mean = rows[column].to_numpy(dtype=float)
    several = np.isfinite(low) & np.isfinite(high) & (rows["seeds"].to_numpy() > 1)
    if several.any():
        ax.errorbar(x[several], mean[several], yerr=np.vstack([mean - low, high - mean])[:, several], fmt="none",
                    ecolor=look.color, elinewidth=look.lw * 0.6, capsize=2.5, capthick=look.lw * 0.6,
                    zorder=look.zorder)


def _sweep_plot(table: pd.DataFrame, x: str, xlabel: str, prefix: Path) -> None:
    """One panel per (dataset, model): TraceFL and the model against ``x``; baselines and chance lighter."""
    groups = list(table.groupby(["dataset", "model"], sort=False))
    rows, cols = grid_shape(len(groups))
    with paper_style():
        fig, axes = new_figure(rows, cols)
        for i, ((dataset, model), group) in enumerate(groups):
            ax = axes.flat[i]
            group = group.sort_values(x)
            # the settings evenly spaced, as the paper's sweeps (DP noise 0.0001 ... 0.003 would crowd at 0)
            values = np.unique(group[x].to_numpy(dtype=float))
            xs = np.searchsorted(values, group[x].to_numpy(dtype=float)).astype(float)
            for column, key in SWEEP_CURVES.items():
                look = LOOKS[key]
                ax.plot(xs, group[column], **look.line(len(xs)))
                if look.lead:
                    error_bars(ax, xs, group, column, look)
            weak = group[~group["conclusive"].astype(bool)]
            if len(weak):  # runs whose model did not learn: circled in red, counted above the panel
                ax.plot(xs[~group["conclusive"].astype(bool).to_numpy()], weak["tracefl_pct"],
                        **LOOKS["inconclusive"].line(mew=1.0))
                note(ax, f"{len(weak)} of {len(group)} point{'s' if len(group) > 1 else ''} inconclusive")
            seeds = group["conclusive_seeds"].where(group["conclusive_seeds"] > 0, group["seeds"])  # what a mean stands on
            extra = [f"{int(group['traced_correct'].sum())} inputs", seeds_text(int(seeds.min()), int(seeds.max()))]
            width = panel_width_in(fig, cols)
            letter = f"({string.ascii_lowercase[i]}) " if len(groups) > 1 else ""
            ax.set_title(wrap([f"{letter}{dataset.split(' (')[0]}", model], width, TITLE_PT)
                         + "\n" + wrap(extra, width, TITLE_PT), pad=NOTE_PAD if len(weak) else None)
            # ten alphas do not fit a panel's width: every value a tick, every other one labelled
            ax.set_xticks(np.arange(len(values)), [f"{v:g}" if len(values) <= 6 or (len(values) - 1 - k) % 2 == 0
                                                   else "" for k, v in enumerate(values)])
            ax.set_xlim(-0.5, len(values) - 0.5)
            accuracy_axis(ax)
        hide_unused(axes, len(groups))
        label_outer(axes, len(groups), xlabel)
        legend_below(fig, axes.flat, fig.get_figwidth())
        save_figure(fig, prefix)


def figure3(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Figure 3: average localization accuracy and best global accuracy against Dirichlet alpha."""
    table = summaries_by_setting(results, RunResult.summary)
    table.to_csv(prefix.with_suffix(".csv"), index=False)
    _sweep_plot(table, "alpha", "Dirichlet α (smaller: more non-IID)", prefix)
    return table


def figure4(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Figure 4: localization and model accuracy against the DP noise multiplier."""
    table = summaries_by_setting(results, RunResult.dp_summary)
    table.to_csv(prefix.with_suffix(".csv"), index=False)
    clip = ", ".join(f"{c:g}" for c in sorted(table["dp_clip"].unique()))
    _sweep_plot(table, "dp_noise", f"DP noise multiplier (clipping norm {clip})", prefix)
    return table


def figure6(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Figure 6: measured localization time per input, TraceFL vs FedDebug, per dataset (Table I runs)."""
    rows = []
    for r in results:
        summary = {**r.summary(), **r.faulty_summary()}
        # The faulty-client task that FedDebug also does: TraceFL's time on mispredictions
        # (correct predictions where a run has none).
        mispredictions = summary["traced_mispredictions"] > 0
        rows.append(
            {
                "dataset": summary["dataset"],
                "model": summary["model"],
                "alpha": r.spec.alpha,
                "traced": "mispredictions" if mispredictions else "correct predictions",
                "tracefl_s_per_input": summary["tracefl_mis_s_per_input" if mispredictions else "tracefl_s_per_input"],
                "feddebug_s_per_input": summary["feddebug_s_per_input"],
                "inputs_traced": summary["traced_mispredictions"] if mispredictions else summary["traced_correct"],
            }
        )
    table = pd.DataFrame(rows)
    table.to_csv(prefix.with_suffix(".csv"), index=False)
    _time_bars(table, prefix)
    return table


def _time_bars(table: pd.DataFrame, prefix: Path) -> None:
    """Time per input per dataset, TraceFL beside FedDebug: the mean over the dataset's runs (faults,
    alphas, seeds), its 95% interval where the dataset has several runs, the value on each bar
    (in ms where every bar is under 0.1 s; 'n/a' where FedDebug does not run: text models)."""
    datasets = list(dict.fromkeys(table["dataset"]))
    width = COLUMN_WIDTH_IN if len(datasets) <= 4 else FULL_WIDTH_IN
    pos = np.arange(len(datasets))
    columns = {"tracefl": "tracefl_s_per_input", "feddebug": "feddebug_s_per_input"}
    stats = {key: np.array([mean_ci95(table.loc[table["dataset"] == d, column]) for d in datasets]).reshape(-1, 3)
             for key, column in columns.items()}
    slowest = np.nanmax([np.nanmax(v[:, 0]) if np.isfinite(v[:, 0]).any() else 0.0 for v in stats.values()])
    unit, scale = ("ms", 1000.0) if slowest < 0.1 else ("s", 1.0)
    with paper_style():
        fig, axes = new_figure(1, 1, width_in=width)
        ax = axes[0][0]
        for offset, key in zip((-0.2, 0.2), columns):
            look, values = LOOKS[key], stats[key] * scale
            ax.bar(pos + offset, np.nan_to_num(values[:, 0]), 0.4, **look.bar(label=look.label.split(" ")[0]))
            several = np.isfinite(values[:, 1])  # one run: no interval, no error bar
            if several.any():
                err = np.vstack([values[:, 0] - values[:, 1], values[:, 2] - values[:, 0]])[:, several]
                ax.errorbar(pos[several] + offset, values[several, 0], yerr=err, fmt="none", ecolor="black",
                            elinewidth=0.6, capsize=2.5, zorder=3)
            for x, (value, _, high), top_known in zip(pos + offset, values, several):
                ax.annotate("n/a" if np.isnan(value) else f"{value:.2g} {unit}",
                            (x, 0 if np.isnan(value) else high if top_known else value),
                            xytext=(0, 2), textcoords="offset points", ha="center", va="bottom")
        inputs = table.groupby("dataset", sort=False)["inputs_traced"].sum().reindex(datasets)
        ax.set_xticks(pos, [f"{d.split(' (')[0]}\n{int(n)} traced" for d, n in zip(datasets, inputs)])
        ax.set_ylabel(f"Localization time per input ({unit})")
        ax.margins(y=0.15)
        ax.grid(axis="y")
        ax.set_axisbelow(True)
        legend_below(fig, [ax], width, grouped=False)
        save_figure(fig, prefix)
