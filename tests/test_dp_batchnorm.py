"""Server-side DP with BatchNorm models: the step counter stays out of the clipped update,
and noisy running variances cannot go negative."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tracefl.flower.arrays import as_float_arrays, clamp_running_variances, keep_step_counters


def _trained_bn_state():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(2, 3, 8, 8))
    received = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    for _ in range(50):  # 50 local steps
        model(torch.randn(4, 3, 8, 8))
    return received, model.state_dict()


def test_step_counter_is_not_part_of_the_update():
    received, trained = _trained_bn_state()
    assert int(trained["1.num_batches_tracked"]) == int(received["1.num_batches_tracked"]) + 50
    kept = keep_step_counters(trained, received)
    assert torch.equal(kept["1.num_batches_tracked"], received["1.num_batches_tracked"])
    assert torch.equal(kept["1.running_mean"], trained["1.running_mean"])  # statistics do move
    update = [a - b for a, b in zip(as_float_arrays(kept).to_numpy_ndarrays(),
                                    as_float_arrays(received).to_numpy_ndarrays())]
    with_counter = [a - b for a, b in zip(as_float_arrays(trained).to_numpy_ndarrays(),
                                          as_float_arrays(received).to_numpy_ndarrays())]
    norm = np.sqrt(sum(float((u ** 2).sum()) for u in update))
    assert np.sqrt(sum(float((u ** 2).sum()) for u in with_counter)) > 49 > norm


def test_negative_running_variances_are_clamped():
    bn = nn.BatchNorm1d(3)
    bn.running_var.copy_(torch.tensor([0.5, -1e-4, 2.0]))
    clamp_running_variances(nn.Sequential(bn))
    assert bn.running_var.tolist() == [0.5, 0.0, 2.0]

