"""Run one federated training run as a Flower simulation and summarise its rounds."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch
from flwr.simulation import run_simulation

from tracefl.config import RunSpec, SimulationSettings
from tracefl.fl.client_app import make_client_app
from tracefl.fl.server_app import make_server_app
from tracefl.runs.checkpoint import completed_rounds
from tracefl.runs.rounds import write_rounds_table


def backend_config(settings: SimulationSettings, num_cpus: int | None = None) -> dict:
    """Ray resources per simulated client: CPUs always, a GPU fraction only when CUDA is visible."""
    use_gpu = settings.device != "cpu" and torch.cuda.is_available()
    return {
        "client_resources": {
            "num_cpus": settings.client_cpus,
            "num_gpus": settings.client_gpus if use_gpu else 0.0,
        },
        "init_args": {"include_dashboard": False, "num_cpus": num_cpus or os.cpu_count() or 1},
    }


def train_run(
    spec: RunSpec,
    dataset_dir: str | Path,
    partition_path: str | Path,
    run_dir: str | Path,
    settings: SimulationSettings = SimulationSettings(),
    num_cpus: int | None = None,
) -> pd.DataFrame:
    """Train (or resume) ``spec`` and write ``rounds.csv``; returns the rounds table.

    Rounds already on disk are kept: the simulation starts after the last complete one.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if len(completed_rounds(run_dir)) < spec.rounds:
        threads = max(1, int(settings.client_cpus))
        run_simulation(
            server_app=make_server_app(spec, dataset_dir, partition_path, run_dir, settings.device),
            client_app=make_client_app(spec, dataset_dir, partition_path, settings.device, threads),
            num_supernodes=spec.num_clients,
            backend_config=backend_config(settings, num_cpus),
        )
    done = completed_rounds(run_dir)
    if len(done) < spec.rounds:
        raise RuntimeError(
            f"training of {spec.run_id} stopped after {len(done)} of {spec.rounds} rounds; see the log above. "
            "Re-running resumes from the last complete round."
        )
    return write_rounds_table(run_dir)
