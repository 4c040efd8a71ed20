"""Batched neuron provenance (docs/algorithm.md section 1): one forward and one backward of the
global model per chunk of inputs, then every client's copy of each layer scored at once.

The paper's artifact loops over inputs; in eval mode inputs do not interact, so the
sum of every input's predicted-class logit has, w.r.t. each layer output, exactly the
per-input gradients. That is where the speed comes from.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tracefl.config.settings import DEFAULT_CHUNK_SIZE, DEFAULT_LAYER_DECAY
from tracefl.models.inference import eval_mode
from tracefl.models.inputs import Inputs, forward, num_rows, output_logits
from tracefl.provenance.layers import (
    LayerCall,
    LayerScorer,
    build_scorer,
    primary_output,
    provenance_layers,
)
from tracefl.provenance.weighting import client_weights, layer_betas



@dataclass
class TraceResult:
    """Provenance of N inputs over K clients (tensors on CPU)."""

    client_ids: list[str]  # column order of scores/raw
    scores: Tensor  # (N, K) softmax over clients of raw
    raw: Tensor  # (N, K) T_k(x) after client weighting, before softmax
    traced: list[str]  # argmax client id per input
    predicted: Tensor  # (N,) long, the global model's predicted class
    # (N, K) the last provenance layer's term of raw alone (before client weighting): the
    # "last layer only" baseline, from the same pass (see last_layer_result).
    last_layer_raw: Tensor | None = None


def trace(
    global_model: nn.Module,
    client_models: Mapping[str, nn.Module],
    inputs: Inputs,
    client_num_examples: Mapping[str, int] | None = None,
    client_weighting: str = "none",
    layer_decay: float | None = DEFAULT_LAYER_DECAY,
    layers: list[str] | None = None,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    device: str | torch.device | None = None,
    batch_clients: bool | None = None,
) -> TraceResult:
    """Trace which client is responsible for the global model's prediction on each input.

    ``inputs`` is a batch tensor, or a mapping (e.g. tokenizer output) passed as keyword
    arguments and split along dim 0. ``layers`` overrides the default layer rule.
    ``batch_clients``: score the K client copies of a block that is re-run (a BertLayer) in
    one vmapped call; ``None`` does so on CUDA for blocks under ``BATCH_BLOCKS_BELOW_PARAMS``
    parameters (tracefl.provenance.layers), where it was measured to pay.
    """
    client_ids = [str(c) for c in client_models]
    if not client_ids:
        raise ValueError("trace needs at least one client model (K == 0)")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")
    weights = client_weights(list(client_models), client_weighting, client_num_examples)
    device = _resolve_device(global_model, device)
    model = _on_device(global_model, device)
    named = provenance_layers(model, layers)
    if not named:
        raise ValueError(f"{type(model).__name__} has no provenance layers")
    betas = layer_betas(len(named), layer_decay)
    if num_rows(inputs) == 0:  # nothing qualified this round: an empty, valid result
        empty = torch.zeros(0, len(client_ids))
        return TraceResult(client_ids, empty, empty.clone(), [], torch.zeros(0, dtype=torch.long), empty.clone())
    with eval_mode(model), torch.no_grad():
        scorers = [
            build_scorer(name, layer, _client_layers(client_models, name), device, batch_clients)
            for name, layer in named
        ]
        raws, lasts, preds = [], [], []
        for chunk in _chunks(inputs, chunk_size, device):
            raw, last, pred = _trace_chunk(model, named, scorers, betas, chunk)
            raws.append(raw)
            lasts.append(last)
            preds.append(pred)
    result = _result(client_ids, torch.cat(raws).cpu(), torch.cat(preds).cpu(), weights)
    result.last_layer_raw = torch.cat(lasts).cpu()
    return result


def _result(client_ids: list[str], raw: Tensor, predicted: Tensor, weights: Tensor | None) -> TraceResult:
    """Softmax and argmax of ``raw`` (times the client weights, when given)."""
    if weights is not None:
        raw = raw * weights.to(raw.dtype)
    best = raw.argmax(dim=1).tolist()
    return TraceResult(client_ids, torch.softmax(raw, dim=1), raw, [client_ids[i] for i in best], predicted)


def last_layer_result(result: TraceResult) -> TraceResult:
    """The baseline that scores clients by the last provenance layer alone (e.g. the head):
    what TraceFL's earlier layers add is the difference to ``result``. Unweighted."""
    if result.last_layer_raw is None:
        raise ValueError("this trace kept no last-layer scores")
    return _result(result.client_ids, result.last_layer_raw, result.predicted, None)


