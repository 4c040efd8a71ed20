"""The repair item: what excluding the clients each method names (or aggregating robustly) buys.

Each run's ``repair.csv`` (:mod:`tracefl.steps.repair`) holds one row per method for its last
round. ``long_rows`` labels them with the run's scenario and seed; ``aggregate`` gives the mean
over seeds with a 95% Student-t interval per scenario and method (the table, and the figure's bars).
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd

from tracefl.config.items import Item
from tracefl.data.faults import RANDOM_LABELS
from tracefl.data.scenarios import BACKDOOR, NONE
from tracefl.report.results import RunResult
from tracefl.report.seeds import HIGH, LOW
from tracefl.report.style import LOOKS, grid_shape, hide_unused, legend_below, new_figure, paper_style, save_figure
from tracefl.report.summary import mean_ci95
from tracefl.report.table_files import Shown, write_table

#: Methods in the order drawn and printed: the TraceFL-guided one first, the robust strategies last.
METHODS = ["audit", "audit_confirmed", "oracle", "label_count", "feddebug", "random", "nobody",
           "Krum", "MultiKrum", "Bulyan", "FedMedian", "FedTrimmedAvg"]
NAMES = {"audit": "TraceFL audit", "audit_confirmed": "Audit, confirmed", "oracle": "Oracle", "label_count": "Label-count rule", "feddebug": "FedDebug",
         "random": "Random pick", "nobody": "Nobody (before)"}
#: Metric -> (long column, bounds of its interval). In % (change: percentage points).
METRICS = {"accuracy_pct": (0.0, 100.0), "change_pp": (-100.0, 100.0), "attack_success_pct": (0.0, 100.0),
           "excluded_clients": (0.0, float("inf")), "precision_pct": (0.0, 100.0), "recall_pct": (0.0, 100.0)}


def scenario_of(result: RunResult) -> str:
    """A run's fault, as the figure names it."""
    spec = result.spec
    if spec.scenario == BACKDOOR:
        return "backdoor"
    if spec.scenario != NONE:
        return spec.scenario
    if not spec.faulty_clients:
        return "fault-free"
    if spec.faulty_labels == RANDOM_LABELS:
        return "random labels" if len(spec.faulty_clients) == 1 else f"{len(spec.faulty_clients)} random-label clients"
    return "label flip" if len(spec.faulty_clients) == 1 else f"{len(spec.faulty_clients)} flippers"


