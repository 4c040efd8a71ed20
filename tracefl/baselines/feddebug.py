"""FedDebug faulty-client localization baseline (Gill et al., ICSE 2023; docs/algorithm.md section 4).

Differential testing of client models on generated inputs, written from the
description in docs/algorithm.md section 4:

1. :func:`generate_inputs` draws R random inputs shaped like a test image
   (Kaiming-uniform noise on a (C, H, W) tensor, then the dataset's per-channel
   normalisation where the artifact applies one: not for MedMNIST).
2. For each input every client model is run (eval mode, no grad). For every leaf
   ``Conv2d``/``Linear`` layer the output goes through ReLU, is min-max scaled over the
   whole layer output of that input to [0, 1], and a neuron is *active* above a
   threshold (0.003). All R inputs go through a client in one batch; activations are
   collected by forward hooks (:func:`client_activations`).
3. Voting (:func:`leave_one_out_counts`, :func:`localize_from_activations`): neurons
   active in every client are dropped; for every group of K-1 clients the neurons
   active in all members are counted; the group with the highest count is the benign
   set and the client left out is flagged. For several faulty clients this is repeated
   on the clients not yet flagged (groups of K'-1 among the K' remaining).

Counting is vectorised: with ``c[n]`` the number of (remaining) clients in which
neuron ``n`` is active, the group that leaves out client ``j`` has all members active
on ``n`` exactly when ``c[n] == K'`` (dropped, identical for every group) or
``c[n] == K'-1`` and ``j`` is the inactive one. So the count for the group without
``j`` is ``sum_n (c[n] == K'-1) & ~active[j, n]`` -- no loop over neurons or groups.

Ties between groups go to the client that comes first in client-id order (ids that
are all digits are compared as integers, so "2" comes before "10").
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tracefl.runs.layout import client_order

DEFAULT_THRESHOLD = 0.003
DEFAULT_NUM_INPUTS = 10  # the artifact's R

__all__ = [
    "DEFAULT_NUM_INPUTS",
    "DEFAULT_THRESHOLD",
    "FedDebugResult",
    "activation_layers",
    "client_activations",
    "feddebug_localize",
    "generate_inputs",
    "leave_one_out_counts",
    "localize_from_activations",
]


@dataclass
class FedDebugResult:
    """Outcome of :func:`feddebug_localize`.

    ``flagged[i]`` lists the client ids flagged for input ``i`` in the order they were
    flagged; ``scores[i] = |flagged[i] & faulty| / |faulty|`` (nan without faulty ids);
    ``seconds_per_input`` is activation collection + voting time divided by R
    (input generation and model device moves excluded).
    """

    flagged: list[list[str]]
    scores: np.ndarray
    seconds_per_input: float


# ----------------------------------------------------------------------------- inputs


def _per_channel(value: float | Sequence[float] | Tensor, channels: int, what: str) -> Tensor:
    t = torch.as_tensor(value, dtype=torch.float32).flatten()
    if t.numel() == 1:
        t = t.expand(channels)
    elif t.numel() != channels:
        raise ValueError(f"{what} has {t.numel()} values for {channels} channels")
    return t.clone()


def generate_inputs(
    n: int,
    shape: tuple[int, ...],
    mean: float | Sequence[float] | Tensor | None,
    std: float | Sequence[float] | Tensor | None,
    seed: int,
) -> Tensor:
    """``n`` random inputs of ``shape`` (C, H, W), returned as an (n, C, H, W) float tensor.

    As the artifact draws them: each input is ``nn.init.kaiming_uniform_`` applied to a
    (C, H, W) tensor (torch then takes fan_in = H * W, so the bound is
    ``sqrt(6 / (H * W))``), then normalised per channel, ``(x - mean[c]) / std[c]``, where
    the dataset is (``mean``/``std``: a scalar or one value per channel; ``None`` for both:
    no normalisation, as for MedMNIST). The same seed gives the same inputs.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    shape = tuple(int(s) for s in shape)
    if len(shape) < 1 or any(s <= 0 for s in shape):
        raise ValueError(f"bad input shape {shape}")
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither (no normalisation)")
    channels = shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.empty((n, *shape), dtype=torch.float32)
    for i in range(n):
        nn.init.kaiming_uniform_(noise[i], generator=gen)
    if mean is None:
        return noise
    m = _per_channel(mean, channels, "mean")
    s = _per_channel(std, channels, "std")
    if torch.any(s == 0):
        raise ValueError("std must be non-zero")
    view = (1, channels) + (1,) * (len(shape) - 1)
    return (noise - m.view(view)) / s.view(view)


