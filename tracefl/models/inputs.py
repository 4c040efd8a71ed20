"""Model inputs of either family as one type, and the logits of either family's output.

An input batch is a tensor (images) or a mapping of tensors (token ids, attention mask,
...). Training, provenance, FedDebug and the benchmark all go through these few helpers,
so the two families never need two code paths.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor, nn

Inputs = Union[Tensor, Mapping[str, Tensor]]


def num_rows(x: Inputs) -> int:
    """Batch size of ``x``; a mapping's tensors must agree on it (other values are ignored)."""
    if isinstance(x, Mapping):
        sizes = {v.shape[0] for v in x.values() if isinstance(v, Tensor)}
        if len(sizes) != 1:
            raise ValueError(f"input tensors must share one batch size, got {sorted(sizes)}")
        return sizes.pop()
    if isinstance(x, Tensor):
        return x.shape[0]
    raise ValueError(f"inputs must be a tensor or a mapping of tensors, got {type(x).__name__}")


def take(x: Inputs, index: Any) -> Inputs:
    """Rows ``index`` (int slice, tensor or numpy array of ints) of every tensor."""
    if isinstance(index, np.ndarray):
        index = torch.as_tensor(index, dtype=torch.long)
    if isinstance(x, Mapping):
        return {k: v[index] if isinstance(v, Tensor) else v for k, v in x.items()}
    return x[index]


def to_device(x: Inputs, device: torch.device | str) -> Inputs:
    if isinstance(x, Mapping):
        return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in x.items()}
    return x.to(device)


@contextmanager
def image_layout(model: nn.Module, x: Inputs, channels_last: bool) -> Iterator[Inputs]:
    """Inside the block ``model`` and the image batch ``x`` are channels-last (NHWC) if
    ``channels_last``; afterwards the model is back in the default layout (what safetensors,
    FedAvg and Flower's DP wrapper expect), also when the block raises. Yields ``x``, converted.

    Token mappings and tensors that are not 4-D pass through unchanged; so does everything
    when ``channels_last`` is false.
    """
    if not channels_last:
        yield x
        return
    model.to(memory_format=torch.channels_last)
    try:
        yield x.contiguous(memory_format=torch.channels_last) if isinstance(x, Tensor) and x.dim() == 4 else x
    finally:
        model.to(memory_format=torch.contiguous_format)


def output_logits(out: Any) -> Tensor:
    """(N, classes) logits of a model's output: a tensor, a Hugging Face output's ``.logits``,
    or the first element of a tuple."""
    logits = getattr(out, "logits", out)
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        raise ValueError("the model must return (N, classes) logits or an object with .logits")
    return logits


def forward(model: nn.Module, x: Inputs) -> Any:
    """``model`` on ``x``: keyword arguments for a mapping of token tensors."""
    return model(**x) if isinstance(x, Mapping) else model(x)


def logits_of(model: nn.Module, x: Inputs) -> Tensor:
    """(N, classes) logits of ``model`` on ``x``."""
    return output_logits(forward(model, x))
