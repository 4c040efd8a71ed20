"""Channels-last training and evaluation: it is used where asked, it is the same maths as the
default layout, and the model comes back in the default layout (so its state saves as
safetensors and aggregates)."""

from __future__ import annotations

import torch
from safetensors.torch import save

from tracefl.models.catalog import channels_last
from tracefl.models.inference import evaluate, predict
from tracefl.models.builders import build_model
from tracefl.models.training import train_local

CPU = torch.device("cpu")


def _data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 32, 32, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _model() -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model("cnn", 10, pretrained=False)


def _layouts_seen(model: torch.nn.Module) -> list[bool]:
    """Records, per call of the first convolution, whether its input and weight were NHWC."""
    seen: list[bool] = []
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_pre_hook(lambda mod, args: seen.append(
        args[0].is_contiguous(memory_format=torch.channels_last)
        and mod.weight.is_contiguous(memory_format=torch.channels_last)))
    return seen


def _trained(nhwc: bool, optimizer: str = "sgd") -> tuple[torch.nn.Module, float, list[bool]]:
    model = _model()
    seen = _layouts_seen(model)
    x, y = _data()
    loss = train_local(model, x, y, epochs=2, batch_size=32, lr=1e-2, optimizer=optimizer, seed=7,
                       device=CPU, channels_last=nhwc)
    return model, loss, seen


def test_training_runs_channels_last_only_when_asked():
    assert _trained(True)[2] == [True] * 6  # 2 epochs x 3 batches
    assert _trained(False)[2] == [False] * 6


def test_channels_last_trains_the_same_model_up_to_float_rounding():
    # SGD: no per-weight normalisation that could turn rounding noise in a ~0 gradient into a step.
    plain, plain_loss, _ = _trained(False)
    nhwc, nhwc_loss, _ = _trained(True)
    assert abs(plain_loss - nhwc_loss) < 1e-5
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(nhwc.state_dict()[key], value, rtol=1e-4, atol=1e-6)


def test_a_channels_last_model_comes_back_in_the_default_layout():
    model, _, _ = _trained(True, optimizer="adam")
    assert all(t.is_contiguous() for t in model.state_dict().values())
    save(model.state_dict())  # safetensors refuses non-contiguous tensors


def test_a_failing_step_still_hands_the_model_back_in_the_default_layout():
    model = _model()
    x, y = _data()
    try:
        train_local(model, x, y + 100, epochs=1, batch_size=32, lr=1e-3, optimizer="adam", seed=7,
                    device=CPU, channels_last=True)  # labels out of range: the loss raises
    except (IndexError, RuntimeError):
        pass
    else:
        raise AssertionError("training on labels out of range did not raise")
    assert all(p.is_contiguous() for p in model.parameters())


def test_channels_last_prediction_matches_and_leaves_the_layout_alone():
    model = _model()
    seen = _layouts_seen(model)
    x, y = _data(40)
    plain = predict(model, x, CPU, batch_size=16)
    nhwc = predict(model, x, CPU, batch_size=16, channels_last=True)
    assert seen == [False] * 3 + [True] * 3
    torch.testing.assert_close(nhwc, plain, rtol=1e-4, atol=1e-5)
    assert all(p.is_contiguous() for p in model.parameters())
    accuracy, _, predicted = evaluate(model, x, y, CPU, channels_last=True)
    expected = predict(model, x, CPU, channels_last=True).argmax(1)
    assert predicted == expected.tolist()
    assert accuracy == (expected == y).float().mean().item()


def test_channels_last_is_chosen_per_model_and_only_on_a_cpu():
    assert channels_last("cnn", "cpu") and channels_last("tiny-cnn", "cpu") and channels_last("densenet121", "cpu")
    assert not channels_last("resnet18", "cpu")  # measured slower in NHWC on the CPU
    assert not channels_last("cnn", "cuda")
    assert not channels_last("minilm-l6", "cpu")
