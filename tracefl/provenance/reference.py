"""A per-input reference implementation of neuron provenance (docs/algorithm.md section 1).

This is the definition written out as plainly as possible, one input at a time, the way
the paper's artifact loops:

1. forward the global model G on the single input, keeping every provenance layer's
   input Z_l (all positional and keyword arguments, e.g. BERT's attention mask);
2. one backward pass of G's predicted-class logit, giving g_l = d logit / d output_l;
3. for each client k and layer l, call client k's *own* layer module on the kept
   arguments, O_{k,l} = layer_l^{(k)}(Z_l), and take the flattened dot product
   <O_{k,l}, g_l>, summed over layers with beta_l = decay^(L-1-l) (accumulated in
   float64);
4. optional client weighting p_k = n_k / sum n, softmax over clients, argmax.

It is deliberately slow (N backward passes, N*K*L layer calls at batch size 1) and
shares no scoring code with the batched engine (:func:`tracefl.provenance.trace`), so it
serves as the engine's test oracle and as the baseline of ``tracefl.bench``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from tracefl.config.settings import DEFAULT_LAYER_DECAY
from tracefl.models.inference import eval_mode
from tracefl.models.inputs import Inputs, forward, num_rows, output_logits, take, to_device
from tracefl.provenance.engine import TraceResult
from tracefl.provenance.layers import provenance_layers
from tracefl.provenance.weighting import client_weights, layer_betas



def reference_trace(
    global_model: nn.Module,
    client_models: Mapping[str, nn.Module],
    inputs: Inputs,
    client_num_examples: Mapping[str, int] | None = None,
    client_weighting: str = "none",
    layer_decay: float | None = DEFAULT_LAYER_DECAY,
    layers: list[str] | None = None,
    device: str | torch.device | None = None,
    keep_extra_args: bool = True,
) -> TraceResult:
    """Trace each input separately, straight from the definition (slow; for checking).

    Arguments mean what they mean for :func:`tracefl.provenance.trace` (``inputs`` is a
    batch tensor, or a mapping such as tokenizer output whose tensors are split along
    dim 0). ``keep_extra_args=False`` re-runs each client layer on its main input alone,
    dropping e.g. the attention mask of a ``BertLayer``, as the paper's artifact did.

    ``raw`` is float64. The models are not modified: training flags are restored and no
    parameter ``.grad`` is written (the gradient is taken with ``torch.autograd.grad``).
    """
    client_ids = [str(c) for c in client_models]
    if not client_ids:
        raise ValueError("reference_trace needs at least one client model (K == 0)")
    weights = client_weights(list(client_models), client_weighting, client_num_examples)
    if device is not None:
        device = torch.device(device)
        global_model = _moved(global_model, device)
        client_models = {c: _moved(m, device) for c, m in client_models.items()}
    names = [name for name, _ in provenance_layers(global_model, layers)]
    count = len(names)
    betas = layer_betas(count, layer_decay)
    n = num_rows(inputs)
    rows: list[Tensor] = []
    preds: list[int] = []
    with eval_mode(global_model, *client_models.values()):
        for i in range(n):
            x = take(inputs, slice(i, i + 1))
            x = x if device is None else to_device(x, device)
            row, pred = _trace_one(global_model, client_models, names, betas, x, keep_extra_args)
            rows.append(row)
            preds.append(pred)
    raw = torch.stack(rows) if rows else torch.zeros(0, len(client_ids), dtype=torch.float64)
    if weights is not None:
        raw = raw * weights
    best = raw.argmax(dim=1).tolist() if n else []
    return TraceResult(
        client_ids=client_ids,
        scores=torch.softmax(raw, dim=1),
        raw=raw,
        traced=[client_ids[j] for j in best],
        predicted=torch.tensor(preds, dtype=torch.long),
    )


def _trace_one(
    global_model: nn.Module,
    client_models: Mapping[str, nn.Module],
    names: list[str],
    betas: list[float],
    x: Inputs,
    keep_extra_args: bool,
) -> tuple[Tensor, int]:
    """Raw T_k for a single input (batch of one): one forward, one backward, K*L layer calls."""
    captured: dict[str, tuple[tuple[Any, ...], dict[str, Any], Tensor]] = {}

    def make_hook(name: str):
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Any:
            primary = _first(out)
            if not primary.requires_grad:  # frozen parameters: make the output a graph leaf
                primary = primary.detach().requires_grad_()
            captured[name] = (
                tuple(_detached(a) for a in args),
                {k: _detached(v) for k, v in kwargs.items()},
                primary,
            )
            copied = primary.clone()  # the net goes on with a copy: in-place ops cannot touch ours
            return copied if isinstance(out, Tensor) else type(out)((copied, *out[1:]))

        return hook

    handles = [
        global_model.get_submodule(name).register_forward_hook(make_hook(name), with_kwargs=True)
        for name in names
    ]
    try:
        with torch.enable_grad():
            out = forward(global_model, x)
    finally:
        for handle in handles:
            handle.remove()
    logits = output_logits(out)
    pred = int(logits[0].argmax())
    ran = [name for name in names if name in captured]
    outputs = [captured[name][2] for name in ran]
    grads = torch.autograd.grad(logits[0, pred], outputs, allow_unused=True)
    grad_of = dict(zip(ran, grads))
    row = []
    with torch.no_grad():
        for model in client_models.values():
            total = torch.zeros((), dtype=torch.float64, device=logits.device)
            for beta, name in zip(betas, names):
                grad = grad_of.get(name)
                if grad is None:  # layer did not run, or the logit does not depend on it
                    continue
                args, kwargs, _ = captured[name]
                layer = model.get_submodule(name)
                if keep_extra_args:
                    layer_out = layer(*args, **kwargs)
                else:  # the main input alone
                    main = next(v for v in (*args, *kwargs.values()) if isinstance(v, Tensor))
                    layer_out = layer(main)
                total += beta * (_first(layer_out).double() * grad.double()).sum()
            row.append(total)
    return torch.stack(row).cpu(), pred


def _first(out: Any) -> Tensor:
    return out if isinstance(out, Tensor) else out[0]


def _detached(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, Tensor) else value


def _moved(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` itself if it already lives on ``device``, else a copy there."""
    first = next(model.parameters(), None)
    if first is None or first.device == device or (
        first.device.type == device.type and device.index is None
    ):
        return model
    return copy.deepcopy(model).to(device)
