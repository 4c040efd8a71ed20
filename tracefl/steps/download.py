"""The download step: a dataset read from its source (tracefl.data.sources) and written
in the store format (``{out_dir}/{train,test}.npz`` + ``meta.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracefl.data.registry import DatasetSpec, get_dataset_spec
from tracefl.data.sources import DatasetUnavailableError, load_source
from tracefl.data.store import write_dataset

__all__ = ["DatasetUnavailableError", "download_dataset"]


def download_dataset(
    name: str | DatasetSpec,
    out_dir: str | Path,
    *,
    source_path: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Fetch dataset ``name`` and write ``{out_dir}/{train,test}.npz`` + ``meta.json``.

    ``source_path`` and ``cache_dir``: see :func:`tracefl.data.sources.load_source`.
    """
    spec = name if isinstance(name, DatasetSpec) else get_dataset_spec(name)
    train, test, extra = load_source(spec, source_path, cache_dir)
    meta: dict[str, Any] = {
        "name": spec.name,
        "display": spec.display,
        "kind": spec.kind,
        "num_classes": spec.num_classes,
        "source": spec.source,
        **extra,
    }
    if spec.kind == "text":
        meta["max_text_chars"] = spec.max_text_chars
    return write_dataset(out_dir, train, test, meta)
