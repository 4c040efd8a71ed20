"""Which modules are provenance layers (docs/algorithm.md section 1.1), and how to walk a model for them.

The rule lives here and nowhere else, so that a user who wants different layers can
pass explicit names to :func:`provenance_layers` instead of editing the rule.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

# Hugging Face classes are matched by name so that importing this module does not
# import transformers (slow, and optional for image-only runs).
_HF_CONV1D = "Conv1D"
_HF_BLOCKS = frozenset({"BertLayer"})


def is_hf_conv1d(module: nn.Module) -> bool:
    """True for transformers' GPT ``Conv1D`` (a Linear whose weight is stored (in, out))."""
    cls = type(module)
    return cls.__name__ == _HF_CONV1D and cls.__module__.startswith("transformers")


def is_provenance_layer(module: nn.Module) -> bool:
    """True if ``module`` is traced as one unit: Linear, Conv2d, LayerNorm, HF Conv1D, BertLayer."""
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.LayerNorm)):
        return True
    return is_hf_conv1d(module) or type(module).__name__ in _HF_BLOCKS


def provenance_layers(
    model: nn.Module, names: list[str] | None = None
) -> list[tuple[str, nn.Module]]:
    """Provenance layers of ``model`` in depth-first registration order.

    A provenance layer is kept and not descended into; other modules with children are
    descended into. With ``names``, exactly those submodules are returned, in that order.
    """
    if names is not None:
        return _named_layers(model, names)
    if is_provenance_layer(model):
        return [("", model)]
    found: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()

    def walk(prefix: str, module: nn.Module) -> None:
        for child_name, child in module.named_children():
            if id(child) in seen:  # a module shared by two parents is one layer
                continue
            seen.add(id(child))
            full = f"{prefix}.{child_name}" if prefix else child_name
            if is_provenance_layer(child):
                found.append((full, child))
            elif next(child.children(), None) is not None:
                walk(full, child)

    walk("", model)
    return found


def _named_layers(model: nn.Module, names: list[str]) -> list[tuple[str, nn.Module]]:
    """Look up user-chosen layer names, failing loudly on typos and duplicates."""
    modules = dict(model.named_modules(remove_duplicate=False))
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise ValueError(f"unknown layer name(s) for {type(model).__name__}: {unknown}")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"layer name(s) listed more than once: {duplicated}")
    return [(n, modules[n]) for n in names]


# ---------------------------------------------------------------------------------
# Scoring: <O_{k,l}(x), g_l(x)> for all K client copies of one layer, batched over x.
# ---------------------------------------------------------------------------------


@dataclass
class LayerCall:
    """The arguments one provenance layer of the global model received (detached clones)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def primary(self) -> Tensor:
        """The layer's main input Z_l: the first tensor argument."""
        for value in (*self.args, *self.kwargs.values()):
            if isinstance(value, Tensor):
                return value
        raise ValueError("provenance layer was called without a tensor argument")


