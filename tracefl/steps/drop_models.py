"""Free a finished run's disk: delete its client models once every step that reads them has run.

A run keeps each round's global model and every client's model (``rounds/NNNN/clients/``): the
client models are what provenance, FedDebug, repair and Figure 1 read, and ~90% of a run's
bytes (a 10-round ResNet-18 run of 10 clients: 4.7 GB). With the config's
``keep_client_models: false`` the workflow's ``all`` target runs this step for every run after
its last reader, so the quick preset's build ends at ~12 GB instead of ~70 (README). What stays: each
round's global model and facts (``meta.json``: accuracy, predictions, fingerprint),
``rounds.csv``, ``final_model.*`` and every table built from the client models. A step that
later asks for a dropped model gets one line saying what happened and how to train it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracefl.atomic import write_json
from tracefl.errors import InputError
from tracefl.runs.layout import completed_rounds, drop_client_models

#: The config key that turns this step on (false) or off (true, the default).
KEEP_KEY = "keep_client_models"
#: The step's output beside a run's other files: what it deleted, so the workflow knows it ran.
MARKER = "client_models_dropped.json"


def dropped_note(run_dir: str | Path) -> str:
    """What a round's meta says once its client models are gone (read back by ``read_client``)."""
    run_dir = Path(run_dir)
    return (f"deleted once every step that reads them had run ({KEEP_KEY}: false); to read them again, "
            f"set {KEEP_KEY}: true and delete {run_dir / 'rounds.csv'} and {run_dir / 'rounds'}/ (the run trains again)")


def drop_run_client_models(run_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Delete the client models of every complete round of ``run_dir``; write and return the summary.

    Refuses a run without complete rounds (nothing trained there: a wrong folder, not a run to
    free). Dropping twice is harmless: rounds already dropped free 0 bytes.
    """
    run_dir = Path(run_dir)
    rounds = completed_rounds(run_dir)
    if not rounds:
        raise InputError(f"{run_dir}: no complete round (rounds/NNNN/meta.json) to free; is it a trained run's folder?")
    note = dropped_note(run_dir)
    freed = {rnd: drop_client_models(run_dir, rnd, note) for rnd in rounds}
    summary = {"run_dir": str(run_dir), "rounds": rounds, "bytes_freed": sum(freed.values()),
               "rounds_freed": [rnd for rnd, n in freed.items() if n]}
    write_json(summary, out, indent=1)
    return summary
