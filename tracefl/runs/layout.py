"""Where a run's rounds live, and which are complete: read without torch (status, resume checks).

Layout under a run directory::

    rounds/0003/global.safetensors
    rounds/0003/clients/{client_id}.safetensors
    rounds/0003/meta.json          # written last: a round is complete iff it exists
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tracefl.config.errors import reading

META = "meta.json"
RETRAIN = "delete the run's rounds/ folder and train it again"


def round_dir(run_dir: str | Path, rnd: int) -> Path:
    return Path(run_dir) / "rounds" / f"{rnd:04d}"


def completed_rounds(run_dir: str | Path) -> list[int]:
    """Round numbers whose directory holds a meta file (i.e. were fully written)."""
    root = Path(run_dir) / "rounds"
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / META).is_file())


def read_meta(run_dir: str | Path, rnd: int) -> dict[str, Any]:
    path = round_dir(run_dir, rnd) / META
    with reading(path, RETRAIN), open(path) as handle:
        return json.load(handle)


def coverage_path(table: str | Path) -> Path:
    """``provenance.csv`` -> ``provenance.csv.json``: the rounds and row count a complete table holds
    (written before the table, so a reader can tell a cut file from a whole one)."""
    return Path(f"{table}.json")