def reweight_by_data_size(result: TraceResult, client_num_examples: Mapping[str, int]) -> TraceResult:
    """``result`` of a ``client_weighting="none"`` trace as ``"data_size"`` would have given it.

    The weighting multiplies each client's raw score by p_k = n_k / sum n, so both
    settings come from one trace (for the ablation of paper Eq. 5-6).
    """
    weights = client_weights(result.client_ids, "data_size", {str(k): v for k, v in client_num_examples.items()})
    weighted = _result(result.client_ids, result.raw, result.predicted, weights)
    weighted.last_layer_raw = result.last_layer_raw
    return weighted


def _trace_chunk(
    model: nn.Module,
    named: list[tuple[str, nn.Module]],
    scorers: list[LayerScorer],
    betas: list[float],
    chunk: Inputs,
) -> tuple[Tensor, Tensor, Tensor]:
    """Raw T_k for one chunk, and the last layer's term of it: capture Z_l and g_l, then score
    each layer's client copies."""
    calls, grads, pred = _capture(model, named, chunk)
    n = pred.shape[0]
    acc_dtype = torch.promote_types(_dtype(model), torch.float32)
    raw = torch.zeros(n, scorers[0].num_clients, dtype=acc_dtype, device=pred.device)
    last = torch.zeros_like(raw)
    checks: list[Tensor] = []  # per layer: [Z finite, g finite, client k finite ...]
    checked: list[int] = []
    for idx, (name, _) in enumerate(named):
        call, grad = calls[idx], grads[idx]
        if call is None or grad is None:
            continue
        z = call.primary()
        if z.shape[0] != n or grad.shape[0] != n:
            raise ValueError(
                f"layer {name!r}: input/output do not keep the batch in dim 0 "
                f"(got {tuple(z.shape)} / {tuple(grad.shape)} for {n} inputs)"
            )
        contribution = scorers[idx].score(call, grad)
        calls[idx] = None  # free the captured input as soon as it is used
        # A sum is non-finite iff some element is (barring overflow): one cheap pass each.
        sums = torch.stack([z.sum().to(acc_dtype), grad.sum().to(acc_dtype)])
        checks.append(torch.isfinite(torch.cat([sums, contribution.sum(0).to(acc_dtype)])))
        checked.append(idx)
        raw += betas[idx] * contribution.to(acc_dtype)
        last = contribution.to(acc_dtype)  # layers run in order: the last one scored stays
    _raise_if_not_finite(torch.stack(checks).cpu() if checks else None, checked, named)
    return raw, last, pred