# ------------------------------------------------------------------------- activations


def activation_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf ``Conv2d``/``Linear`` modules of ``model`` in registration order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and next(m.children(), None) is None
    ]


def _active_from_output(out: Any, threshold: float) -> Tensor:
    """(B, n) bool: ReLU, min-max over the layer output of each input, > threshold."""
    if not isinstance(out, Tensor):
        out = out[0]
    x = torch.relu(out.detach()).flatten(1).float()
    lo = x.amin(dim=1, keepdim=True)
    hi = x.amax(dim=1, keepdim=True)
    # (x - lo) / (hi - lo) > t, written without the division: a constant layer output
    # (hi == lo) has no active neuron instead of nan.
    return (x - lo) > threshold * (hi - lo)


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def client_activations(
    model: nn.Module, inputs: Tensor, threshold: float = DEFAULT_THRESHOLD
) -> Tensor:
    """(R, N) bool: which neurons of ``model``'s leaf Conv2d/Linear layers are active.

    All R inputs go through the model in one forward pass (eval mode, no grad); the
    layer outputs are caught by forward hooks and turned into booleans at once (so an
    in-place op after a layer cannot change them). Columns are the layers' neurons in
    call order. The model's training flags are restored and the hooks removed.
    ``inputs`` must already be on the model's device.
    """
    layers = activation_layers(model)
    if not layers:
        raise ValueError("model has no Conv2d/Linear layer")
    caught: list[Tensor] = []

    def hook(_module: nn.Module, _args: Any, out: Any) -> None:
        caught.append(_active_from_output(out, threshold))

    flags = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(hook) for _, m in layers]
    try:
        model.eval()
        with torch.no_grad():
            model(inputs.to(dtype=_model_dtype(model)))
    finally:
        for h in handles:
            h.remove()
        for m, was_training in flags:
            m.training = was_training
    return torch.cat(caught, dim=1)


# ------------------------------------------------------------------------------ voting


def leave_one_out_counts(active: Tensor, remaining: Tensor | None = None) -> Tensor:
    """For each client j, the neurons active in every other remaining client but not in all.

    ``active``: (K, N) or (R, K, N) bool. ``remaining``: (K,) or (R, K) bool of the
    clients still in the vote (default: all). Neurons active in every remaining client
    are dropped; entry j is then the number of neurons active in all members of the
    group of K'-1 remaining clients that leaves out j. Clients not remaining get -1.
    Returns int64 of shape (K,) or (R, K).
    """
    if active.dtype != torch.bool:
        raise TypeError("active must be a bool tensor")
    single = active.dim() == 2
    if single:
        active = active.unsqueeze(0)
    if active.dim() != 3:
        raise ValueError("active must be (K, N) or (R, K, N)")
    r, k, _ = active.shape
    if remaining is None:
        remaining = torch.ones(r, k, dtype=torch.bool, device=active.device)
    else:
        remaining = remaining.to(device=active.device, dtype=torch.bool)
        if remaining.dim() == 1:
            remaining = remaining.unsqueeze(0).expand(r, k)
    live = active & remaining.unsqueeze(2)  # (R, K, N)
    n_live = remaining.sum(dim=1, keepdim=True)  # (R, 1) = K'
    n_active = live.sum(dim=1)  # (R, N) active remaining clients per neuron
    # neurons active in all but one remaining client (those active in all are dropped)
    all_but_one = n_active == (n_live - 1)  # (R, N)
    missing = remaining.unsqueeze(2) & ~active  # (R, K, N): j remaining and inactive
    counts = (missing & all_but_one.unsqueeze(1)).sum(dim=2)  # (R, K)
    counts = counts.masked_fill(~remaining, -1)
    return counts[0] if single else counts


