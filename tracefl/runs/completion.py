"""Telling a forced retrain from an interrupted one, when every round is on disk but ``rounds.csv`` is not.

``rounds.csv`` is the training step's Snakemake output; the rounds under ``rounds/`` are not
(Snakemake would delete them with it). Snakemake deletes ``rounds.csv`` before running the
step in two cases that look the same to the job:

- **a forced rerun** (``--forcerun train_fl``, ``-R``, an input Snakemake judges changed): the
  user asks for new training;
- **an interrupted one**: the controller was stopped (SIGINT, SIGTERM, SIGKILL, a closed
  terminal, a scheduler's time limit) while the job ran on, or the job finished but the
  controller never recorded it. The output stays marked incomplete, and the next run
  (``rerun-incomplete``) deletes it and starts the job again. Every finished round must be kept.

What tells them apart is whether *Snakemake recorded the job's last completion*. When the
job writes ``rounds.csv`` it also writes ``rounds/complete.json`` (a file Snakemake does not
own) with that file's modification time. When Snakemake sees the job succeed, it touches the
output and stores its modification time as ``endtime`` in its metadata record of ``rounds.csv``
(``.snakemake/metadata/``, Snakemake's file persistence, the default), so that record's
``endtime`` is at or after the completion's time; a record of an earlier completion is before it. So:

- the record's ``endtime`` is at or after the completion's time: Snakemake had this very output
  as complete and still runs the step again -> a forced rerun, train from round 1;
- no completion file (the job was stopped before it finished), or no record, or a record of an
  older completion (the controller never saw this one) -> interrupted: keep every round and
  write ``rounds.csv`` again.

Outside Snakemake (``python -m tracefl train`` by hand) there is no record: the rounds are
kept. To retrain by hand, delete the run's ``rounds/`` folder. With Snakemake's metadata turned
off (``--drop-metadata``) or another persistence backend, ``--forcerun`` keeps the rounds
too; delete ``rounds/`` there as well.
"""

from __future__ import annotations

import json
import os
from base64 import urlsafe_b64encode
from pathlib import Path

from tracefl.atomic import write_json

COMPLETE = "complete.json"
ROUNDS_TABLE = "rounds.csv"
#: Snakemake's working-directory state folder (relative to the job's working directory).
SNAKEMAKE_DIR = ".snakemake"


def completion_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / "rounds" / COMPLETE


def record_completion(run_dir: str | Path, fingerprint: str, rounds: int) -> Path:
    """After ``rounds.csv`` is written: say that this job finished, and when it wrote the table."""
    table = Path(run_dir) / ROUNDS_TABLE
    payload = {"fingerprint": fingerprint, "rounds": rounds, "rounds_csv_mtime": table.stat().st_mtime}
    return write_json(payload, completion_path(run_dir), indent=1)


def _read_json(path: Path) -> dict | None:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _snakemake_record_path(metadata_dir: Path, key: str) -> Path:
    """Where Snakemake's file persistence keeps the record of output ``key`` (its path as the rule
    names it): the URL-safe base64 of the key, split into names the file system allows."""
    try:
        max_len = os.pathconf(metadata_dir, "PC_NAME_MAX") or 255
    except (OSError, ValueError):
        max_len = 255
    encoded = urlsafe_b64encode(key.encode()).decode()
    parts = [encoded[i : i + max_len - 1] for i in range(0, len(encoded), max_len - 1)]
    return metadata_dir.joinpath(*(["@" + p for p in parts[:-1]] + [parts[-1]]))


def snakemake_endtime(table: str | Path, workdir: str | Path = ".") -> float | None:
    """The completion time Snakemake recorded for output ``table`` (None: no record)."""
    metadata_dir = Path(workdir) / SNAKEMAKE_DIR / "metadata"
    if not metadata_dir.is_dir():
        return None
    keys = {str(Path(table))}
    try:
        keys.add(os.path.relpath(Path(table).resolve(), Path(workdir).resolve()))
    except ValueError:
        pass
    for key in keys:
        record = _read_json(_snakemake_record_path(metadata_dir, key))
        if record and not record.get("incomplete", False) and isinstance(record.get("endtime"), (int, float)):
            return float(record["endtime"])
    return None


def forced_rerun(run_dir: str | Path, fingerprint: str, workdir: str | Path = ".") -> bool:
    """True when the missing ``rounds.csv`` was removed after Snakemake recorded it complete
    (a request to retrain); False when the job or its controller was stopped (keep the rounds)."""
    completion = _read_json(completion_path(run_dir))
    if not completion or completion.get("fingerprint") != fingerprint:
        return False
    written = completion.get("rounds_csv_mtime")
    recorded = snakemake_endtime(Path(run_dir) / ROUNDS_TABLE, workdir)
    return isinstance(written, (int, float)) and recorded is not None and recorded >= written - 1e-3
