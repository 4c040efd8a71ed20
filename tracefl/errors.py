"""The error types a user sees as one line: a config mistake, an input that cannot be used, or
training that went degenerate. All derive from :class:`TraceflError`, which ``python -m tracefl``
prints as one line with the error's exit code (``--debug`` shows the traceback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class TraceflError(Exception):
    """An error the user can cause and fix: its message is one line saying what and where."""

    #: The process's exit status when the CLI stops on it.
    exit_code = 1
    #: How the CLI names the kind of error.
    kind = "error"


class ConfigError(TraceflError, ValueError):
    """A configuration value is not allowed; the message names the key and the allowed values."""

    exit_code = 2
    kind = "config error"


class InputError(TraceflError, RuntimeError):
    """An input file is missing, corrupt or incomplete; the message names the file and what to do."""


class TrainingError(TraceflError, RuntimeError):
    """Training went degenerate (a non-finite loss, no client left): the message names the setting
    that caused it and the round."""

    kind = "training error"


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
