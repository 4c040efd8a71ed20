"""The report step: one paper item (figure or table) from finished runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tracefl.config import RunSpec
from tracefl.config.items import get_item
from tracefl.report.results import RunResult


def build_item(name: str, specs: list[RunSpec], runs_dir: str | Path, out_prefix: str | Path) -> pd.DataFrame:
    """Write item ``name``'s files at ``out_prefix`` (+ its extensions); returns its table."""
    item = get_item(name)
    results = [RunResult.load(spec, runs_dir) for spec in specs]
    Path(out_prefix).parent.mkdir(parents=True, exist_ok=True)
    return item.build(results, out_prefix)