def primary_output(output: Any) -> Tensor | None:
    """The tensor a layer's gradient is taken against: the output, or its first element."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    return None


class LayerScorer(ABC):
    """Scores K client copies of one layer; built once per trace call, reused per chunk."""

    num_clients: int

    @abstractmethod
    def score(self, call: LayerCall, grad: Tensor) -> Tensor:
        """(N, K) flattened dot products <client_k_layer(call), grad> per input."""


# Two exact routes for an affine layer applied at P positions (tokens, conv output pixels):
# "direct" applies every client's weights (P*K multiply-adds per weight element and
# input); "outer" forms the input's weight gradient g^T z once (P multiply-adds per
# element) and dots it with each client's weights (K more). Writing that gradient out and
# reading it back is memory traffic, on CPUs worth a few hundred multiply-adds per
# element (measured on ResNet-18/DenseNet-121 layers), hence the overhead constant.
_OUTER_OVERHEAD = 256
# At most this many per-input weight-gradient elements exist at once (64 MiB in float32),
# so the outer route's memory does not grow with layer size times chunk size.
_OUTER_BUDGET = 1 << 24
AFFINE_ROUTES = ("auto", "direct", "outer")
CONV_ROUTES = ("auto", "conv", "gemm", "outer")
# Output maps of at most this many pixels are scored directly with one GEMM over unfolded
# patches rather than a stacked convolution: the K clients' weights dominate the memory
# traffic there, and a GEMM reads them once where the convolution first reorders them.
_GEMM_MAX_POSITIONS = 4


def affine_route(positions: int, num_clients: int) -> str:
    """The cheaper exact route for an affine layer applied at ``positions`` positions."""
    if positions * num_clients > positions + num_clients + _OUTER_OVERHEAD:
        return "outer"
    return "direct"


def affine_scores(
    z: Tensor, g: Tensor, weight: Tensor, bias: Tensor | None, route: str = "auto"
) -> Tensor:
    """(N, K) scores sum_p <W_k z_p + b_k, g_p> for z (N, P, I), g (N, P, O), weight (K, O, I).

    ``route`` "direct" computes every client's outputs; "outer" uses the identity
    <W_k z + b_k, g> = <W_k, g^T z> + <b_k, sum_p g_p> (the input's weight gradient),
    formed for a bounded number of inputs at a time. "auto" picks the cheaper.
    """
    n, positions, inp = z.shape
    k, out = weight.shape[0], weight.shape[1]
    if route == "auto":
        route = affine_route(positions, k)
    if inp == 0:  # e.g. every kernel tap reads only padding: the weights add nothing
        scores = z.new_zeros(n, k)
    elif route == "outer":
        flat = weight.reshape(k, out * inp)
        step = max(1, _OUTER_BUDGET // (out * inp))
        parts = []
        for start in range(0, n, step):
            per_input_grad = torch.bmm(g[start : start + step].transpose(1, 2), z[start : start + step])
            parts.append(per_input_grad.reshape(-1, out * inp) @ flat.T)
        scores = torch.cat(parts) if len(parts) > 1 else parts[0]
    elif route == "direct":
        # 2-D for one GEMM: on a 3-D view that is not contiguous, matmul would broadcast the
        # (K*out, in) weight over the batch and read it N times.
        o = F.linear(z.reshape(n * positions, inp), weight.reshape(k * out, inp))
        o = o.reshape(n, positions, k, out)
        scores = torch.einsum("npko,npo->nk", o, g)
    else:
        raise ValueError(f"route must be one of {AFFINE_ROUTES}, got {route!r}")
    if bias is not None:
        scores = scores + g.sum(1) @ bias.T
    return scores


def conv_route(positions: int, num_clients: int) -> str:
    """How a Conv2d (groups == 1) with ``positions`` output pixels is scored.

    "outer": the weight-gradient identity over unfolded patches; "gemm": all clients'
    outputs with one GEMM over unfolded patches; "conv": one convolution with all
    clients' filters stacked.
    """
    if affine_route(positions, num_clients) == "outer":
        return "outer"
    return "gemm" if positions <= _GEMM_MAX_POSITIONS else "conv"


class AffineScorer(LayerScorer):
    """Linear and HF Conv1D: y = z W_k^T + b_k, all clients' weights stacked."""

    def __init__(self, weight: Tensor, bias: Tensor | None, route: str = "auto") -> None:
        if route not in AFFINE_ROUTES:
            raise ValueError(f"route must be one of {AFFINE_ROUTES}, got {route!r}")
        self.weight = weight.contiguous()  # (K, out, in)
        self.bias = bias  # (K, out) or None
        self.num_clients, self.out_features, self.in_features = weight.shape
        self.route = route

    def score(self, call: LayerCall, grad: Tensor) -> Tensor:
        z = call.primary()
        n = z.shape[0]
        z = z.reshape(n, -1, self.in_features)
        g = grad.reshape(n, -1, self.out_features)
        return affine_scores(z, g, self.weight, self.bias, self.route)


class Conv2dScorer(LayerScorer):
    """Conv2d with all clients' filters stacked; grouped convolutions one client at a time.

    groups == 1 has three exact routes (see :func:`conv_route`): the weight-gradient
    identity over unfolded input patches when the output map is large ("outer"), one GEMM
    over unfolded patches when it is tiny ("gemm"), else one stacked convolution ("conv").
    On unfolded patches, kernel taps that only ever read zero padding (a 3x3 kernel on a
    1x1 map) are dropped, with their weight columns: they add exactly zero.

    ``weights`` are the K clients' own weight tensors; stacked copies are made on first
    use and only of what the route needs (for dropped taps, only the kept columns).
    """

    def __init__(self, layer: nn.Conv2d, weights: Sequence[Tensor], bias: Tensor | None,
                 route: str = "auto") -> None:
        if route not in CONV_ROUTES:
            raise ValueError(f"route must be one of {CONV_ROUTES}, got {route!r}")
        self.num_clients = len(weights)
        self.groups = layer.groups
        self.kernel_size, self.stride, self.dilation = layer.kernel_size, layer.stride, layer.dilation
        self.explicit_pad: tuple[int, ...] | None = None
        self.padding: Any = layer.padding
        if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            # Pad explicitly as nn.Conv2d does for these modes; "same"/"valid" become numbers.
            self.explicit_pad = tuple(layer._reversed_padding_repeated_twice)
            self.pad_mode = "constant" if layer.padding_mode == "zeros" else layer.padding_mode
            self.padding = (0, 0)
        self.weights = list(weights)  # K x (out, in/groups, kh, kw)
        self.bias = bias  # (K, out) or None
        self.route = route
        self._stacked: Tensor | None = None
        # Per input size (H, W): the unfolded columns that can be non-zero (None: all) and
        # the clients' weights (K, out, columns) restricted to them. Built once per trace.
        self._unfolded: dict[tuple[int, int], tuple[Tensor | None, Tensor]] = {}

    def stacked_weight(self) -> Tensor:
        """(K, out, in, kh, kw), stacked on first use and kept for later chunks."""
        if self._stacked is None:
            self._stacked = torch.stack(self.weights)
        return self._stacked

    def _conv(self, z: Tensor, w: Tensor, b: Tensor | None, groups: int) -> Tensor:
        return F.conv2d(z, w, b, self.stride, self.padding, self.dilation, groups)

    def _unfolded_weight(self, height: int, width: int) -> tuple[Tensor | None, Tensor]:
        key = (height, width)
        if key not in self._unfolded:
            out, inp = self.weights[0].shape[:2]
            probe = torch.ones(1, 1, height, width, device=self.weights[0].device)
            taps = F.unfold(probe, self.kernel_size, self.dilation, self.padding, self.stride)[0]
            used = (taps.amax(dim=1) > 0).nonzero().flatten()  # taps that see the input somewhere
            if used.numel() == taps.shape[0]:
                self._unfolded[key] = (None, self.stacked_weight().reshape(self.num_clients, out, -1))
            else:  # unfolded columns are ordered (in channel, kh, kw)
                per_tap = taps.shape[0]
                columns = (torch.arange(inp, device=used.device)[:, None] * per_tap + used).flatten()
                kept = torch.stack([w.reshape(out, -1)[:, columns] for w in self.weights])
                self._unfolded[key] = (columns, kept)
        return self._unfolded[key]

    def score(self, call: LayerCall, grad: Tensor) -> Tensor:
        z = call.primary()
        if self.explicit_pad is not None:
            z = F.pad(z, self.explicit_pad, mode=self.pad_mode)
        n, k = z.shape[0], self.num_clients
        if self.groups != 1:
            g = grad.reshape(n, -1, 1)
            cols = []
            for i in range(k):
                b = None if self.bias is None else self.bias[i]
                o = self._conv(z, self.weights[i], b, self.groups)
                cols.append(torch.bmm(o.reshape(n, 1, -1), g).reshape(n))
            return torch.stack(cols, dim=1)
        positions = grad[0, 0].numel()
        route = self.route if self.route != "auto" else conv_route(positions, k)
        if route == "conv":
            stacked = self.stacked_weight()
            stacked_w = stacked.reshape(-1, *stacked.shape[2:])  # (K*out, in, kh, kw)
            stacked_b = None if self.bias is None else self.bias.reshape(-1)
            o = self._conv(z, stacked_w, stacked_b, 1)
            return torch.bmm(o.reshape(n, k, -1), grad.reshape(n, -1, 1)).squeeze(-1)
        columns, weight = self._unfolded_weight(z.shape[-2], z.shape[-1])
        patches = F.unfold(z, self.kernel_size, self.dilation, self.padding, self.stride)  # (N, C, P)
        if columns is not None:
            patches = patches[:, columns]
        g = grad.reshape(n, grad.shape[1], positions)  # (N, out, P)
        return affine_scores(patches.transpose(1, 2), g.transpose(1, 2), weight, self.bias,
                             "outer" if route == "outer" else "direct")


class LayerNormScorer(LayerScorer):
    """LayerNorm is affine in its parameters given z: normalise once, then one matmul."""

    def __init__(self, layer: nn.LayerNorm, num_clients: int, weight: Tensor | None,
                 bias: Tensor | None) -> None:
        self.num_clients = num_clients
        self.shape = tuple(layer.normalized_shape)
        self.eps = layer.eps
        self.weight = None if weight is None else weight.reshape(num_clients, -1)  # (K, D)
        self.bias = None if bias is None else bias.reshape(num_clients, -1)

    def score(self, call: LayerCall, grad: Tensor) -> Tensor:
        z = call.primary()
        n, d = z.shape[0], math.prod(self.shape)
        x_hat = F.layer_norm(z, self.shape, None, None, self.eps)
        g = grad.reshape(n, -1, d)
        xg = (x_hat.reshape(n, -1, d) * g).sum(1)  # (N, D)
        if self.weight is None:
            scores = xg.sum(1, keepdim=True).expand(n, self.num_clients)
        else:
            scores = xg @ self.weight.T
        if self.bias is not None:
            scores = scores + g.sum(1) @ self.bias.T
        return scores


# Measured on an H200 (README, performance; K = 10, N = 1,000): one vmapped call over the K
# copies is 2x faster than the loop for BERT blocks of 0.2 M parameters (launch-bound), and
# 10% slower for BERT-base's 7 M-parameter blocks (compute-bound; vmap needs the unfused
# attention kernel). On a CPU it is slower for both (1.7x on the small one).
BATCH_BLOCKS_BELOW_PARAMS = 1_000_000


class FunctionalScorer(LayerScorer):
    """Any other layer (e.g. BertLayer): re-run the global block with each client's tensors.

    ``batched``: run the K clients' copies in one ``torch.func.vmap`` call over their stacked
    tensors instead of K calls one after another. On a GPU the K small sequential launches of
    a block leave the device idle; on a CPU the loop costs the same arithmetic and less memory
    (the batched call holds K blocks' activations at once). :func:`build_scorer` decides.
    """

    def __init__(self, layer: nn.Module, states: list[dict[str, Tensor]], batched: bool = False) -> None:
        self.layer = layer
        self.num_clients = len(states)
        self.batched = batched
        # Batched: one stacked copy of the client tensors, whose slices serve a fallback loop too;
        # the loop alone keeps the clients' own tensors (no copy).
        self.stacked = {key: torch.stack([s[key] for s in states]) for key in states[0]} if self.batched else None
        self.states = None if self.batched else states

    def _client(self, k: int) -> dict[str, Tensor]:
        if self.states is not None:
            return self.states[k]
        return {key: value[k] for key, value in self.stacked.items()}

    def _output(self, state: dict[str, Tensor], call: LayerCall) -> Tensor:
        out = primary_output(torch.func.functional_call(self.layer, state, call.args, call.kwargs))
        if out is None:
            raise ValueError(f"{type(self.layer).__name__} returned no tensor output")
        return out

    def score(self, call: LayerCall, grad: Tensor) -> Tensor:
        n = grad.shape[0]
        if self.batched:
            try:
                # vmap has no batching rule for the fused attention kernels' mask (seen on CUDA:
                # "attn_bias: wrong shape"); the math kernel is plain matmuls and a softmax.
                with sdpa_kernel(SDPBackend.MATH):
                    outs = torch.func.vmap(lambda state: self._output(state, call))(self.stacked)
                return torch.einsum("knd,nd->nk", outs.reshape(self.num_clients, n, -1), grad.reshape(n, -1))
            except RuntimeError as error:
                # A block vmap cannot run, or out of device memory for K blocks' activations at
                # once (torch.OutOfMemoryError is a RuntimeError): the loop computes the same.
                warnings.warn(f"{type(self.layer).__name__}: scoring the {self.num_clients} client copies one "
                              f"after another (vmap failed: {str(error).splitlines()[0][:200]})", stacklevel=2)
                self.batched = False
        g = grad.reshape(n, -1, 1)
        cols = []
        for k in range(self.num_clients):
            out = self._output(self._client(k), call)
            cols.append(torch.bmm(out.reshape(n, 1, -1), g).reshape(n))
        return torch.stack(cols, dim=1)


def build_scorer(
    name: str, layer: nn.Module, client_layers: Sequence[nn.Module], device: torch.device,
    batch_clients: bool | None = None,
) -> LayerScorer:
    """Check the client copies match ``layer`` and move their tensors to ``device`` once.

    ``batch_clients`` applies to blocks scored by re-running them (see :class:`FunctionalScorer`);
    ``None`` batches on CUDA the blocks under ``BATCH_BLOCKS_BELOW_PARAMS`` parameters."""
    states = [_client_state(name, layer, c, device) for c in client_layers]
    if is_hf_conv1d(layer):
        weight = torch.stack([s["weight"].T for s in states])
        return AffineScorer(weight, _stack_optional(states, "bias"))
    if isinstance(layer, nn.Linear):
        return AffineScorer(torch.stack([s["weight"] for s in states]), _stack_optional(states, "bias"))
    if isinstance(layer, nn.Conv2d):
        return Conv2dScorer(layer, [s["weight"] for s in states], _stack_optional(states, "bias"))
    if isinstance(layer, nn.LayerNorm):
        return LayerNormScorer(layer, len(states), _stack_optional(states, "weight"),
                               _stack_optional(states, "bias"))
    if batch_clients is None:
        params = sum(value.numel() for value in states[0].values())
        batch_clients = device.type == "cuda" and params < BATCH_BLOCKS_BELOW_PARAMS
    return FunctionalScorer(layer, states, batch_clients)


def _stack_optional(states: list[dict[str, Tensor]], key: str) -> Tensor | None:
    return torch.stack([s[key] for s in states]) if key in states[0] else None


def _client_state(
    name: str, layer: nn.Module, client_layer: nn.Module, device: torch.device
) -> dict[str, Tensor]:
    """A client layer's parameters and buffers, validated against the global layer."""
    if type(client_layer) is not type(layer):
        raise ValueError(
            f"layer {name!r}: client has {type(client_layer).__name__}, "
            f"global model has {type(layer).__name__}"
        )
    reference = _tensors(layer)
    state = _tensors(client_layer)
    if reference.keys() != state.keys():
        raise ValueError(f"layer {name!r}: client tensors {sorted(state)} != {sorted(reference)}")
    moved = {}
    for key, ref in reference.items():
        value = state[key]
        if value.shape != ref.shape:
            raise ValueError(
                f"layer {name!r}: client {key} has shape {tuple(value.shape)}, "
                f"global model has {tuple(ref.shape)}"
            )
        dtype = ref.dtype if value.is_floating_point() else value.dtype
        moved[key] = value.detach().to(device=device, dtype=dtype)
    return moved


def _tensors(module: nn.Module) -> dict[str, Tensor]:
    found = dict(module.named_parameters())
    found.update(module.named_buffers())
    return found
