"""Reading a run back: the models and metadata of each round, as provenance and FedDebug need them."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from tracefl.config import RunSpec
from tracefl.models.registry import build_model
from tracefl.runs.checkpoint import read_client, read_global, read_meta


@lru_cache(maxsize=2)
def _template(model: str, num_classes: int) -> nn.Module:
    """The run's architecture, built once per process (a transformer takes seconds to build)."""
    return build_model(model, num_classes, pretrained=False)


def model_from_state(spec: RunSpec, state: dict[str, torch.Tensor]) -> nn.Module:
    """The run's architecture with ``state`` loaded, in eval mode (a fresh copy per call)."""
    model = copy.deepcopy(_template(spec.model, spec.num_classes))
    model.load_state_dict(state)
    return model.eval()


def round_models(
    spec: RunSpec, run_dir: str | Path, rnd: int, device: torch.device
) -> tuple[nn.Module, dict[str, nn.Module], dict]:
    """(global model, participating clients' models by id, round metadata) of round ``rnd``."""
    meta = read_meta(run_dir, rnd)
    global_model = model_from_state(spec, read_global(run_dir, rnd)).to(device)
    clients = {c: model_from_state(spec, read_client(run_dir, rnd, c)).to(device) for c in meta["participants"]}
    return global_model, clients, meta
