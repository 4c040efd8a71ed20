"""Model inputs of either family as one type: a tensor (images) or a mapping of tensors
(token ids, attention mask, ...), with the few operations the loops need."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor, nn

Inputs = Union[Tensor, Mapping[str, Tensor]]


def num_rows(x: Inputs) -> int:
    if isinstance(x, Mapping):
        sizes = {v.shape[0] for v in x.values()}
        if len(sizes) != 1:
            raise ValueError(f"input tensors must share one batch size, got {sorted(sizes)}")
        return sizes.pop()
    return x.shape[0]


def take(x: Inputs, index: Any) -> Inputs:
    """Rows ``index`` (slice, tensor or numpy array of ints) of every tensor."""
    if isinstance(index, np.ndarray):
        index = torch.as_tensor(index, dtype=torch.long)
    if isinstance(x, Mapping):
        return {k: v[index] for k, v in x.items()}
    return x[index]


def to_device(x: Inputs, device: torch.device | str) -> Inputs:
    if isinstance(x, Mapping):
        return {k: v.to(device) for k, v in x.items()}
    return x.to(device)


def logits_of(model: nn.Module, x: Inputs) -> Tensor:
    """(N, classes) logits: keyword inputs for a mapping, ``.logits`` of HF outputs."""
    out = model(**x) if isinstance(x, Mapping) else model(x)
    return getattr(out, "logits", out)
