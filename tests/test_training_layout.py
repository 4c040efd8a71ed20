"""Channels-last training and evaluation: the same maths as the default layout, and a model
that comes back in the default layout (so its state saves as safetensors and aggregates)."""

from __future__ import annotations

import torch
from safetensors.torch import save

from tracefl.models.catalog import channels_last
from tracefl.models.inference import evaluate, predict
from tracefl.models.registry import build_model
from tracefl.models.training import train_local


def _data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 32, 32, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _trained(nhwc: bool) -> tuple[torch.nn.Module, float]:
    torch.manual_seed(1)
    model = build_model("cnn", 10, pretrained=False)
    x, y = _data()
    loss = train_local(model, x, y, epochs=2, batch_size=32, lr=1e-3, optimizer="adam", seed=7,
                       device=torch.device("cpu"), channels_last=nhwc)
    return model, loss


def test_channels_last_trains_the_same_model_up_to_summation_order():
    plain, plain_loss = _trained(False)
    nhwc, nhwc_loss = _trained(True)
    assert abs(plain_loss - nhwc_loss) < 1e-4
    # Adam moves a weight whose gradient is ~0 by up to lr either way, so rounding noise in the
    # gradient can show as up to one step (1e-3) on a few weights; the rest agree to ~1e-6.
    for key, value in plain.state_dict().items():
        diff = (nhwc.state_dict()[key].float() - value.float()).abs()
        assert diff.max() <= 1e-3, key
        assert (diff > 1e-5).float().mean() < 1e-3, key


def test_a_channels_last_model_comes_back_in_the_default_layout():
    model, _ = _trained(True)
    assert all(t.is_contiguous() for t in model.state_dict().values())
    save(model.state_dict())  # safetensors refuses non-contiguous tensors


def test_channels_last_prediction_matches_and_leaves_the_layout_alone():
    model, _ = _trained(False)
    x, y = _data(40)
    plain = predict(model, x, torch.device("cpu"), batch_size=16)
    nhwc = predict(model, x, torch.device("cpu"), batch_size=16, channels_last=True)
    torch.testing.assert_close(nhwc, plain, rtol=1e-4, atol=1e-5)
    assert all(p.is_contiguous() for p in model.parameters())
    accuracy, _, predicted = evaluate(model, x, y, torch.device("cpu"), channels_last=True)
    assert predicted == plain.argmax(1).tolist()
    assert accuracy == (plain.argmax(1) == y).float().mean().item()


def test_channels_last_is_chosen_per_model_and_only_on_a_cpu():
    assert channels_last("cnn", "cpu") and channels_last("densenet121", "cpu")
    assert not channels_last("resnet18", "cpu")  # measured slower in NHWC on the CPU
    assert not channels_last("cnn", "cuda")
    assert not channels_last("minilm-l6", "cpu")
