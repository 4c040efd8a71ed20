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


def test_a_dp_run_resumes_from_its_checkpoint_to_the_same_models(tmp_path):
    """A checkpoint's tensors load in name order; the DP wrapper pairs the global model's and the
    replies' arrays by position, so a resumed DP run must hand them over in the model's order."""
    import json
    import shutil
    import subprocess
    import sys

    from safetensors.torch import load_file

    from tracefl.config import RunSpec

    spec = RunSpec(dataset="digits", model="tiny-cnn", num_clients=2, clients_per_round=2, rounds=3,
                   batch_size=16, max_client_samples=64, max_server_samples=64, dp_clip=10.0, dp_noise=0.001)

    def tracefl(*args):
        proc = subprocess.run([sys.executable, "-m", "tracefl", *args], capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    data, partition, whole = tmp_path / "digits", tmp_path / "part.json", tmp_path / "whole"
    tracefl("download", "--dataset", "digits", "--out", str(data))
    tracefl("partition", "--spec", json.dumps(spec.to_dict()), "--data-dir", str(data), "--out", str(partition))
    train = ["train", "--spec", json.dumps(spec.to_dict()), "--data-dir", str(data), "--partition", str(partition)]
    tracefl(*train, "--run-dir", str(whole))
    resumed = tmp_path / "resumed"
    shutil.copytree(whole, resumed)
    shutil.rmtree(resumed / "rounds" / "0003")  # as if killed in round 3
    (resumed / "rounds.csv").unlink()
    tracefl(*train, "--run-dir", str(resumed))
    for name in ("global.safetensors", "clients/0.safetensors", "clients/1.safetensors"):
        a, b = load_file(whole / "rounds" / "0003" / name), load_file(resumed / "rounds" / "0003" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