def localize_from_activations(
    active: Tensor, num_faulty: int, generator: torch.Generator | None = None
) -> Tensor:
    """Indices of the flagged clients, (R, num_faulty) int64, in flagging order.

    ``active`` is (K, N) or (R, K, N) bool (one row per client).
    Each step flags the client left out of the group with the most neurons active in
    all members. Ties go to the lowest index, or, with ``generator``, to a uniformly
    random one of the tied clients: where the faulty client has the lowest id (client 0
    in the paper's runs), lowest-index ties would count every tie as a hit.
    A (K, N) input gives (num_faulty,).
    """
    single = active.dim() == 2
    if single:
        active = active.unsqueeze(0)
    r, k, _ = active.shape
    if not 0 <= num_faulty <= k:
        raise ValueError(f"num_faulty={num_faulty} not in [0, {k}]")
    remaining = torch.ones(r, k, dtype=torch.bool, device=active.device)
    order = torch.arange(k, device=active.device)
    picked: list[Tensor] = []
    for _ in range(num_faulty):
        counts = leave_one_out_counts(active, remaining)  # (R, K)
        best = counts.amax(dim=1, keepdim=True)
        if generator is None:
            # first client index among the maxima (explicit, not relying on argmax ties)
            cand = torch.where(counts == best, order.expand(r, k), torch.full_like(order, k))
            flagged = cand.amin(dim=1)  # (R,)
        else:  # a random key per client; the largest key among the maxima wins
            keys = torch.rand(r, k, generator=generator).to(active.device)
            flagged = torch.where(counts == best, keys, torch.full_like(keys, -1.0)).argmax(dim=1)
        picked.append(flagged)
        remaining[torch.arange(r, device=active.device), flagged] = False
    out = (
        torch.stack(picked, dim=1)
        if picked
        else torch.empty(r, 0, dtype=torch.long, device=active.device)
    )
    return out[0] if single else out


# ----------------------------------------------------------------------------- driver


def feddebug_localize(
    client_models: Mapping[str, nn.Module],
    inputs: Tensor,
    num_faulty: int,
    faulty_ids: Collection[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    device: str | torch.device | None = None,
    tie_seed: int | None = None,
) -> FedDebugResult:
    """Flag ``num_faulty`` clients per generated input by FedDebug's leave-one-out vote.

    ``client_models`` maps client id -> model (same architecture); ``inputs`` is
    (R, C, H, W), e.g. from :func:`generate_inputs`. ``device`` defaults to the device
    of the first model's parameters; a model elsewhere is moved there for its forward
    pass and moved back afterwards. Models' training flags are left as they were.
    ``faulty_ids`` are the truly faulty clients; an id in it that is not flagged
    (including one not in ``client_models``) counts as a miss. ``tie_seed`` breaks ties
    between equally voted clients at random (seeded); None gives them to the lowest id.
    """
    if not client_models:
        raise ValueError("no client models")
    ids = sorted((str(c) for c in client_models), key=client_order)
    by_id = {str(c): m for c, m in client_models.items()}
    if len(by_id) != len(client_models):
        raise ValueError("client ids collide once converted to str")
    k = len(ids)
    if not 0 <= num_faulty <= k:
        raise ValueError(f"num_faulty={num_faulty} not in [0, {k}]")
    if inputs.dim() < 2 or inputs.shape[0] == 0:
        raise ValueError("inputs must be a non-empty batch (R, ...)")
    dev = torch.device(device) if device is not None else _model_device(by_id[ids[0]])
    r = int(inputs.shape[0])

    x = inputs.to(dev)
    _sync(dev)
    elapsed = 0.0
    per_client: list[Tensor] = []
    for cid in ids:
        model = by_id[cid]
        home = _model_device(model)
        moved = home != dev
        if moved:
            model.to(dev)
        try:
            _sync(dev)
            t0 = time.perf_counter()
            act = client_activations(model, x, threshold)
            _sync(dev)
            elapsed += time.perf_counter() - t0
        finally:
            if moved:
                model.to(home)
        if per_client and act.shape != per_client[0].shape:
            raise ValueError(
                f"client {cid} has {act.shape[1]} neurons, client {ids[0]} has "
                f"{per_client[0].shape[1]}: models must share an architecture"
            )
        per_client.append(act)

    t0 = time.perf_counter()
    active = torch.stack(per_client, dim=1)  # (R, K, N)
    generator = None if tie_seed is None else torch.Generator().manual_seed(tie_seed)
    picked = localize_from_activations(active, num_faulty, generator).cpu()
    _sync(dev)
    elapsed += time.perf_counter() - t0

    flagged = [[ids[j] for j in row] for row in picked.tolist()]
    if faulty_ids is None:
        scores = np.full(r, np.nan)
    else:
        faulty = {str(f) for f in faulty_ids}
        if not faulty:
            scores = np.full(r, np.nan)
        else:
            scores = np.array([len(faulty.intersection(f)) / len(faulty) for f in flagged])
    return FedDebugResult(flagged=flagged, scores=scores, seconds_per_input=elapsed / r)
