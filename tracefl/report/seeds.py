"""Runs that differ only in their seed, read together: mean and 95% interval over the seeds.

An item's config entry repeats a setting over seeds with ``sweep: {seed: [...]}``; its
figure and table then show one row, panel or point per setting, the mean over the seeds
whose model learned (:mod:`tracefl.report.learned`) and a two-sided 95% Student-t interval
(:func:`tracefl.report.summary.mean_ci95`). Inconclusive seeds are counted, not averaged
in; where no seed of a setting is conclusive the mean of all of them is shown, marked
inconclusive. One seed gives its value with no interval.
"""

from __future__ import annotations

import json
from typing import Iterable, Sequence, TypeVar

import pandas as pd

from tracefl.report.summary import mean_ci95

T = TypeVar("T")

#: Suffixes of a metric's interval columns.
LOW, HIGH = "_ci95_low", "_ci95_high"
#: Counts of a run summary that add up over seeds (inputs traced), not averaged.
SUMS = ("traced_correct", "traced_mispredictions", "inputs_traced")
#: Percent columns that are settings or fixed levels, not outcomes of a run: no interval.
_NO_INTERVAL = ("learned_threshold_pct",)


def settings_key(spec) -> str:
    """A run's settings without its seed: runs with the same key are seeds of one setting."""
    settings = spec.to_dict()
    settings.pop("seed", None)
    return json.dumps(settings, sort_keys=True)


def group_by_settings(results: Iterable[T]) -> list[list[T]]:
    """Results (anything with ``.spec``) grouped by :func:`settings_key`, in first-seen order."""
    groups: dict[str, list[T]] = {}
    for result in results:
        groups.setdefault(settings_key(result.spec), []).append(result)
    return list(groups.values())


def interval_metrics(columns: Sequence[str]) -> list[str]:
    """The percent columns of a run summary that get an interval: outcomes, not chance levels."""
    return [c for c in columns if c.endswith("_pct") and c not in _NO_INTERVAL and "chance" not in c]


def kept_seeds(rows: pd.DataFrame) -> pd.DataFrame:
    """The seeds that are averaged: the conclusive ones, or all where none is."""
    if "conclusive" not in rows.columns:
        return rows
    conclusive = rows[rows["conclusive"].astype(bool)]
    return conclusive if len(conclusive) else rows


def aggregate_seeds(runs: pd.DataFrame, sums: Sequence[str] = SUMS) -> pd.DataFrame:
    """One row per setting from one row per run (column ``group``: the settings key).

    Outcome percentages (:func:`interval_metrics`) become the mean over the kept seeds
    with ``_ci95_low`` / ``_ci95_high`` beside them (clipped to 0-100); chance levels and
    other numbers the mean; ``sums`` (inputs traced) the total over the kept seeds; text
    and settings the first run's. ``seeds``, ``conclusive_seeds`` and ``conclusive`` (any
    seed conclusive) say what the mean stands on; ``run_id`` lists every run (``;``).
    """
    metrics = interval_metrics(runs.columns)
    out = []
    for _, rows in runs.groupby("group", sort=False):
        kept = kept_seeds(rows)
        row: dict = {}
        for column in rows.columns:
            if column in ("group", "seed", "run_id", "conclusive"):
                continue
            if column in metrics:
                mean, low, high = mean_ci95(kept[column].to_numpy(dtype=float), bounds=(0.0, 100.0))
                row.update({column: mean, column + LOW: low, column + HIGH: high})
            elif column in sums:
                row[column] = int(kept[column].sum())
            elif pd.api.types.is_numeric_dtype(rows[column]) and not pd.api.types.is_bool_dtype(rows[column]):
                values = rows[column].astype(float)
                # a setting (alpha, clients) is the same in every seed: keep it as it is
                row[column] = rows[column].iloc[0] if values.nunique(dropna=False) == 1 else float(kept[column].mean())
            else:
                row[column] = rows[column].iloc[0]
        conclusive = rows["conclusive"].astype(bool) if "conclusive" in rows.columns else pd.Series(True, rows.index)
        row.update(seeds=int(len(rows)), conclusive_seeds=int(conclusive.sum()), conclusive=bool(conclusive.any()),
                   run_id=";".join(rows["run_id"].astype(str)) if "run_id" in rows.columns else "")
        out.append(row)
    return pd.DataFrame(out)


def summaries_by_setting(results: Sequence, summarise, sums: Sequence[str] = SUMS) -> pd.DataFrame:
    """``summarise(result) -> dict`` for every run, then :func:`aggregate_seeds` over their seeds."""
    rows = [{"group": settings_key(r.spec), "seed": r.spec.seed, **summarise(r)} for r in results]
    return aggregate_seeds(pd.DataFrame(rows), sums)


def with_interval_columns(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """``columns`` in order, each metric followed by its interval columns where the table has them."""
    out: list[str] = []
    for column in columns:
        out.append(column)
        out.extend(c for c in (column + LOW, column + HIGH) if c in table.columns)
    return out
