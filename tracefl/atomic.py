"""Writing result files so that a reader (or Snakemake) never sees half of one.

Each writer fills a temporary file beside the target and renames it into place; an
interrupted write leaves the old file (or none), never a truncated one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are as readable as any new file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """``text`` at ``path``, atomically."""
    with replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_csv(table: "pd.DataFrame", path: str | Path) -> Path:
    """``table`` as CSV (no index) at ``path``, atomically."""
    with replacing(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)


def write_json(data: Any, path: str | Path, **dump_args: Any) -> Path:
    """``data`` as JSON at ``path`` (with a final newline), atomically."""

    return write_text(path, json.dumps(data, **dump_args) + "\n")


@contextmanager
def staged(prefix: str | Path) -> Iterator[Path]:
    """All of the files written at ``prefix`` + a suffix (an item's .pdf, .png, .csv), or none.

    Yields a prefix in a temporary folder beside the target; when the block succeeds, each
    file written there is renamed into place (renames within one file system do not run out of
    space); when it fails (a full disk half-way through, a plotting error), they are removed and
    the previous files, if any, stay as they were.
    """
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.", suffix=".tmp", dir=prefix.parent))
    try:
        yield folder / prefix.name
        mode = 0o666 & ~_umask()
        for written in sorted(folder.iterdir()):
            os.chmod(written, mode)
            os.replace(written, prefix.parent / written.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
