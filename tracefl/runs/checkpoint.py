"""Per-round checkpoints: safetensors weights plus JSON metadata, written atomically
(the layout is in :mod:`tracefl.runs.layout`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file

from tracefl.errors import InputError, reading
from tracefl.runs.layout import (  # noqa: F401 (re-exported)
    CLIENT_MODELS_DROPPED, META, RETRAIN, check_client_ids, completed_rounds, drop_client_models, dropped_note,
    read_meta, round_dir,
)


def _contiguous(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def write_round(
    run_dir: str | Path,
    rnd: int,
    global_state: Mapping[str, torch.Tensor],
    client_states: Mapping[str, Mapping[str, torch.Tensor]],
    meta: Mapping[str, Any],
) -> Path:
    """Write one round into a temporary directory and rename it into place."""
    final = round_dir(run_dir, rnd)
    check_client_ids(list(client_states), f"round {rnd} of {run_dir}")
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "clients").mkdir(parents=True)
    save_file(_contiguous(global_state), str(tmp / "global.safetensors"))
    for cid, state in client_states.items():
        save_file(_contiguous(state), str(tmp / "clients" / f"{cid}.safetensors"))
    with open(tmp / META, "w") as handle:
        json.dump(dict(meta), handle, indent=1, sort_keys=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def _load(path: Path) -> dict[str, torch.Tensor]:
    with reading(path, RETRAIN):
        return load_file(str(path))


def read_global(run_dir: str | Path, rnd: int) -> dict[str, torch.Tensor]:
    return _load(round_dir(run_dir, rnd) / "global.safetensors")


def read_client(run_dir: str | Path, rnd: int, client_id: str) -> dict[str, torch.Tensor]:
    check_client_ids([client_id], round_dir(run_dir, rnd) / META)
    path = round_dir(run_dir, rnd) / "clients" / f"{client_id}.safetensors"
    if not path.is_file():
        dropped = dropped_note(read_meta(run_dir, rnd))
        if dropped:  # deleted on purpose: say so and how to get them back, not "file is missing"
            raise InputError(f"{path}: round {rnd}'s client models were {dropped}")
    return _load(path)


FINAL_MODEL = "final_model"  # results/runs/{run}/final_model.{safetensors,pt}


def export_final_model(run_dir: str | Path, rnd: int) -> tuple[Path, Path]:
    """The global model of round ``rnd`` (the last) as ``final_model.safetensors`` and
    ``final_model.pt``: a plain ``state_dict`` saved with ``torch.save``, which
    ``torch.load(path, weights_only=True)`` reads without unpickling code. Written atomically."""
    from tracefl.atomic import replacing

    state = _contiguous(read_global(run_dir, rnd))
    out = Path(run_dir)
    with replacing(out / f"{FINAL_MODEL}.safetensors") as tmp:
        save_file(state, str(tmp))
    with replacing(out / f"{FINAL_MODEL}.pt") as tmp, open(tmp, "wb") as handle:
        torch.save(state, handle)  # a handle, not the temporary name: the archive is named "archive"
    return out / f"{FINAL_MODEL}.safetensors", out / f"{FINAL_MODEL}.pt"
