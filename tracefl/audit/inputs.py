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
    candidates = [Path(data_dir)] if data_dir else [
        Path("resources/datasets") / spec.dataset,
        run_dir.resolve().parents[2] / "resources" / "datasets" / spec.dataset,
    ]
    found = next((p for p in candidates if p.is_dir()), None)
    if found is None:
        raise InputError(f"no dataset folder for {spec.dataset} (looked in {', '.join(map(str, candidates))}); "
                         "give --data-dir")
    return server_tensors(spec.data, found, spec.max_server_samples, model=spec.model, max_length=spec.max_length)
