"""Which torch device a step runs on: one rule for training, provenance and FedDebug.

torch is imported on use, so the config can read the allowed names without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> "torch.device":
    """'auto' picks CUDA when visible, so one config serves laptops and GPU nodes."""
    import torch

    from tracefl.errors import ConfigError

    if name not in DEVICES:
        raise ConfigError(f"device {name!r} is not allowed; allowed: {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(name)
