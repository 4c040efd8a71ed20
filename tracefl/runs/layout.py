"""Where a run's files live, and which rounds are complete: read without torch (status, resume checks).

Under the results folder: ``runs/{run}/`` (a run directory, with its ``job.json``) and
``partitions/{dataset}/{partition}.json`` and ``benchmarks/{step}/{run}.tsv``. Layout under a run directory::

    rounds/0003/global.safetensors
    rounds/0003/clients/{client_id}.safetensors
    rounds/0003/meta.json          # written last: a round is complete iff it exists
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tracefl.errors import InputError, reading
from tracefl.atomic import write_json

META = "meta.json"
#: The meta key of the global model's predicted class for each server test input (in order):
#: written by the workflow's training, read by provenance to select inputs without predicting
#: the whole test set again (rounds recorded elsewhere may lack it: provenance then predicts).
TEST_PREDICTIONS = "test_predictions"
#: The meta key of a round whose client models were not kept (a recorder's ``keep_every``/
#: ``keep_last``, or the workflow's ``keep_client_models: false`` once a run's steps ran): its
#: global model and facts are there, but it cannot be traced. Its value says why and what to do.
CLIENT_MODELS_DROPPED = "client_models_dropped"
JOB = "job.json"
RETRAIN = "delete the run's rounds/ folder and train it again"


def client_order(client_id: str) -> tuple[int, int, str]:
    """Sort key of client ids: numeric ids by value (2 before 10), then any others by name."""
    s = str(client_id)
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


#: What a client id may look like before it becomes a file name: a partition or node id, or a
#: plain name (letters, digits, ``_ . -``, not starting with a dot): never a path.
_CLIENT_ID = re.compile(r"[0-9A-Za-z_-][0-9A-Za-z_.-]{0,127}")


def check_client_ids(ids: Any, where: str | Path) -> list[str]:
    """``ids`` (a round's ``participants``) as a list of distinct safe client ids, or one
    :class:`InputError` line naming ``where`` (a ``meta.json`` that names files must not name others)."""
    if not isinstance(ids, list):
        raise InputError(f"{where}: participants must be a list of client ids (got {type(ids).__name__}); {RETRAIN}")
    for cid in ids:
        if not isinstance(cid, str) or not _CLIENT_ID.fullmatch(cid):
            raise InputError(f"{where}: participant {cid!r} is not a client id (digits, letters, _ . -, "
                             f"not starting with a dot); {RETRAIN}")
    if len(set(ids)) != len(ids):
        twice = sorted({c for c in ids if ids.count(c) > 1}, key=client_order)
        raise InputError(f"{where}: participant(s) {', '.join(twice)} listed twice; {RETRAIN}")
    return ids


def run_path(run_id: str, results: str = "results") -> str:
    """The run directory of ``run_id`` (the workflow's and ``flwr run``'s)."""
    return f"{results}/runs/{run_id}"


def job_path(run_id: str, results: str = "results") -> str:
    """The job file of ``run_id``: everything its jobs need to know about it."""
    return f"{run_path(run_id, results)}/{JOB}"


def partition_path(dataset: str, partition_id: str, results: str = "results") -> str:
    """The partition file of a dataset (runs that agree on its settings share it)."""
    return f"{results}/partitions/{dataset}/{partition_id}.json"


def benchmark_path(step: str, run_id: str, results: str = "results") -> str:
    """The Snakemake benchmark file of one step of a run (its wall seconds, memory, CPU time)."""
    return f"{results}/benchmarks/{step}/{run_id}.tsv"


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


def dropped_note(meta: dict[str, Any]) -> str | None:
    """Why a round's client models are gone (its meta's note), None where they were kept."""
    note = meta.get(CLIENT_MODELS_DROPPED)
    return str(note) if note else None


def drop_client_models(run_dir: str | Path, rnd: int, note: str) -> int:
    """Delete round ``rnd``'s client models, keeping its global model and facts; returns the bytes freed.

    The round's meta is marked first (``client_models_dropped``: ``note``, which says why and how
    to get them back), so a cut between the two leaves a round marked dropped with some files left
    (readers refuse it by its mark; dropping again removes them), never a round that claims models
    it lacks. A round without client models is left as it is (0 bytes).
    """
    clients = sorted((round_dir(run_dir, rnd) / "clients").glob("*.safetensors"))
    if not clients:
        return 0
    meta = read_meta(run_dir, rnd)
    meta[CLIENT_MODELS_DROPPED] = note
    write_json(meta, round_dir(run_dir, rnd) / META, indent=1, sort_keys=True)
    freed = 0
    for path in clients:
        freed += path.stat().st_size
        path.unlink()
    return freed


def coverage_path(table: str | Path) -> Path:
    """``provenance.csv`` -> ``provenance.csv.json``: the rounds and row count a complete table holds
    (written before the table, so a reader can tell a cut file from a whole one)."""
    return Path(f"{table}.json")
