"""Per-round and per-run summaries of provenance results, shared by every figure and table."""

from __future__ import annotations

import pandas as pd

from tracefl.report.learned import final_accuracy

from tracefl.provenance.columns import (
    CORRECT,
    KIND,
    LABEL_COUNT,
    LABEL_HELD,
    LABEL_HELD_CHANCE,
    LAST_LAYER,
    SECONDS,
    TOP_HOLDER,
    TOP_HOLDER_CHANCE,
    scored_by,
)

#: The provenance columns averaged per round: TraceFL with its chance levels, then the
#: baselines scored on the same inputs (tracefl.provenance.scoring).
METRICS = [LABEL_HELD, LABEL_HELD_CHANCE, TOP_HOLDER, TOP_HOLDER_CHANCE,
           scored_by(LABEL_HELD, LABEL_COUNT), scored_by(TOP_HOLDER, LABEL_COUNT),
           scored_by(LABEL_HELD, LAST_LAYER), scored_by(TOP_HOLDER, LAST_LAYER)]


def pct(column: str) -> str:
    """The name of a provenance column's average in % (:func:`per_run`): ``label_held_pct``."""
    return f"{column}_pct"


def per_round(
    provenance: pd.DataFrame, rounds: pd.DataFrame, kind: str = CORRECT, metrics: list[str] = METRICS
) -> pd.DataFrame:
    """One row per training round: localization metrics (in %), inputs traced, global accuracy (in %).

    Rounds where no input qualified keep NaN metrics and ``n_traced`` 0, so figures
    show a gap instead of a fake 0 %.
    """
    subset = provenance[provenance[KIND] == kind]
    absent = [m for m in metrics if m not in subset.columns]  # a table from before a column existed
    if absent:
        subset = subset.assign(**{m: float("nan") for m in absent})
    grouped = subset.groupby("round")
    table = grouped[metrics].mean().mul(100.0)
    table["n_traced"] = grouped.size()
    table["seconds_per_input"] = grouped[SECONDS].mean()
    out = rounds[["round", "global_accuracy"]].copy()
    out["global_accuracy"] = out["global_accuracy"] * 100.0
    out = out.merge(table.reset_index(), on="round", how="left")
    out["n_traced"] = out["n_traced"].fillna(0).astype(int)
    return out


def per_run(per_round_table: pd.DataFrame, metrics: list[str] = METRICS) -> dict[str, float]:
    """Averages over rounds as the paper reports them (rounds with no input are skipped)."""
    traced = per_round_table[per_round_table["n_traced"] > 0]
    summary = {pct(m): float(traced[m].mean()) for m in metrics}
    summary.update(
        rounds=int(len(per_round_table)),
        rounds_traced=int(len(traced)),
        inputs_traced=int(per_round_table["n_traced"].sum()),
        last_global_accuracy_pct=float(per_round_table["global_accuracy"].iloc[-1]),
        # what "learned" is judged on (tracefl.report.learned)
        final_global_accuracy_pct=final_accuracy(per_round_table["global_accuracy"]),
        best_global_accuracy_pct=float(per_round_table["global_accuracy"].max()),
        seconds_per_input=float(traced["seconds_per_input"].mean()) if len(traced) else float("nan"),
    )
    return summary


def mean_ci95(values, bounds: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """Mean and two-sided 95% Student-t interval of independent runs (e.g. seeds).

    ``bounds`` clips the interval to the values' range (percentages: (0, 100)); with three
    seeds t is 4.3, so an unclipped interval of a rate often leaves it. One value gives its
    mean with a NaN interval (nothing to estimate a spread from); no value gives NaN throughout.
    """
    import numpy as np
    from scipy import stats

    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, low, high
