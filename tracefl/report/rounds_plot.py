"""Per-round panels (Figures 2 and 5): localization accuracy, chance levels and global model
accuracy per round, one panel per run."""

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
from tracefl.report.learned import inconclusive_note, is_conclusive, learned_threshold  # noqa: E402
from tracefl.report.summary import per_round, per_run  # noqa: E402

@dataclass
class Panel:
    spec: RunSpec
    rounds: pd.DataFrame
    provenance: pd.DataFrame


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


def plot_rounds(panels: list[Panel], prefix: Path) -> pd.DataFrame:
    """Draw the panels into ``prefix.{pdf,png}`` and the per-run averages into ``prefix.csv``."""
    cols = min(4, max(1, len(panels)))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows + 0.6), squeeze=False)
    summaries = []
    for i, panel in enumerate(panels):
        ax = axes[i // cols][i % cols]
        table = per_round(panel.provenance, panel.rounds)
        summary = per_run(table)
        last = summary["last_global_accuracy_pct"]
        summaries.append({"panel": string.ascii_lowercase[i], "run_id": panel.spec.run_id, "dataset": panel.spec.dataset,
                          "model": panel.spec.model, **summary,
                          "learned_threshold_pct": learned_threshold(panel.spec.dataset),
                          "conclusive": is_conclusive(panel.spec.dataset, last)})
        x = table["round"]
        ax.plot(x, table["label_held"], "o-", color="tab:blue", ms=3, label="TraceFL accuracy")
        ax.plot(x, table["label_held_chance"], ":", color="tab:blue", label="chance (TraceFL)")
        ax.plot(x, table["top_holder"], "s-", color="tab:green", ms=3, label="strict: top holder")
        ax.plot(x, table["top_holder_chance"], ":", color="tab:green", label="chance (top holder)")
        ax.plot(x, table["top_holder_last_layer"], "x--", color="tab:purple", ms=3, label="last layer only (top holder)")
        ax.plot(x, table["top_holder_label_count"], "--", color="tab:gray", label="label count rule (top holder)")
        ax.plot(x, table["global_accuracy"], "^-", color="tab:orange", ms=3, label="Global model accuracy")
        ax.set_title(panel_title(i, panel.spec), fontsize=9)
        note = inconclusive_note(panel.spec.dataset, last)
        if note:
            ax.text(0.02, 0.97, note, transform=ax.transAxes, ha="left", va="top", fontsize=7, color="tab:red")
        ax.text(
            0.98,
            0.03,
            f"{summary['inputs_traced']} inputs traced\n{panel.spec.clients_per_round} of {panel.spec.num_clients} clients/round, "
            f"alpha {panel.spec.alpha:g}",
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
