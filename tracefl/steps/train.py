"""The train step: one federated training run as a Flower simulation of this workflow's Flower
app (tracefl.flower), on Ray or inline, resumed from its checkpoints; then its rounds table."""

from __future__ import annotations

import logging
import shutil
import sys
import warnings
from pathlib import Path

import pandas as pd
import torch

from tracefl.config import RunSpec, SimulationSettings
from tracefl.errors import InputError
from tracefl.data.partition import load_partition
from tracefl.data.scenarios import stale_scenario_note
from tracefl.data.store import check_store, load_split
from tracefl.flower.client_app import make_client_app
from tracefl.flower.inline import run_inline
from tracefl.flower.server_app import make_server_app
from tracefl.runs.checkpoint import completed_rounds, export_final_model
from tracefl.runs.completion import record_completion
from tracefl.runs.fingerprint import reason_to_start_over, run_fingerprint
from tracefl.runs.rounds import write_rounds_table
from tracefl.steps.partition import check_enough_clients
from tracefl.threads import available_cpus


def quiet_flower_logs() -> None:
    """Each Flower log line once, plain (no colour codes), at INFO, through the process's own
    logging; the notice that ``run_simulation`` is deprecated and Ray's accelerator tip are
    dropped (they say nothing about this run)."""
    flower = logging.getLogger("flwr")
    for handler in list(flower.handlers):
        flower.removeHandler(handler)
    flower.propagate = True
    flower.setLevel(logging.INFO)
    if not any(isinstance(f, _DropNotices) for f in flower.filters):
        flower.addFilter(_DropNotices())
    warnings.filterwarnings("ignore", message=".*Ray will no longer override accelerator", category=FutureWarning)


class _DropNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "DEPRECATED FEATURE" not in record.getMessage()


def backend_config(settings: SimulationSettings, num_cpus: int | None = None) -> dict:
    """Ray resources per simulated client: CPUs always, a GPU fraction only when CUDA is visible."""
    use_gpu = settings.device != "cpu" and torch.cuda.is_available()
    return {
        "client_resources": {
            "num_cpus": settings.client_cpus,
            "num_gpus": settings.client_gpus if use_gpu else 0.0,
        },
        "init_args": {"include_dashboard": False, "num_cpus": num_cpus or available_cpus()},
    }


def check_training_inputs(spec: RunSpec, dataset_dir: str | Path, partition_path: str | Path) -> None:
    """Read the dataset and the partition before Ray starts: a bad file fails in a second, naming it."""
    check_store(dataset_dir, spec.data.name, spec.data.kind, spec.num_classes)
    _, labels = load_split(dataset_dir, "train")
    load_split(dataset_dir, "test")
    partition = load_partition(partition_path)
    if partition.get("num_examples", len(labels)) != len(labels):
        raise InputError(
            f"{partition_path}: a partition of {partition['num_examples']} examples, but {dataset_dir} has "
            f"{len(labels)}; delete the file and run the partition step again"
        )
    if partition["num_clients"] != spec.num_clients:
        raise InputError(
            f"{partition_path}: a partition of {partition['num_clients']} clients, but run {spec.run_id} has "
            f"{spec.num_clients}; delete the file and run the partition step again"
        )
    stale = stale_scenario_note(partition)
    if stale:
        raise InputError(f"{partition_path}: {stale}; delete the file and run the partition step again")
    # Runs that differ only in clients per round share a partition, and the partition step checks
    # only the run it was written for: each run checks it again for itself.
    check_enough_clients(spec, partition)


def train_run(
    spec: RunSpec,
    dataset_dir: str | Path,
    partition_path: str | Path,
    run_dir: str | Path,
    settings: SimulationSettings = SimulationSettings(),
    num_cpus: int | None = None,
) -> pd.DataFrame:
    """Train (or resume) ``spec`` and write ``rounds.csv``; returns the rounds table.

    Rounds already on disk with this run's fingerprint (settings, partition, code) are
    kept and the simulation starts after the last one; other rounds, or a complete set
    whose ``rounds.csv`` Snakemake removed on request (a forced rerun, told from an interrupted
    run by :mod:`tracefl.runs.completion`), are trained again from round 1.
    """
    run_dir = Path(run_dir)
    fingerprint = start_or_resume(spec, dataset_dir, partition_path, run_dir)
    if len(completed_rounds(run_dir)) < spec.rounds:
        threads = settings.client_threads
        quiet_flower_logs()
        server_app = make_server_app(spec, dataset_dir, partition_path, run_dir, settings.device, fingerprint, threads)
        client_app = make_client_app(spec, dataset_dir, partition_path, settings.device, threads)
        if settings.backend == "inline":
            run_inline(server_app, client_app, spec.num_clients)
        else:
            from flwr.simulation import run_simulation  # Ray's engine: ~2 s of imports the inline backend skips

            run_simulation(
                server_app=server_app,
                client_app=client_app,
                num_supernodes=spec.num_clients,
                backend_config=backend_config(settings, num_cpus),
            )
    return finish_training(spec, run_dir, fingerprint)


def start_or_resume(spec: RunSpec, dataset_dir: str | Path, partition_path: str | Path, run_dir: str | Path) -> str:
    """Check the inputs, clear rounds that must not be continued; returns the run's fingerprint."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_training_inputs(spec, dataset_dir, partition_path)
    fingerprint = run_fingerprint(spec, partition_path)
    reason = reason_to_start_over(run_dir, spec.rounds, fingerprint)
    if reason:
        print(f"tracefl: {spec.run_id}: {reason}; training again from round 1", file=sys.stderr, flush=True)
        shutil.rmtree(run_dir / "rounds")
    return fingerprint


def finish_training(spec: RunSpec, run_dir: str | Path, fingerprint: str | None = None) -> pd.DataFrame:
    """``rounds.csv`` once every round is on disk (the training step's output), with the last
    round's global model exported beside it (``final_model.safetensors`` / ``.pt``); an error otherwise.
    With the run's ``fingerprint``, also ``rounds/complete.json`` (how a forced rerun is told from an
    interrupted one: :mod:`tracefl.runs.completion`)."""
    done = completed_rounds(run_dir)
    if len(done) < spec.rounds:
        raise RuntimeError(
            f"training of {spec.run_id} stopped after {len(done)} of {spec.rounds} rounds; see the log above. "
            "Re-running resumes from the last complete round."
        )
    export_final_model(run_dir, spec.rounds)
    table = write_rounds_table(run_dir)
    if fingerprint is not None:
        record_completion(run_dir, fingerprint, spec.rounds)
    return table
