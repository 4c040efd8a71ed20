"""Model state <-> Flower arrays, with the two fixes server-side DP needs.

Flower's DP wrapper clips and noises every array in place, as floats: integer buffers
must travel as floats, BatchNorm's step counter must stay out of the clipped update,
and a noised running variance must not go below zero.
"""

from __future__ import annotations

import torch
from flwr.app import ArrayRecord


def as_float_arrays(state: dict[str, torch.Tensor]) -> ArrayRecord:
    """State dict as an ArrayRecord of floating arrays.

    Flower's DP clipping and noise work in place on every array, which integer buffers
    (BatchNorm's ``num_batches_tracked``) do not survive; ``load_state_dict`` casts
    them back to their own dtype on the way in.
    """
    return ArrayRecord(
        {k: (v if v.is_floating_point() else v.to(torch.float32)).detach().cpu() for k, v in state.items()}
    )


def keep_step_counters(state: dict[str, torch.Tensor], received: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with BatchNorm's ``num_batches_tracked`` as the server sent it.

    The counter grows by the local steps (~100 a round), not a weight: inside the DP
    update norm it would dwarf the real update and make the clipping shrink every weight.
    It is read only by BatchNorm with ``momentum=None``.
    """
    return {k: (received[k] if k.endswith("num_batches_tracked") and k in received else v) for k, v in state.items()}


def clamp_running_variances(model: torch.nn.Module) -> None:
    """DP noise on BatchNorm's running variances may push one below 0 (NaN in eval): clamp at 0."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_var is not None:
                module.running_var.clamp_(min=0.0)
