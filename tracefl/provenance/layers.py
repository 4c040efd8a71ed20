"""Which modules are provenance layers (TRACEFL.md 1.1), and how to walk a model for them.

The rule lives here and nowhere else, so that a user who wants different layers can
pass explicit names to :func:`provenance_layers` instead of editing the rule.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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


class AffineScorer(LayerScorer):
    """Linear and HF Conv1D: y = z W_k^T + b_k, all clients' weights stacked."""

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        self.weight = weight.contiguous()  # (K, out, in)
        self.bias = bias  # (K, out) or None
        self.num_clients, self.out_features, self.in_features = weight.shape

    def score(self, call: LayerCall, grad: Tensor) -> Tensor:
        z = call.primary()
        n, k, out, inp = z.shape[0], self.num_clients, self.out_features, self.in_features
        z = z.reshape(n, -1, inp)
        g = grad.reshape(n, -1, out)
        positions = z.shape[1]
        # Two exact routes; pick the cheaper. "outer" uses <W_k, g^T z> (the weight-gradient
        # identity), which wins when the layer is applied at many positions (tokens).
        direct_cost, outer_cost = positions * k * out * inp, (positions + k) * out * inp
        if outer_cost < direct_cost and out * inp <= 4 * positions * k * out:
            per_input_grad = torch.bmm(g.transpose(1, 2), z)  # (N, out, in)
            scores = per_input_grad.reshape(n, -1) @ self.weight.reshape(k, -1).T
        else:
            o = F.linear(z, self.weight.reshape(k * out, inp)).reshape(n, positions, k, out)
            scores = torch.einsum("npko,npo->nk", o, g)
        if self.bias is not None:
            scores = scores + g.sum(1) @ self.bias.T
        return scores


class Conv2dScorer(LayerScorer):
    """Conv2d: one convolution with all clients' filters stacked (groups == 1), else per client."""

    def __init__(self, layer: nn.Conv2d, weight: Tensor, bias: Tensor | None) -> None:
        self.num_clients = weight.shape[0]
        self.groups = layer.groups
        self.stride, self.dilation = layer.stride, layer.dilation
        self.padding: Any = layer.padding
        self.pad_mode = layer.padding_mode
        self.explicit_pad = tuple(layer._reversed_padding_repeated_twice)
        if self.pad_mode != "zeros":  # nn.Conv2d pads explicitly for these modes
            self.padding = 0
        self.weight = weight  # (K, out, in/groups, kh, kw)
        self.bias = bias  # (K, out) or None
        if self.groups == 1:
            self.stacked_w = weight.reshape(-1, *weight.shape[2:])
            self.stacked_b = None if bias is None else bias.reshape(-1)

    def _conv(self, z: Tensor, w: Tensor, b: Tensor | None, groups: int) -> Tensor:
        return F.conv2d(z, w, b, self.stride, self.padding, self.dilation, groups)

    def score(self, call: LayerCall, grad: Tensor) -> Tensor:
        z = call.primary()
        if self.pad_mode != "zeros":
            z = F.pad(z, self.explicit_pad, mode=self.pad_mode)
        n, k = z.shape[0], self.num_clients
        g = grad.reshape(n, -1, 1)
        if self.groups == 1:
            o = self._conv(z, self.stacked_w, self.stacked_b, 1)
            return torch.bmm(o.reshape(n, k, -1), g).squeeze(-1)
        cols = []
        for i in range(k):
            b = None if self.bias is None else self.bias[i]
            o = self._conv(z, self.weight[i], b, self.groups)
            cols.append(torch.bmm(o.reshape(n, 1, -1), g).reshape(n))
        return torch.stack(cols, dim=1)


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


class FunctionalScorer(LayerScorer):
    """Any other layer (e.g. BertLayer): re-run the global block with each client's tensors."""

    def __init__(self, layer: nn.Module, states: list[dict[str, Tensor]]) -> None:
        self.layer = layer
        self.states = states
        self.num_clients = len(states)

    def score(self, call: LayerCall, grad: Tensor) -> Tensor:
        n = grad.shape[0]
        g = grad.reshape(n, -1, 1)
        cols = []
        for state in self.states:
            out = primary_output(torch.func.functional_call(self.layer, state, call.args, call.kwargs))
            if out is None:
                raise ValueError(f"{type(self.layer).__name__} returned no tensor output")
            cols.append(torch.bmm(out.reshape(n, 1, -1), g).reshape(n))
        return torch.stack(cols, dim=1)


def build_scorer(
    name: str, layer: nn.Module, client_layers: Sequence[nn.Module], device: torch.device
) -> LayerScorer:
    """Check the client copies match ``layer`` and move their tensors to ``device`` once."""
    states = [_client_state(name, layer, c, device) for c in client_layers]
    if is_hf_conv1d(layer):
        weight = torch.stack([s["weight"].T for s in states])
        return AffineScorer(weight, _stack_optional(states, "bias"))
    if isinstance(layer, nn.Linear):
        return AffineScorer(torch.stack([s["weight"] for s in states]), _stack_optional(states, "bias"))
    if isinstance(layer, nn.Conv2d):
        weight = torch.stack([s["weight"] for s in states])
        return Conv2dScorer(layer, weight, _stack_optional(states, "bias"))
    if isinstance(layer, nn.LayerNorm):
        return LayerNormScorer(layer, len(states), _stack_optional(states, "weight"),
                               _stack_optional(states, "bias"))
    return FunctionalScorer(layer, states)


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
