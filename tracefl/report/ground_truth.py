"""The ground-truth provenance benchmark: traces checked against the client that planted the cause.

Runs with a planted scenario (:mod:`tracefl.data.scenarios`) trace the planted test inputs
the model predicts as planted; each method is scored by how often it names the planting
client. ``benchmark_rows`` gives one row per run and method (the long CSV of the figure);
``aggregate`` the mean over seeds with a 95% interval (the table).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tracefl.models.catalog import display_name  # noqa: E402
from tracefl.config.items import Item  # noqa: E402
from tracefl.provenance.columns import LABEL_COUNT, LAST_LAYER, TRUTH_TRACED, scored_by  # noqa: E402
from tracefl.report.results import RunResult  # noqa: E402
from tracefl.report.rounds_plot import legend_entries, save_figure  # noqa: E402
from tracefl.report.summary import mean_ci95  # noqa: E402
from tracefl.report.tables import write_table  # noqa: E402

#: Method -> (provenance column it is scored by, name in the figure). FedDebug comes from feddebug.csv.
METHODS = {
    "tracefl": (TRUTH_TRACED, "TraceFL"),
    LAST_LAYER: (scored_by(TRUTH_TRACED, LAST_LAYER), "last layer only"),
    LABEL_COUNT: (scored_by(TRUTH_TRACED, LABEL_COUNT), "label count rule"),
    "feddebug": (None, "FedDebug"),
}
#: A run that traced fewer planted inputs than this is inconclusive: shown, not averaged in.
MIN_PLANTED_INPUTS = 20
COLORS = {"tracefl": "tab:blue", "last_layer": "tab:purple", "label_count": "tab:gray", "feddebug": "tab:red"}


def benchmark_rows(result: RunResult) -> list[dict]:
    """One row per method for a planted run: accuracy and chance in %, averaged per round and then over
    rounds (as every other item averages); n_inputs: planted inputs traced (FedDebug: generated inputs)."""
    spec = result.spec
    planted = result.provenance[result.provenance["kind"] != "correct"]
    planted = planted[planted["truth_client"].notna()] if "truth_client" in planted else planted.iloc[:0]
    base = {
        "dataset": spec.data.display,
        "model": display_name(spec.model),
        "scenario": spec.scenario,
        "seed": spec.seed,
        "rounds": spec.rounds,
        "clients": spec.num_clients,
        "alpha": spec.alpha,
        # the share of the planted test set the model predicted as planted (backdoor: attack success)
        "planted_rate_pct": _per_round_pct(planted, "planted_rate"),
        "last_global_acc_pct": float(result.rounds["global_accuracy"].iloc[-1] * 100),
        "run_id": spec.run_id,
    }
    chance = _per_round_pct(planted, "truth_chance")
    rows = []
    for method, (column, _) in METHODS.items():
        if column is None:
            if result.feddebug is None:
                continue
            scored, column = result.feddebug, "score"
        else:
            scored = planted
        n = int(len(scored))
        rows.append({**base, "method": method, "accuracy": _per_round_pct(scored, column),
                     "chance": chance, "n_inputs": n,
                     "conclusive": bool(n >= MIN_PLANTED_INPUTS and len(planted) >= MIN_PLANTED_INPUTS)})
    return rows


def _per_round_pct(rows: pd.DataFrame, column: str) -> float:
    """Mean per round, then over rounds, in %; NaN without rows."""
    return float(rows.groupby("round")[column].mean().mean() * 100) if len(rows) else float("nan")


def aggregate(long: pd.DataFrame) -> pd.DataFrame:
    """Mean over the conclusive seeds of each (dataset, model, scenario, method), with a 95% interval."""
    rows = []
    keys = ["dataset", "model", "scenario", "method"]
    for key, group in long.groupby(keys, sort=False):
        kept = group[group["conclusive"]]
        mean, low, high = mean_ci95(kept["accuracy"].to_numpy(), bounds=(0.0, 100.0))
        rows.append({
            **dict(zip(keys, key)),
            "seeds": int(len(kept)),
            "inconclusive_seeds": int(len(group) - len(kept)),
            "accuracy_pct": mean,
            "ci95_low_pct": low,
            "ci95_high_pct": high,
            "chance_pct": float(kept["chance"].mean()) if len(kept) else float("nan"),
            "n_inputs": int(kept["n_inputs"].sum()),
            "planted_rate_pct": float(kept["planted_rate_pct"].mean()) if len(kept) else float("nan"),
            "last_global_acc_pct": float(kept["last_global_acc_pct"].mean()) if len(kept) else float("nan"),
        })
    return pd.DataFrame(rows)


def long_table(results: list[RunResult]) -> pd.DataFrame:
    return pd.DataFrame([row for r in results for row in benchmark_rows(r)])


def figure(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Bars per dataset and method (mean over seeds, 95% interval), chance as a black tick; one panel a scenario."""
    long = long_table(results)
    long.to_csv(prefix.with_suffix(".csv"), index=False)
    table = aggregate(long)
    scenarios = list(dict.fromkeys(table["scenario"]))
    width_per_group = max(len(set(zip(table["dataset"], table["model"]))), 1) * 1.5
    fig, axes = plt.subplots(1, len(scenarios), figsize=(1.0 + (1.2 + width_per_group) * len(scenarios), 4.2),
                             squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        part = table[table["scenario"] == scenario]
        groups = list(dict.fromkeys(zip(part["dataset"], part["model"])))
        methods = [m for m in METHODS if m in set(part["method"])]
        width = 0.8 / len(methods)
        for j, method in enumerate(methods):
            rows = part[part["method"] == method].set_index(["dataset", "model"]).reindex(groups)
            pos = np.arange(len(groups)) - 0.4 + width * (j + 0.5)
            mean = rows["accuracy_pct"].to_numpy(dtype=float)
            err = np.vstack([mean - rows["ci95_low_pct"].to_numpy(dtype=float),
                             rows["ci95_high_pct"].to_numpy(dtype=float) - mean])
            ax.bar(pos, mean, width, color=COLORS[method], label=METHODS[method][1],
                   yerr=np.nan_to_num(err), capsize=2, error_kw={"lw": 0.8})
            for x, value in zip(pos, mean):  # the value on each bar: a 0% bar is otherwise invisible
                if not np.isnan(value):
                    ax.text(x, 1, f"{value:.0f}", ha="center", va="bottom", fontsize=6, color="white"
                            if value > 8 else "black")
        chance = part.groupby(["dataset", "model"], sort=False)["chance_pct"].mean().reindex(groups)
        ax.hlines(chance.to_numpy(dtype=float), np.arange(len(groups)) - 0.45, np.arange(len(groups)) + 0.45,
                  colors="black", linestyles=":", label="chance (random participant)")
        seeds = part.groupby(["dataset", "model"], sort=False)["seeds"].max().reindex(groups)
        labels = [f"{textwrap.fill(d, 14)}\n{m}\n{int(s)} seed(s)" for (d, m), s in zip(groups, seeds)]
        ax.set_xticks(np.arange(len(groups)), labels, fontsize=7)
        ax.set_ylim(0, 105)
        ax.set_ylabel("Responsible client found (%)")
        ax.set_title(f"{scenario}: {int(part[part['method'] == 'tracefl']['n_inputs'].sum())} planted inputs traced",
                     fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = legend_entries(axes[0])  # FedDebug is on the backdoor panel only
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    save_figure(fig, prefix)
    return long


def table(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """The benchmark as a table: mean over seeds and its 95% interval, per dataset, scenario and method."""
    out = aggregate(long_table(results))
    write_table(out, prefix, item.caption)
    return out
