"""How layer scores and client scores are weighted (paper Eq. 4-6), shared by the engine
and the per-input reference so both apply one checked definition."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from tracefl.config.settings import CLIENT_WEIGHTINGS
from tracefl.errors import ConfigError


def client_weights(
    ids: list[Any], client_weighting: str, client_num_examples: Mapping[Any, int] | None
) -> Tensor | None:
    """p_k = n_k / sum n (float64) for 'data_size', None for 'none' (the artifact's default)."""
    if client_weighting not in CLIENT_WEIGHTINGS:
        raise ConfigError(
            f"client_weighting={client_weighting!r} is not allowed; use one of {CLIENT_WEIGHTINGS}"
        )
    if client_weighting == "none":
        return None
    if client_num_examples is None:
        raise ValueError("client_weighting='data_size' needs client_num_examples")
    missing = [c for c in ids if c not in client_num_examples]
    if missing:
        raise ValueError(f"client_num_examples has no entry for client(s) {missing}")
    counts = torch.tensor([float(client_num_examples[c]) for c in ids], dtype=torch.float64)
    if bool((counts < 0).any()) or float(counts.sum()) <= 0:
        raise ValueError("client_num_examples must be non-negative with a positive total")
    return counts / counts.sum()


def layer_betas(count: int, layer_decay: float | None) -> list[float]:
    """beta_l = decay^(L-1-l): the last layer weighs 1; None or 1.0 turns weighting off."""
    if layer_decay is None:
        return [1.0] * count
    if not 0.0 <= float(layer_decay) < float("inf"):
        raise ConfigError(f"layer_decay = {layer_decay} is not allowed; allowed: a number >= 0 (or none)")
    return [float(layer_decay) ** (count - 1 - i) for i in range(count)]
