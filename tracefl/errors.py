"""The error types a user sees as one line: a config mistake, or an input that cannot be used."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the key and the allowed values."""


class InputError(RuntimeError):
    """An input file is missing, corrupt or incomplete; the message names the file and what to do."""


@contextmanager
def reading(path: str | Path, fix: str) -> Iterator[None]:
    """Turn a failure to read ``path`` (missing, truncated, not the expected format) into one
    :class:`InputError` line naming the file and ``fix``, what the user can do about it."""
    try:
        yield
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; {fix}") from None
    except Exception as exc:  # json, numpy, safetensors and zip errors have no common base
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise InputError(f"{path}: unreadable ({type(exc).__name__}: {first}); {fix}") from exc