def long_rows(results: list[RunResult]) -> pd.DataFrame:
    """One row per run and method: the run's scenario and seed, then the step's numbers in %."""
    frames = []
    for result in results:
        if result.repair is None:
            raise ValueError(f"run {result.spec.run_id}: no repair.csv; run the repair step first")
        r = result.repair
        excluded = r["excluded"].fillna("").astype(str)
        robust = ~r["method"].isin(NAMES)
        frames.append(pd.DataFrame({
            "dataset": result.spec.data.display, "scenario": scenario_of(result), "seed": result.spec.seed,
            "rounds": result.spec.rounds, "round": r["round"], "method": r["method"],
            "excluded": excluded.where(~robust, ""), "flagged": r["flagged"].fillna("").astype(str),
            "faulty": r["faulty"].fillna("").astype(str),
            "accuracy_pct": r["accuracy"] * 100, "accuracy_before_pct": r["accuracy_before"] * 100,
            "change_pp": (r["accuracy"] - r["accuracy_before"]) * 100,
            "attack_success_pct": r["attack_success"] * 100, "attack_success_before_pct": r["attack_success_before"] * 100,
            "excluded_clients": excluded.str.split().str.len().where(~robust, np.nan).astype(float),
            "precision_pct": r["precision"] * 100, "recall_pct": r["recall"] * 100,
            "run_id": result.spec.run_id,
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def aggregate(long: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds with a 95% Student-t interval (``_ci95_low``/``_ci95_high``; NaN with one seed) of every
    metric, per dataset, scenario and method, in :data:`METHODS` order."""
    rows = []
    keys = ["dataset", "scenario", "method"]
    for key, group in long.groupby(keys, sort=False):
        row = {**dict(zip(keys, key)), "seeds": int(group["seed"].nunique()),
               "accuracy_before_pct": float(group["accuracy_before_pct"].mean())}
        for metric, bounds in METRICS.items():
            mean, low, high = mean_ci95(group[metric].to_numpy(dtype=float), bounds=bounds)
            row[metric], row[metric + LOW], row[metric + HIGH] = mean, low, high
        row["run_id"] = ";".join(group["run_id"])
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = {m: i for i, m in enumerate(METHODS)}
    scenarios = {s: i for i, s in enumerate(dict.fromkeys(long["scenario"]))}
    return out.sort_values(["dataset", "scenario", "method"], key=lambda c: c.map(scenarios) if c.name == "scenario"
                           else c.map(order).fillna(len(order)) if c.name == "method" else c,
                           kind="stable").reset_index(drop=True)


def figure(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """One panel per scenario: accuracy after each method's repair (bars, mean over seeds with a 95% error bar
    where several seeds stand behind it), the accuracy before (dashed), a backdoor's attack success (triangles)."""
    long = long_rows(results)
    long.to_csv(prefix.with_suffix(".csv"), index=False)
    table = aggregate(long)
    panels = list(dict.fromkeys(zip(table["dataset"], table["scenario"])))
    rows, cols = grid_shape(len(panels))
    with paper_style():
        fig, axes = new_figure(rows, cols, panel_height_in=2.4)
        for index, (ax, (dataset, scenario)) in enumerate(zip(axes.flat, panels)):
            part = table[(table["dataset"] == dataset) & (table["scenario"] == scenario)]
            _panel(ax, part)
            ax.set_title(f"({string.ascii_lowercase[index]}) {scenario}, {dataset.split(' (')[0]}\n"
                         f"{int(part['seeds'].max())} seed{'s' if part['seeds'].max() != 1 else ''}")
        hide_unused(axes, len(panels))
        legend_below(fig, axes.flat[:len(panels)], fig.get_figwidth(), grouped=False)
        save_figure(fig, prefix)
    return long


def _panel(ax, part: pd.DataFrame) -> None:
    methods = [m for m in METHODS if m in set(part["method"]) and m != "nobody"]
    rows = part.set_index("method").reindex(methods)
    pos = np.arange(len(methods))
    mean = rows["accuracy_pct"].to_numpy(dtype=float)
    for x, method, value in zip(pos, methods, mean):
        ax.bar(x, np.nan_to_num(value), 0.75, **LOOKS[method].bar(label="_nolegend_"))  # the ticks name them
    low, high = rows["accuracy_pct" + LOW].to_numpy(dtype=float), rows["accuracy_pct" + HIGH].to_numpy(dtype=float)
    several = np.isfinite(low) & np.isfinite(high)
    if several.any():
        ax.errorbar(pos[several], mean[several], yerr=np.vstack([mean - low, high - mean])[:, several],
                    fmt="none", ecolor="black", elinewidth=0.6, capsize=2, zorder=3)
    before = float(part["accuracy_before_pct"].mean())
    look = LOOKS["before"]
    ax.axhline(before, color=look.color, ls=look.ls, lw=look.lw, zorder=look.zorder, label=look.label)
    attack = rows["attack_success_pct"].to_numpy(dtype=float)
    if np.isfinite(attack).any():
        ax.plot(pos, attack, ls="none", **{k: v for k, v in LOOKS["attack"].line().items() if k != "ls"})
    ax.set_xticks(pos, [NAMES.get(m, m) for m in methods], rotation=90)
    ax.set_ylim(0, 105)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_ylabel("Accuracy after repair (%)")
    ax.grid(axis="y")
    ax.set_axisbelow(True)


#: The printed table: one row per scenario and method.
SHOWN = [Shown("dataset", "Dataset", "text"), Shown("scenario", "Scenario", "text"), Shown("method", "Method", "text"),
         Shown("seeds", "Seeds", "count"), Shown("accuracy_pct", "Acc. after", interval=True),
         Shown("change_pp", "Change (pp)", interval=True), Shown("attack_success_pct", "Attack succ.", interval=True),
         Shown("excluded_clients", "Excluded (mean)", "pct"), Shown("precision_pct", "Precision", interval=True),
         Shown("recall_pct", "Recall", interval=True)]
CAPTION = ("{title}: the last round re-aggregated from its recorded replies, per scenario and method; mean over seeds "
           "[95% interval where several]; accuracy on the server test set (%), change from the recorded model "
           "(percentage points), attack success of a backdoor (%), clients excluded (robust strategies: NA), "
           "precision and recall at naming the faulty clients (%; NA without faulty clients).")


def table(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """The repair comparison as a table (CSV: every metric with its interval)."""
    out = aggregate(long_rows(results))
    shown = out.assign(method=out["method"].map(lambda m: NAMES.get(m, m)))
    write_table(out, prefix, CAPTION.format(title=item.title), SHOWN, printed_from=shown)
    return out
