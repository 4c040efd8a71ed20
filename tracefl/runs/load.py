"""Reading a run back: the models and metadata of each round, as provenance and FedDebug need them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from tracefl.config import RunSpec
from tracefl.errors import InputError
from tracefl.models.builders import build_model
from tracefl.runs.checkpoint import read_client, read_global, read_meta
from tracefl.runs.layout import META, RETRAIN, check_client_ids, dropped_note, round_dir


@lru_cache(maxsize=2)
def _template(model: str, num_classes: int) -> nn.Module:
    """The run's architecture, built once per process (a transformer takes seconds to build)."""
    return build_model(model, num_classes, pretrained=False)


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Load recorded arrays into ``model``: by name, or in order where the app sent a plain
    list of arrays (Flower's ``ArrayRecord(list_of_ndarrays)`` names them 0, 1, ...)."""
    own = model.state_dict()
    if set(state) == set(own):
        named = dict(state)
    elif len(state) == len(own) and all(k.isdigit() for k in state):
        named = dict(zip(own, (state[k] for k in sorted(state, key=int))))
    else:
        missing = sorted(set(own) - set(state))[:3]
        raise InputError(
            f"{where}: the recorded arrays do not fit the model ({len(state)} arrays for {len(own)} "
            f"entries of its state_dict; missing e.g. {missing}); is the model the one the run trained?"
        )
    for key, value in named.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise InputError(
                f"{where}: array {key} has shape {tuple(value.shape)}, the model expects {tuple(own[key].shape)}; "
                "is the model the one the run trained?"
            )
    model.load_state_dict(named)


def check_participants(run_dir: str | Path, rnd: int, meta: Mapping) -> None:
    """``meta.json``'s participants: a list of distinct ids, each with its model file and no model
    file without its id (before any id becomes a path)."""
    path = round_dir(run_dir, rnd) / META
    note = dropped_note(meta)
    if note:
        raise InputError(f"{path}: round {rnd}'s client models were {note}")
    participants = meta.get("participants")
    if not isinstance(participants, list) or not participants or not all(isinstance(c, str) for c in participants):
        raise InputError(f"{path}: 'participants' is not a non-empty list of client ids; {RETRAIN}")
    if len(set(participants)) != len(participants):
        twice = sorted({c for c in participants if participants.count(c) > 1})
        raise InputError(f"{path}: client(s) {', '.join(twice)} listed twice in 'participants'; {RETRAIN}")
    unsafe = [c for c in participants if not c or c in (".", "..") or "/" in c or "\\" in c or "\x00" in c]
    if unsafe:
        raise InputError(f"{path}: participant id {unsafe[0]!r} is not a file name; {RETRAIN}")
    files = {p.name[: -len(".safetensors")] for p in (round_dir(run_dir, rnd) / "clients").glob("*.safetensors")}
    missing, extra = sorted(set(participants) - files), sorted(files - set(participants))
    if missing or extra:
        said = "; ".join(filter(None, [missing and f"no model file for {', '.join(missing)}",
                                       extra and f"model files of non-participants {', '.join(extra)}"]))
        raise InputError(f"{path}: 'participants' does not match clients/ ({said}); {RETRAIN}")


def models_of_round(
    template: nn.Module, run_dir: str | Path, rnd: int, device: torch.device | str
) -> tuple[nn.Module, dict[str, nn.Module], dict]:
    """(global model, participating clients' models by id, round metadata) of round ``rnd``:
    copies of ``template`` with the recorded arrays loaded, in eval mode, on ``device``."""
    meta = read_meta(run_dir, rnd)
    where = f"{run_dir} round {rnd}"
    check_participants(run_dir, rnd, meta)
    check_client_ids(meta.get("participants"), round_dir(run_dir, rnd) / META)

    def loaded(state: Mapping[str, torch.Tensor], what: str) -> nn.Module:
        model = copy.deepcopy(template)
        load_state(model, state, f"{where} {what}")
        return model.eval().to(device)

    global_model = loaded(read_global(run_dir, rnd), "global")
    clients = {c: loaded(read_client(run_dir, rnd, c), f"client {c}") for c in meta["participants"]}
    return global_model, clients, meta


def round_models(
    spec: RunSpec, run_dir: str | Path, rnd: int, device: torch.device
) -> tuple[nn.Module, dict[str, nn.Module], dict]:
    """(global model, participating clients' models by id, round metadata) of a run of this workflow."""
    return models_of_round(_template(spec.model, spec.num_classes), run_dir, rnd, device)
