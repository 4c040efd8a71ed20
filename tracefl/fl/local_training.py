"""Client-side training and server-side evaluation loops (plain PyTorch)."""

from __future__ import annotations

import torch
from torch import nn

from tracefl.fl.inputs import Inputs, logits_of, num_rows, take, to_device
from tracefl.seeding import derive_seed


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ValueError(f"unknown optimizer '{name}' (key: optimizer); allowed: adam, adamw, sgd")


def train_local(
    model: nn.Module,
    x: Inputs,
    y: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str,
    seed: int,
    device: torch.device,
) -> float:
    """Train ``model`` in place on (x, y); returns the mean loss of the last epoch.

    ``x`` is an image tensor or a mapping of token tensors (text models).

    Shuffling uses its own generator seeded by ``seed`` so a client's round is
    reproducible whatever else ran in the process.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(derive_seed(seed, "shuffle"))
    model.to(device).train()
    opt = make_optimizer(optimizer, model.parameters(), lr)
    loss_fn = nn.CrossEntropyLoss()
    last = 0.0
    for _ in range(epochs):
        order = torch.randperm(num_rows(x), generator=generator)
        total, count = 0.0, 0
        for start in range(0, num_rows(x), batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
                continue  # BatchNorm cannot train on a batch of one
            xb, yb = to_device(take(x, idx), device), y[idx].to(device)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(logits_of(model, xb), yb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        last = total / max(count, 1)
    return last


@torch.no_grad()
def predict(model: nn.Module, x: Inputs, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """Logits of ``model`` (eval mode) on ``x``, batched, returned on the CPU."""
    model.to(device).eval()
    outs = [
        logits_of(model, to_device(take(x, slice(i, i + batch_size)), device)).float().cpu()
        for i in range(0, num_rows(x), batch_size)
    ]
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(model: nn.Module, x: Inputs, y: torch.Tensor, device: torch.device) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on (x, y)."""
    logits = predict(model, x, device)
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(1) == y).float().mean().item()
    return accuracy, loss
