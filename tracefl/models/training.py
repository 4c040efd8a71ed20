"""Client-side training: the local epochs of one client in one round (plain PyTorch)."""

from __future__ import annotations

import torch
from torch import nn

from tracefl.models.inputs import Inputs, image_layout, logits_of, num_rows, take, to_device
from tracefl.seeding import derive_seed, torch_seeded


# Gradient-norm clip of the ``hf-trainer`` optimiser (Hugging Face ``Trainer``'s max_grad_norm).
HF_TRAINER_MAX_GRAD_NORM = 1.0


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """The local optimiser. ``hf-trainer`` is Hugging Face ``Trainer``'s default as the paper's
    artifact trained its transformers: AdamW with weight decay 0 and a constant learning rate
    (train_local clips the gradient norm at 1.0 for it); ``adamw`` is torch's AdamW (decay 0.01)."""
    if name == "hf-trainer":
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ValueError(f"unknown optimizer '{name}' (key: optimizer); allowed: adam, adamw, hf-trainer, sgd")


def has_batch_norm(model: nn.Module) -> bool:
    """True if ``model`` has a BatchNorm layer (which cannot train on a batch of one)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


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
    channels_last: bool = False,
) -> float:
    """Train ``model`` in place on (x, y); returns the mean loss of the last epoch.

    ``x`` is an image tensor or a mapping of token tensors (text models). ``channels_last``
    trains an image model in the NHWC layout (faster for some models on a CPU,
    :data:`tracefl.models.catalog.CHANNELS_LAST_ON_CPU`); the model is handed back in the
    default layout, so its state dict saves and aggregates as any other.

    Shuffling uses its own generator seeded by ``seed``, and torch's global generators are
    seeded only inside the call, so a client's round is reproducible whatever else ran in the
    process, and changes nothing outside it.
    """
    # torch_seeded: dropout and the like, the global torch state restored after. The optimiser
    # is made inside the layout block: it must hold the parameters training moves.
    with torch_seeded(seed), image_layout(model.to(device).train(), x, channels_last) as x:
        generator = torch.Generator().manual_seed(derive_seed(seed, "shuffle"))
        opt = make_optimizer(optimizer, model.parameters(), lr)
        clip = HF_TRAINER_MAX_GRAD_NORM if optimizer == "hf-trainer" else None
        loss_fn = nn.CrossEntropyLoss()
        skip_single = has_batch_norm(model)
        # The client's data moves to the device once, and the loss is summed there (in float64,
        # as Python floats would): no host-device copy or synchronisation inside the batch loop.
        rows = num_rows(x)
        x, y = to_device(x, device), y.to(device)
        last = 0.0
        for _ in range(epochs):
            order = torch.randperm(rows, generator=generator).to(device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            count = 0
            for start in range(0, rows, batch_size):
                idx = order[start : start + batch_size]
                if len(idx) < 2 and skip_single:
                    continue  # BatchNorm cannot train on a batch of one
                xb, yb = take(x, idx), y[idx]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(logits_of(model, xb), yb)
                loss.backward()
                if clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
                total += loss.detach().double() * len(idx)
                count += len(idx)
            last = float(total) / max(count, 1)
        return last
