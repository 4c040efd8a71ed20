"""The report step: one paper item (figure or table) from finished runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tracefl.atomic import staged
from tracefl.config import RunSpec
from tracefl.config.items import get_item
from tracefl.report.results import RunResult


def build_item(name: str, specs: list[RunSpec], runs_dir: str | Path, out_prefix: str | Path) -> pd.DataFrame:
    """Write item ``name``'s files at ``out_prefix`` (+ its extensions); returns its table."""
    item = get_item(name)
    results = [RunResult.load(spec, runs_dir) for spec in specs]
    with staged(out_prefix) as prefix:  # all of the item's files, or none
        return item.build(results, prefix)
