"""The labelled inputs an audit traces: a user's files, or a workflow run's server test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tracefl.errors import InputError, reading
from tracefl.models.inputs import Inputs
from tracefl.runs.layout import JOB


def read_labels(path: str | Path) -> torch.Tensor:
    """Class labels from a ``.npy``/``.pt`` file (read as ``explain`` reads inputs: no pickle), one per input."""
    from tracefl.explain.inputs import TENSOR_SUFFIXES

    path = Path(path)
    if path.suffix.lower() not in TENSOR_SUFFIXES:
        raise InputError(f"{path}: labels must be {', '.join(TENSOR_SUFFIXES)} (a 1-D tensor of class ids)")
    fix = "give a .npy or .pt file holding one 1-D tensor of class ids"
    with reading(path, fix):
        value = (torch.from_numpy(np.load(path, allow_pickle=False)) if path.suffix.lower() == ".npy"
                 else torch.load(path, map_location="cpu", weights_only=True))
    whole = isinstance(value, torch.Tensor) and (not value.is_floating_point() or torch.equal(value, value.round()))
    if not whole or value.dim() != 1:
        raise InputError(f"{path}: not a 1-D tensor of class ids; {fix}")
    return value.long()


def workflow_test_set(run_dir: str | Path, data_dir: str | Path | None = None) -> tuple[Inputs, torch.Tensor]:
    """The server test set of a run of this workflow (its ``job.json`` says which), as provenance reads it."""
    from tracefl.config.job import read_job
    from tracefl.data.tensors import server_tensors

    run_dir = Path(run_dir)
    if not (run_dir / JOB).is_file():
        raise InputError(f"{run_dir}: no {JOB}, so no server test set is known; give --inputs X --labels Y")
    spec = read_job(run_dir / JOB).spec
    found = _dataset_dir(run_dir, spec.dataset, data_dir)
    return server_tensors(spec.data, found, spec.max_server_samples, model=spec.model, max_length=spec.max_length)


def workflow_attack_set(run_dir: str | Path, data_dir: str | Path | None = None) -> tuple[Inputs, int] | None:
    """A backdoor run's triggered test inputs and the class the trigger aims at (the planted
    scenario's, tracefl.data.scenarios); None for a run without a backdoor."""
    from tracefl.config.job import read_job
    from tracefl.data.scenarios import BACKDOOR, planted_test_sets
    from tracefl.data.store import load_split
    from tracefl.data.tensors import model_inputs

    run_dir = Path(run_dir)
    if not (run_dir / JOB).is_file():
        return None
    spec = read_job(run_dir / JOB).spec
    if spec.scenario != BACKDOOR:
        return None
    folder = _dataset_dir(run_dir, spec.dataset, data_dir)
    x_raw, y_raw = load_split(str(folder), "test")
    n = spec.max_server_samples
    (planted,) = planted_test_sets(spec.scenario, x_raw[:n], y_raw[:n], spec.data.kind)
    return model_inputs(planted.x, spec.data, spec.model, spec.max_length), planted.expected


def _dataset_dir(run_dir: Path, dataset: str, data_dir: str | Path | None) -> Path:
    candidates = [Path(data_dir)] if data_dir else [
        Path("resources/datasets") / dataset,
        run_dir.resolve().parents[2] / "resources" / "datasets" / dataset,
    ]
    found = next((p for p in candidates if p.is_dir()), None)
    if found is None:
        raise InputError(f"no dataset folder for {dataset} (looked in {', '.join(map(str, candidates))}); "
                         "give --data-dir")
    return found
