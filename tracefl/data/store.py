"""The single on-disk dataset format every source is converted into.

``{dir}/train.npz`` and ``{dir}/test.npz`` (arrays ``x`` and ``y``) plus
``{dir}/meta.json``. Plain arrays (no pickle) so loading is safe and fast, and one
format means later stages never care where the data came from.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tracefl.errors import InputError, reading

SPLITS = ("train", "test")
Split = tuple[np.ndarray, np.ndarray]


def _check_split(split: str, x: np.ndarray, y: np.ndarray, kind: str) -> Split:
    """Normalise dtypes and reject malformed arrays before anything touches disk."""
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{split}: labels must be a 1-D integer array, got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{split}: {len(x)} inputs but {len(y)} labels")
    if kind == "image":
        if x.dtype != np.uint8 or x.ndim not in (3, 4):
            raise ValueError(
                f"{split}: images must be uint8 (N,H,W) or (N,H,W,C), got {x.dtype} {x.shape}"
            )
    elif kind == "text":
        if x.ndim != 1 or x.dtype.kind != "U":
            raise ValueError(
                f"{split}: text must be a 1-D numpy str array, got {x.dtype} {x.shape}"
            )
    else:
        raise ValueError(f"unknown kind {kind!r} (key: kind); allowed: image, text")
    return x, y.astype(np.int64, copy=False)


def write_dataset(out_dir: str | Path, train: Split, test: Split, meta: dict[str, Any]) -> Path:
    """Write both splits and meta.json atomically.

    Files go to a temporary directory beside ``out_dir`` that is renamed into place only
    when complete, so a crash or a bad array never leaves a half-written dataset that a
    later stage (or Snakemake) would mistake for a finished one.
    """
    out_dir = Path(out_dir)
    kind = meta.get("kind")
    splits = {
        "train": _check_split("train", *train, kind=kind),
        "test": _check_split("test", *test, kind=kind),
    }
    full_meta = dict(meta)
    full_meta.update(
        n_train=int(len(splits["train"][1])),
        n_test=int(len(splits["test"][1])),
        shapes={s: list(x.shape) for s, (x, _) in splits.items()},
        dtypes={s: str(x.dtype) for s, (x, _) in splits.items()},
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the dataset is shared
        for split, (x, y) in splits.items():
            np.savez(tmp / f"{split}.npz", x=x, y=y)
        (tmp / "meta.json").write_text(json.dumps(full_meta, indent=2, sort_keys=True) + "\n")
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``, swapping out any previous copy with minimal exposure."""
    if not dst.exists():
        os.rename(src, dst)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
    old.rmdir()
    os.rename(dst, old)
    try:
        os.rename(src, dst)
    except BaseException:
        os.rename(old, dst)
        raise
    shutil.rmtree(old, ignore_errors=True)


def load_split(dataset_dir: str | Path, split: str) -> Split:
    """Return ``(x, y)`` for one split; no pickle, so untrusted files cannot run code."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (key: split); allowed: {', '.join(SPLITS)}")
    path = Path(dataset_dir) / f"{split}.npz"
    with reading(path, REDOWNLOAD):
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x"], data["y"]
    check_split(path, x, y, _meta_if_any(dataset_dir))
    return x, y


REDOWNLOAD = "run the download step again (delete the folder first)"


def _meta_if_any(dataset_dir: str | Path) -> dict[str, Any] | None:
    return load_meta(dataset_dir) if (Path(dataset_dir) / "meta.json").is_file() else None


def check_split(path: Path, x: np.ndarray, y: np.ndarray, meta: dict[str, Any] | None) -> None:
    """A split's arrays against what the store's ``meta.json`` says of them (rows, shape, classes),
    so an edited or swapped file fails here, naming it, instead of being traced."""
    split = path.stem
    if y.ndim != 1 or len(x) != len(y):
        raise InputError(f"{path}: {len(x)} inputs but labels of shape {y.shape}; {REDOWNLOAD}")
    if len(y) == 0:
        raise InputError(f"{path}: no examples; {REDOWNLOAD}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"{path}: labels of dtype {y.dtype}, not integers; {REDOWNLOAD}")
    if meta is None:
        return
    shape = (meta.get("shapes") or {}).get(split)
    if shape is not None and list(x.shape) != list(shape):
        raise InputError(f"{path}: inputs of shape {list(x.shape)}, but meta.json says {list(shape)}; {REDOWNLOAD}")
    classes = meta.get("num_classes")
    if isinstance(classes, int) and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise InputError(f"{path}: labels {int(y.min())}..{int(y.max())} outside 0..{classes - 1} "
                         f"(num_classes {classes} in meta.json); {REDOWNLOAD}")


def check_store(dataset_dir: str | Path, name: str, kind: str, num_classes: int) -> None:
    """The stored dataset is the one the job describes (name, kind, number of classes)."""
    meta = load_meta(dataset_dir)
    path = Path(dataset_dir) / "meta.json"
    expected = {"name": name, "kind": kind, "num_classes": num_classes}
    wrong = {k: meta.get(k) for k, v in expected.items() if meta.get(k) != v}
    if wrong:
        said = ", ".join(f"{k} {meta.get(k)!r} (the job says {expected[k]!r})" for k in wrong)
        raise InputError(f"{path}: {said}; is --data-dir the job's dataset? else {REDOWNLOAD}")


def load_meta(dataset_dir: str | Path) -> dict[str, Any]:
    """Read meta.json (name, kind, num_classes, sizes, ...) without loading arrays."""
    path = Path(dataset_dir) / "meta.json"
    with reading(path, "run the download step again (delete the folder first)"):
        return json.loads(path.read_text())
