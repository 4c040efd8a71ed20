"""Figures 2-6 of the paper, each as PDF, PNG and the CSV of the numbers behind it.

Builders of the paper-item catalog (:mod:`tracefl.config.items`): ``builder(results,
prefix, item)`` writes ``prefix.{pdf,png,csv}``. Per-round figures (2 and 5) are drawn
by :mod:`tracefl.report.rounds_plot`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tracefl.config.items import Item  # noqa: E402
from tracefl.report.results import SUMMARY_OF, RunResult  # noqa: E402
from tracefl.report.seeds import HIGH, LOW, group_by_settings, summaries_by_setting  # noqa: E402
from tracefl.report.summary import mean_ci95  # noqa: E402
from tracefl.report.rounds_plot import CURVES, Panel, legend_entries, plot_round_panels, save_figure  # noqa: E402


def figure2(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Figure 2: localization accuracy and global model accuracy per round, one panel per setting
    (the mean of its seeds with a 95% band)."""
    return plot_round_panels([Panel(runs) for runs in group_by_settings(results)], prefix)


def figure5(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Figure 5: scalability in rounds: per-round localization and model accuracy of long runs."""
    return plot_round_panels([Panel(runs) for runs in group_by_settings(results)], prefix)


def _sweep_curve(column: str, label_suffix: str = "") -> tuple[str, str, str, str]:
    """A summary column drawn as the per-round figures draw the provenance column it averages."""
    style, colour, label = CURVES[SUMMARY_OF[column]]
    return column, style, colour, label + label_suffix


#: Curves of the sweep plots (Figures 3 and 4): summary column, style, colour, label.
SWEEP_CURVES = [
    _sweep_curve("tracefl_pct", " (avg over rounds)"),
    *(_sweep_curve(c) for c in ("chance_pct", "top_holder_pct", "top_holder_chance_pct", "last_layer_top_holder_pct",
                                "label_count_top_holder_pct")),
    ("best_global_acc_pct", CURVES["global_accuracy"][0], CURVES["global_accuracy"][1], "best global model accuracy"),
]


def _sweep_plot(table: pd.DataFrame, x: str, xlabel: str, prefix: Path, title: str) -> None:
    """One panel per (dataset, model): localization metrics, chance levels and model accuracy against ``x``."""
    groups = list(table.groupby(["dataset", "model"], sort=False))
    cols = min(3, len(groups))
    rows = int(np.ceil(len(groups) / cols))
    # one panel alone is widened so that the legend above it fits (two columns of entries)
    fig, axes = plt.subplots(rows, cols, figsize=(max(4.4 * cols, 6.4), 3.4 * rows + 1.2), squeeze=False)
    for i, ((dataset, model), group) in enumerate(groups):
        ax = axes[i // cols][i % cols]
        group = group.sort_values(x)
        for column, style, colour, label in SWEEP_CURVES:
            if column + LOW in group.columns:  # a mean over seeds: its 95% interval as error bars
                err = np.vstack([group[column] - group[column + LOW], group[column + HIGH] - group[column]])
                ax.errorbar(group[x], group[column], yerr=np.nan_to_num(err), fmt=style, color=colour, label=label,
                            capsize=2, lw=1, ms=4)
            else:
                ax.plot(group[x], group[column], style, color=colour, label=label)
        weak = group[~group["conclusive"].astype(bool)]
        if len(weak):  # runs whose model did not learn: circled in red, named in the title
            ax.plot(weak[x], weak["tracefl_pct"], "o", ms=11, mfc="none", mec="tab:red",
                    label="inconclusive (model below its learned accuracy)")
        seeds = int(group["seeds"].max())
        ax.set_title(f"{dataset} - {model}\n{int(group['traced_correct'].sum())} inputs traced"
                     + (f", {seeds} seeds (95% intervals)" if seeds > 1 else "")
                     + (f", {len(weak)} of {len(group)} inconclusive" if len(weak) else ""), fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Accuracy (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    for j in range(len(groups), rows * cols):
        axes[j // cols][j % cols].axis("off")
    handles, labels = legend_entries(axes.flat)  # the inconclusive marker may be on any panel
    fig.legend(handles, labels, loc="upper center", ncol=3 if cols > 1 else 2, fontsize=8, frameon=False)
    fig.suptitle(title, y=0.0, va="bottom", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 0.84 if cols == 1 else 0.9))
    save_figure(fig, prefix)


def figure3(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Figure 3: average localization accuracy and best global accuracy against Dirichlet alpha."""
    table = summaries_by_setting(results, RunResult.summary)
    table.to_csv(prefix.with_suffix(".csv"), index=False)
    _sweep_plot(table, "alpha", "Dirichlet alpha (smaller = more non-IID)", prefix, item.title)
    return table


def figure4(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Figure 4: localization and model accuracy against the DP noise multiplier."""
    table = summaries_by_setting(results, RunResult.dp_summary)
    table.to_csv(prefix.with_suffix(".csv"), index=False)
    clip = ", ".join(f"{c:g}" for c in sorted(table["dp_clip"].unique()))
    _sweep_plot(table, "dp_noise", f"DP noise multiplier (clipping norm {clip})", prefix, item.title)
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
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(datasets), 3.4))
    pos = np.arange(len(datasets))
    for offset, column, label in ((-0.2, "tracefl_s_per_input", "TraceFL"), (0.2, "feddebug_s_per_input", "FedDebug")):
        # mean over the dataset's runs (faults, alphas, seeds) with its 95% interval
        stats = np.array([mean_ci95(table.loc[table["dataset"] == d, column]) for d in datasets]).reshape(-1, 3)
        err = np.vstack([stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]])
        ax.bar(pos + offset, stats[:, 0], 0.4, yerr=np.nan_to_num(err), capsize=2, label=label)
    ax.set_xticks(pos, datasets, fontsize=8)
    ax.set_ylabel("Localization time per input (s)")
    ax.set_title(f"{item.title}  ({int(table['inputs_traced'].sum())} inputs traced)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, prefix)
    plt.close(fig)
    return table
