"""``MODULE:FACTORY``: the function that builds the model a run trained, named as a user types it."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from tracefl.errors import ConfigError


def load_factory(name: str, kwargs: Mapping[str, Any] | None = None) -> Callable[[], Any]:
    """The callable behind ``"package.module:function"``, called with ``kwargs`` on use.

    The current directory is importable, as with ``python -m``, so ``task:Net`` works from
    a Flower app's folder. Our own models are reachable the same way, e.g.
    ``tracefl.models:build_model`` with ``{"name": "cnn", "num_classes": 10}``.
    """
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--model {name!r}: expected MODULE:FACTORY, e.g. my_app.task:Net")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--model {name!r}: cannot import {module_name} ({exc})") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"--model {name!r}: {module_name} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"--model {name!r}: {attr} is not callable")
    arguments = dict(kwargs or {})
    return lambda: target(**arguments)
