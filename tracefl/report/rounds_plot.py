"""Per-round panels (Figures 2 and 5): localization accuracy, chance levels and global model
accuracy per round, one panel per setting (its seeds: mean and a 95% band)."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from tracefl.config import RunSpec  # noqa: E402
from tracefl.models.catalog import display_name  # noqa: E402
from tracefl.provenance.columns import (  # noqa: E402
    LABEL_COUNT,
    LABEL_HELD,
    LABEL_HELD_CHANCE,
    LAST_LAYER,
    TOP_HOLDER,
    TOP_HOLDER_CHANCE,
    scored_by,
)
from tracefl.report.learned import inconclusive_note, is_conclusive, learned_threshold  # noqa: E402
from tracefl.report.results import RunResult  # noqa: E402
from tracefl.report.seeds import HIGH, LOW, aggregate_seeds  # noqa: E402
from tracefl.report.summary import mean_ci95, per_round, per_run  # noqa: E402

@dataclass
class Panel:
    """One panel: the runs of one setting, one per seed (one run: no band)."""

    runs: list[RunResult]

    @property
    def spec(self) -> RunSpec:
        return self.runs[0].spec


#: Per-round curves drawn with a 95% band over seeds: column -> (style, colour, label).
CURVES = {
    LABEL_HELD: ("o-", "tab:blue", "TraceFL accuracy"),
    LABEL_HELD_CHANCE: (":", "tab:blue", "chance (TraceFL)"),
    TOP_HOLDER: ("s-", "tab:green", "strict: top holder"),
    TOP_HOLDER_CHANCE: (":", "tab:green", "chance (top holder)"),
    scored_by(TOP_HOLDER, LAST_LAYER): ("x--", "tab:purple", "last layer only (top holder)"),
    scored_by(TOP_HOLDER, LABEL_COUNT): ("--", "tab:gray", "label count rule (top holder)"),
    "global_accuracy": ("^-", "tab:orange", "Global model accuracy"),
}


def seed_rounds(runs: list[RunResult], tables: list[pd.DataFrame] | None = None) -> pd.DataFrame:
    """Per round, the mean over the kept seeds of every curve, with ``_ci95_low``/``_ci95_high``
    (no band for chance levels or one seed) and the inputs traced summed over those seeds.
    ``tables``: the runs' :func:`per_round` tables where the caller has them already."""
    tables = tables if tables is not None else [per_round(r.provenance, r.rounds) for r in runs]
    conclusive = [is_conclusive(r.spec.dataset, float(t["global_accuracy"].iloc[-1])) for r, t in zip(runs, tables)]
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


def panel_title(index: int, spec: RunSpec) -> str:
    return f"({string.ascii_lowercase[index]}) {spec.data.display} - {display_name(spec.model)}"


def legend_entries(axes) -> tuple[list, list[str]]:
    """Every panel's legend entries once, in first-seen order (an entry may be on one panel only)."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels


def save_figure(fig: plt.Figure, prefix: Path) -> None:
    """``prefix.pdf`` and ``prefix.png`` (150 dpi), then the figure is closed."""
    fig.savefig(prefix.with_suffix(".pdf"))
    fig.savefig(prefix.with_suffix(".png"), dpi=150)
    plt.close(fig)


def plot_round_panels(panels: list[Panel], prefix: Path) -> pd.DataFrame:
    """Draw the panels into ``prefix.{pdf,png}`` and the per-run averages into ``prefix.csv``."""
    cols = min(4, max(1, len(panels)))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows + 0.6), squeeze=False)
    summaries = []
    for i, panel in enumerate(panels):
        ax = axes[i // cols][i % cols]
        tables = [per_round(r.provenance, r.rounds) for r in panel.runs]
        runs = [{"group": "panel", "seed": r.spec.seed, "run_id": r.spec.run_id, "dataset": r.spec.dataset,
                 "model": r.spec.model, **per_run(t)} for r, t in zip(panel.runs, tables)]
        for row in runs:
            row.update(learned_threshold_pct=learned_threshold(row["dataset"]),
                       conclusive=is_conclusive(row["dataset"], row["last_global_accuracy_pct"]))
        summary = aggregate_seeds(pd.DataFrame(runs)).iloc[0].to_dict()
        summaries.append({"panel": string.ascii_lowercase[i], **summary})
        table = seed_rounds(panel.runs, tables)
        x = table["round"]
        for column, (style, colour, label) in CURVES.items():
            ax.plot(x, table[column], style, color=colour, ms=3, label=label)
            if "chance" not in column and table[column + LOW].notna().any():
                ax.fill_between(x, table[column + LOW], table[column + HIGH], color=colour, alpha=0.1, lw=0)
        ax.set_title(panel_title(i, panel.spec), fontsize=9)
        weak = summary["seeds"] - summary["conclusive_seeds"]
        if weak:
            note = (f"{weak} of {summary['seeds']} seeds inconclusive (not averaged in)" if summary["conclusive"]
                    else inconclusive_note(panel.spec.dataset, summary["last_global_accuracy_pct"])
                    + (f" ({summary['seeds']} seeds)" if summary["seeds"] > 1 else ""))
            ax.text(0.02, 0.97, note, transform=ax.transAxes, ha="left", va="top", fontsize=7, color="tab:red")
        averaged = summary["conclusive_seeds"] or summary["seeds"]
        seeds = f", mean of {averaged} seeds (95% band)" if averaged > 1 else ""
        ax.text(
            0.98,
            0.03,
            f"{summary['inputs_traced']} inputs traced{seeds}\n{panel.spec.clients_per_round} of "
            f"{panel.spec.num_clients} clients/round, alpha {panel.spec.alpha:g}",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
        )
        ax.set_xlabel("Communication Rounds")
        ax.set_ylabel("Accuracy (%)")
        ax.set_ylim(-2, 102)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for j in range(len(panels), rows * cols):
        axes[j // cols][j % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = 5 if cols >= 3 else 2
    legend_rows = math.ceil(len(labels) / ncol)
    fig.legend(handles, labels, loc="upper center", ncol=ncol, fontsize=8, frameon=False)
    height = 3.4 * rows + 0.6
    fig.set_size_inches(4.2 * cols, height + 0.2 * legend_rows)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.22 * legend_rows / (height + 0.2 * legend_rows)))
    save_figure(fig, prefix)
    summary_table = pd.DataFrame(summaries)
    summary_table.to_csv(prefix.with_suffix(".csv"), index=False)
    return summary_table
