"""Figure 1 of the paper from a real run: who holds which labels, and whom TraceFL names.

Left: each client's training examples per label (clients x labels). Right: TraceFL's
contribution of each client (softmax over clients) to four test inputs of two labels (inputs x
clients), a box around the clients that hold the input's label. The numbers come from the
contributions step (:mod:`tracefl.steps.contributions`) of the item's run.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from tracefl.config.items import Item
from tracefl.errors import InputError
from tracefl.models.catalog import display_name
from tracefl.report.results import RunResult, read_table
from tracefl.report.style import FULL_WIDTH_IN, FONT_PT, paper_style, save_figure

CSV_COLUMNS = ["run", "part", "input", "label", "predicted", "client", "contribution", "holds_label", "traced",
               "examples"]
_FIX = "run the contributions step again"


def _tables(result: RunResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    if result.run_dir is None:
        raise InputError(f"run {result.spec.run_id}: its directory is unknown; load it with RunResult.load")
    contributions = read_table(result.run_dir / "contributions.csv",
                               ["input", "label", "predicted", "client", "contribution", "holds_label", "traced"], _FIX)
    counts = read_table(result.run_dir / "client_labels.csv", ["client", "label", "examples"], _FIX)
    return contributions, counts


def _counts_panel(ax, counts: pd.DataFrame, clients: list[int], num_classes: int) -> None:
    grid = np.zeros((len(clients), num_classes), dtype=int)
    for row in counts.itertuples():
        grid[clients.index(int(row.client)), int(row.label)] = int(row.examples)
    # Light blues (the scale tops out at twice the largest count) so the counts stay readable.
    ax.imshow(np.where(grid > 0, grid, np.nan), cmap="Blues", aspect="auto", vmin=0, vmax=2 * max(grid.max(), 1))
    for (i, j), n in np.ndenumerate(grid):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=FONT_PT - 2.5)
    ax.set_xticks(range(num_classes))
    ax.set_yticks(range(len(clients)), [f"C{c}" for c in clients])
    ax.set_xlabel("Label")
    ax.set_ylabel("Client")
    ax.set_title("Training examples per label")


def _contributions_panel(ax, table: pd.DataFrame, clients: list[int]):
    inputs = list(dict.fromkeys(table["input"]))
    grid = np.zeros((len(inputs), len(clients)))
    for row in table.itertuples():
        i, j = inputs.index(row.input), clients.index(int(row.client))
        grid[i, j] = float(row.contribution)
        if bool(row.holds_label):  # the true responsible clients
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.2))
    image = ax.imshow(grid, cmap="Reds", aspect="auto", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(grid):
        if value < 0.005:  # shown as blank: "0.00" in most cells hides the few that matter
            continue
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=FONT_PT - 2.5,
                color="white" if value > 0.6 else "black")
    names = []
    for input_id in inputs:
        first = table[table["input"] == input_id].iloc[0]
        mark = "" if int(first["predicted"]) == int(first["label"]) else f", predicted {int(first['predicted'])}"
        names.append(f"input {int(input_id)}\nlabel {int(first['label'])}{mark}")
    ax.set_xticks(range(len(clients)), [f"C{c}" for c in clients])
    ax.set_yticks(range(len(inputs)), names)
    ax.set_xlabel("Client (box: holds the input's label; blank: below 0.005)")
    ax.set_title("TraceFL's contribution of each client")
    return image


def figure1(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """One run's label counts and contributions side by side (the item has one run per preset)."""
    if len(results) != 1:
        raise InputError(f"{item.name}: draws one run, got {len(results)}; list one entry under {item.name}")
    result = results[0]
    contributions, counts = _tables(result)
    clients = sorted({int(c) for c in counts["client"]} | {int(c) for c in contributions["client"]})
    with paper_style():
        fig, (left, right) = plt.subplots(1, 2, figsize=(FULL_WIDTH_IN, 2.9), layout="constrained",
                                          gridspec_kw={"width_ratios": [1.0, 1.25]})
        _counts_panel(left, counts, clients, result.spec.num_classes)
        image = _contributions_panel(right, contributions, clients)
        fig.colorbar(image, ax=right, fraction=0.04, pad=0.02, label="Contribution")
        traced = contributions[contributions["traced"].astype(bool)]
        named = int(traced["holds_label"].astype(bool).sum())
        fig.suptitle(f"{result.spec.data.display}, {display_name(result.spec.model)}, round "
                     f"{int(contributions['round'].max())}: TraceFL names a client holding the label for "
                     f"{named} of {len(traced)} inputs", fontsize=FONT_PT + 0.5)
        save_figure(fig, prefix)
    run = result.spec.run_id
    rows = [{"run": run, "part": "contribution", **{k: r[k] for k in ("input", "label", "predicted", "client",
                                                                      "contribution", "holds_label", "traced")}}
            for r in contributions.to_dict("records")]
    rows += [{"run": run, "part": "label_count", "client": int(r["client"]), "label": int(r["label"]),
              "examples": int(r["examples"])} for r in counts.to_dict("records")]
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    table.to_csv(prefix.with_suffix(".csv"), index=False)
    return table