def _capture(
    model: nn.Module, named: list[tuple[str, nn.Module]], chunk: Inputs
) -> tuple[list[LayerCall | None], list[Tensor | None], Tensor]:
    """Forward with hooks keeping each layer's inputs and output, then one backward."""
    count = len(named)
    calls: list[LayerCall | None] = [None] * count
    outputs: list[Tensor | None] = [None] * count
    times_called = [0] * count
    handles = [
        layer.register_forward_hook(_hook(idx, name, calls, outputs, times_called), with_kwargs=True)
        for idx, (name, layer) in enumerate(named)
    ]
    try:
        with torch.enable_grad():
            out = forward(model, chunk)
            logits = output_logits(out)
            pred = logits.argmax(dim=1)
            target = logits.gather(1, pred[:, None]).sum()
    finally:
        for handle in handles:
            handle.remove()
    repeated = [named[i][0] for i, t in enumerate(times_called) if t > 1]
    if repeated:
        raise ValueError(f"layer(s) {repeated} ran more than once in one forward pass")
    unused = [named[i][0] for i, t in enumerate(times_called) if t == 0]
    if unused:
        warnings.warn(f"provenance layer(s) {unused} did not run in the forward pass; they score 0")
    used = [i for i, o in enumerate(outputs) if o is not None]
    if not target.requires_grad:
        raise ValueError("the predicted logit does not depend on any provenance layer")
    found = torch.autograd.grad(target, [outputs[i] for i in used], allow_unused=True)
    grads: list[Tensor | None] = [None] * count
    for i, g in zip(used, found):
        grads[i] = g  # None: the logit does not depend on this layer, it scores 0
    return calls, grads, pred.detach()


def _hook(
    idx: int,
    name: str,
    calls: list[LayerCall | None],
    outputs: list[Tensor | None],
    times_called: list[int],
) -> Callable[..., Any]:
    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        times_called[idx] += 1
        calls[idx] = LayerCall(_clone(args), _clone(kwargs))
        primary = primary_output(output)
        if primary is None:
            raise ValueError(f"layer {name!r} returned {type(output).__name__}, not a tensor")
        if not primary.requires_grad:  # frozen parameters: make the output a graph leaf
            primary = primary.detach().requires_grad_()
        outputs[idx] = primary
        # The network continues with a copy, so later in-place ops cannot rebase our tensor.
        copied = primary.clone()
        if isinstance(output, Tensor):
            return copied
        return type(output)((copied, *output[1:]))

    return hook


def _clone(value: Any) -> Any:
    """Detached copies of every tensor, so in-place ops later in the net cannot corrupt Z."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _raise_if_not_finite(
    checks: Tensor | None, checked: list[int], named: list[tuple[str, nn.Module]]
) -> None:
    if checks is None or bool(checks.all()):
        return
    for row, idx in zip(checks.tolist(), checked):
        name = named[idx][0]
        if not row[0]:
            raise ValueError(f"NaN/Inf in the input Z of provenance layer {name!r}")
        if not row[1]:
            raise ValueError(f"NaN/Inf in the gradient g of provenance layer {name!r}")
        bad = [k for k, ok in enumerate(row[2:]) if not ok]
        if bad:
            raise ValueError(
                f"NaN/Inf in the provenance scores of layer {name!r} for client column(s) {bad} "
                "(client parameters not finite?)"
            )


def _client_layers(client_models: Mapping[Any, nn.Module], name: str) -> list[nn.Module]:
    found = []
    for client_id, model in client_models.items():
        try:
            found.append(model.get_submodule(name))
        except AttributeError as error:
            raise ValueError(f"client {client_id!r} model has no layer {name!r}") from error
    return found


def _resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _on_device(model: nn.Module, device: torch.device) -> nn.Module:
    """The global model on ``device``; a copy if it lives elsewhere (never moved in place)."""
    tensors = [*model.parameters(), *model.buffers()]
    if all(_same_device(t.device, device) for t in tensors):
        return model
    return copy.deepcopy(model).to(device)


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    return a.index == b.index or a.index is None or b.index is None


def _dtype(model: nn.Module) -> torch.dtype:
    first = next(model.parameters(), None)
    return first.dtype if first is not None else torch.float32


def _chunks(inputs: Inputs, chunk_size: int | None, device: torch.device) -> Iterator[Inputs]:
    """Split a tensor or a mapping of tensors along dim 0, moving each piece to ``device``."""
    total = num_rows(inputs)
    step = total if chunk_size is None else chunk_size
    for start in range(0, total, step):
        if isinstance(inputs, Mapping):
            yield {
                k: v[start : start + step].to(device) if isinstance(v, Tensor) else v
                for k, v in inputs.items()
            }
        else:
            yield inputs[start : start + step].to(device)
