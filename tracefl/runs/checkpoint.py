"""Per-round checkpoints: safetensors weights plus JSON metadata, written atomically.

Layout under a run directory::

    rounds/0003/global.safetensors
    rounds/0003/clients/{client_id}.safetensors
    rounds/0003/meta.json          # written last: a round is complete iff it exists
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file

META = "meta.json"


def round_dir(run_dir: str | Path, rnd: int) -> Path:
    return Path(run_dir) / "rounds" / f"{rnd:04d}"


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


def completed_rounds(run_dir: str | Path) -> list[int]:
    """Round numbers whose directory holds a meta file (i.e. were fully written)."""
    root = Path(run_dir) / "rounds"
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / META).is_file())


def read_meta(run_dir: str | Path, rnd: int) -> dict[str, Any]:
    with open(round_dir(run_dir, rnd) / META) as handle:
        return json.load(handle)


def read_global(run_dir: str | Path, rnd: int) -> dict[str, torch.Tensor]:
    return load_file(str(round_dir(run_dir, rnd) / "global.safetensors"))


def read_client(run_dir: str | Path, rnd: int, client_id: str) -> dict[str, torch.Tensor]:
    return load_file(str(round_dir(run_dir, rnd) / "clients" / f"{client_id}.safetensors"))
