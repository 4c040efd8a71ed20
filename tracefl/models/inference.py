"""Running a model on a whole input set: batched prediction and evaluation.

The server evaluates each round's global model with these, and provenance selects the
inputs to trace from the same predictions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from tracefl.models.inputs import Inputs, image_layout, logits_of, num_rows, take, to_device


@torch.no_grad()
def predict(
    model: nn.Module, x: Inputs, device: torch.device, batch_size: int = 256, channels_last: bool = False
) -> torch.Tensor:
    """Logits of ``model`` (eval mode) on ``x``, batched, returned on the CPU.

    ``channels_last``: run an image model in the NHWC layout (as :func:`train_local` does);
    the model is handed back in the default layout.
    """
    model.to(device).eval()
    with image_layout(model, x, channels_last) as x:
        outs = [logits_of(model, to_device(take(x, slice(i, i + batch_size)), device)).float().cpu()
                for i in range(0, num_rows(x), batch_size)]
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(
    model: nn.Module, x: Inputs, y: torch.Tensor, device: torch.device, channels_last: bool = False
) -> tuple[float, float, list[int]]:
    """(accuracy, mean cross-entropy, predicted class of each input) of ``model`` on (x, y).

    The predicted classes are kept with the round, so that provenance selects its inputs from
    them instead of running the model over the whole test set again.
    """
    logits = predict(model, x, device, channels_last=channels_last)
    loss = nn.functional.cross_entropy(logits, y).item()
    predicted = logits.argmax(1)
    accuracy = (predicted == y).float().mean().item()
    return accuracy, loss, predicted.tolist()


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Eval mode inside the block, then every submodule's own training flag restored."""
    flags = [(m, m.training) for model in models for m in model.modules()]
    for model in models:
        model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag
