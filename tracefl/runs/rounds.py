"""The rounds table of a run (``rounds.csv``), read back from the round metadata."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tracefl.atomic import write_csv
from tracefl.runs.layout import completed_rounds, read_meta

ROUNDS_COLUMNS = ["round", "global_accuracy", "global_loss", "participants"]


def rounds_table(run_dir: str | Path) -> pd.DataFrame:
    """One row per completed round."""
    rows = []
    for rnd in completed_rounds(run_dir):
        meta = read_meta(run_dir, rnd)
        rows.append(
            {
                "round": rnd,
                "global_accuracy": meta["global_accuracy"],
                "global_loss": meta["global_loss"],
                "participants": " ".join(meta["participants"]),
            }
        )
    return pd.DataFrame(rows, columns=ROUNDS_COLUMNS)


def write_rounds_table(run_dir: str | Path) -> pd.DataFrame:
    """Write ``rounds.csv`` (the training step's output) atomically; returns the table."""
    table = rounds_table(run_dir)
    write_csv(table, Path(run_dir) / "rounds.csv")
    return table
