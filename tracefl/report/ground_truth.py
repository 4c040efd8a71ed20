"""The ground-truth provenance benchmark: traces checked against the client that planted the cause.

Runs with a planted scenario (:mod:`tracefl.data.scenarios`) trace the planted test inputs
the model predicts as planted; each method is scored by how often it names the planting
client. ``benchmark_rows`` gives one row per run and method (the long CSV of the figure);
``aggregate`` the mean over seeds with a 95% interval (the table).
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd

from tracefl.config.items import Item
from tracefl.models.catalog import display_name
from tracefl.provenance.columns import LABEL_COUNT, LAST_LAYER, TRUTH_TRACED, scored_by
from tracefl.report.learned import final_accuracy
from tracefl.report.results import RunResult
from tracefl.report.seeds import HIGH, LOW
from tracefl.report.style import LOOKS, legend_below, new_figure, paper_style, save_figure
from tracefl.report.summary import mean_ci95
from tracefl.report.table_files import Shown, write_table

#: Method -> (provenance column it is scored by, name in the figure). FedDebug comes from feddebug.csv.
METHODS = {
    "tracefl": (TRUTH_TRACED, "TraceFL"),
    LAST_LAYER: (scored_by(TRUTH_TRACED, LAST_LAYER), "Last layer only"),
    LABEL_COUNT: (scored_by(TRUTH_TRACED, LABEL_COUNT), "Label-count rule"),
    "feddebug": (None, "FedDebug"),
}
#: A run that traced fewer planted inputs than this is inconclusive: shown, not averaged in.
MIN_PLANTED_INPUTS = 20


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
        # ... in the last rounds, as the model's accuracy is judged (a backdoor's attack success at the end)
        "final_planted_rate_pct": _final_planted_rate_pct(planted, result.provenance),
        "final_global_acc_pct": final_accuracy(result.rounds["global_accuracy"] * 100),
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


def _final_planted_rate_pct(planted: pd.DataFrame, provenance: pd.DataFrame) -> float:
    """The planted rate (%) averaged over the last traced rounds (``final_accuracy``'s three); a traced round
    without planted rows had no planted input predicted as planted (rate 0). NaN where nothing was traced."""
    traced = sorted(set(provenance["round"])) if "round" in provenance else []
    rates = planted.groupby("round")["planted_rate"].mean() if len(planted) else pd.Series(dtype=float)
    return final_accuracy(rates.reindex(traced, fill_value=0.0) * 100)


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
            "final_planted_rate_pct": float(kept["final_planted_rate_pct"].mean()) if len(kept) else float("nan"),
            "final_global_acc_pct": float(kept["final_global_acc_pct"].mean()) if len(kept) else float("nan"),
        })
    return pd.DataFrame(rows)


def long_table(results: list[RunResult]) -> pd.DataFrame:
    return pd.DataFrame([row for r in results for row in benchmark_rows(r)])


def figure(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """Bars per dataset and method, one panel a scenario: TraceFL strong, the baselines lighter, chance a
    dotted tick; the mean over seeds, with a 95% error bar only where several seeds stand behind it."""
    long = long_table(results)
    long.to_csv(prefix.with_suffix(".csv"), index=False)
    table = aggregate(long)
    scenarios = list(dict.fromkeys(table["scenario"]))
    with paper_style():
        fig, axes = new_figure(1, len(scenarios), panel_height_in=2.6)
        for index, (ax, scenario) in enumerate(zip(axes[0], scenarios)):
            _scenario_panel(ax, table[table["scenario"] == scenario])
            traced = int(table[(table["scenario"] == scenario) & (table["method"] == "tracefl")]["n_inputs"].sum())
            ax.set_title(f"({string.ascii_lowercase[index]}) planted {scenario}\n{traced} planted inputs traced")
        legend_below(fig, axes.flat, fig.get_figwidth(), grouped=False)
        save_figure(fig, prefix)
    return long


def _scenario_panel(ax, part: pd.DataFrame) -> None:
    groups = list(dict.fromkeys(zip(part["dataset"], part["model"])))
    methods = [m for m in METHODS if m in set(part["method"])]
    width = 0.8 / len(methods)
    for j, method in enumerate(methods):
        look = LOOKS[method]  # the method names of METHODS are the looks' keys
        rows = part[part["method"] == method].set_index(["dataset", "model"]).reindex(groups)
        pos = np.arange(len(groups)) - 0.4 + width * (j + 0.5)
        mean = rows["accuracy_pct"].to_numpy(dtype=float)
        ax.bar(pos, np.nan_to_num(mean), width, **look.bar(label=METHODS[method][1]))
        low, high = rows["ci95_low_pct"].to_numpy(dtype=float), rows["ci95_high_pct"].to_numpy(dtype=float)
        several = np.isfinite(low) & np.isfinite(high) & (rows["seeds"].to_numpy(dtype=float) > 1)
        if several.any():  # one seed: no interval, no error bar
            ax.errorbar(pos[several], mean[several], yerr=np.vstack([mean - low, high - mean])[:, several],
                        fmt="none", ecolor="black", elinewidth=0.6, capsize=2, zorder=3)
        tops = np.where(several, high, mean)
        for x, value, top in zip(pos, mean, tops):  # the value over each bar: a 0% bar is otherwise invisible
            ax.annotate("n/a" if np.isnan(value) else f"{value:.0f}", (x, 0 if np.isnan(value) else top),
                        xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", rotation=90)
    chance = part.groupby(["dataset", "model"], sort=False)["chance_pct"].mean().reindex(groups)
    centers = np.arange(len(groups))
    ax.hlines(chance.to_numpy(dtype=float), centers - 0.45, centers + 0.45, colors=LOOKS["chance"].color,
              linestyles=LOOKS["chance"].ls, lw=1.2, zorder=4, label=LOOKS["chance"].label)
    seeds = part.groupby(["dataset", "model"], sort=False)["seeds"].max().reindex(groups)
    ax.set_xticks(centers, [f"{d.split(' (')[0]}\n{m}\n{int(s)} seed{'s' if s != 1 else ''}"
                            for (d, m), s in zip(groups, seeds)])
    ax.set_ylim(0, 118)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_ylabel("Responsible client found (%)")
    ax.grid(axis="y")
    ax.set_axisbelow(True)


#: The printed ground-truth table: one row per dataset, model and scenario, a column per method.
SHOWN = [Shown("dataset", "Dataset", "text"), Shown("model", "Model", "text"), Shown("scenario", "Planted", "text"),
         Shown("seeds", "Seeds", "count"), Shown("n_inputs", "n", "count"),
         Shown("tracefl", "TraceFL", interval=True), Shown("feddebug", "FedDebug"),
         Shown(LABEL_COUNT, "Label count"), Shown(LAST_LAYER, "Last layer"), Shown("chance_pct", "Chance"),
         Shown("final_planted_rate_pct", "Planted rate"), Shown("final_global_acc_pct", "Model acc.")]
CAPTION = ("{title}, % of planted test inputs traced to the client that planted them (n: inputs traced; planted "
           "rate: % predicted as planted, a backdoor's attack success; it and model acc.: last three rounds), mean over the "
           "seeds with at least {min_inputs} such inputs with TraceFL's 95% interval where there are several; "
           "one row per method in {name}.csv.")


def by_scenario(aggregated: pd.DataFrame) -> pd.DataFrame:
    """The aggregate (one row per method) as one row per dataset, model and scenario: a column per method
    (with TraceFL's interval), and TraceFL's seeds, inputs, chance, planted rate and model accuracy."""
    keys = ["dataset", "model", "scenario"]
    wide = aggregated.pivot_table(index=keys, columns="method", values="accuracy_pct", sort=False, dropna=False)
    tracefl = aggregated[aggregated["method"] == "tracefl"].set_index(keys)
    out = tracefl[["seeds", "n_inputs", "chance_pct", "planted_rate_pct", "final_planted_rate_pct",
                   "final_global_acc_pct"]].join(wide)
    out["tracefl" + LOW], out["tracefl" + HIGH] = tracefl["ci95_low_pct"], tracefl["ci95_high_pct"]
    return out.reset_index()


def table(results: list[RunResult], prefix: Path, item: Item) -> pd.DataFrame:
    """The benchmark as a table: mean over seeds and its 95% interval, per dataset, scenario and method
    (the CSV); printed one row per dataset and scenario with a column per method."""
    out = aggregate(long_table(results))
    write_table(out, prefix, CAPTION.format(title=item.title, min_inputs=MIN_PLANTED_INPUTS, name=item.name), SHOWN,
                printed_from=by_scenario(out))
    return out
