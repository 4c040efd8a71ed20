"""The batched provenance engine against a per-input oracle of the definition (docs/algorithm.md section 1)."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping

import pytest
import torch
from torch import Tensor, nn

from tracefl.provenance import is_provenance_layer, provenance_layers, reweight_by_data_size, trace
from tracefl.provenance.reference import reference_trace

torch.set_num_threads(min(2, torch.get_num_threads()))


# ----------------------------------------------------------------------------- oracle


def oracle_trace(
    global_model: nn.Module,
    clients: Mapping[str, nn.Module],
    inputs: Tensor | Mapping[str, Tensor],
    layer_decay: float | None = 0.9,
    keep_extra_args: bool = True,
) -> tuple[Tensor, Tensor]:
    """Straight from the definition: one input at a time, each client's own layer forward.

    Returns (raw (N, K), predicted (N,)) of :func:`tracefl.provenance.reference.reference_trace`.
    ``keep_extra_args=False`` re-runs client layers on the main input alone, dropping e.g.
    the attention mask (as the artifact did).
    """
    result = reference_trace(
        global_model, clients, inputs, layer_decay=layer_decay, keep_extra_args=keep_extra_args
    )
    return result.raw, result.predicted


# ----------------------------------------------------------------------------- models


def perturbed_clients(
    model: nn.Module, k: int, scale: float = 0.05, seed: int = 0
) -> dict[str, nn.Module]:
    """K genuinely different clients: each parameter gets relative Gaussian noise."""
    gen = torch.Generator().manual_seed(seed)
    clients = {}
    for i in range(k):
        client = copy.deepcopy(model)
        with torch.no_grad():
            for p in client.parameters():
                noise = torch.randn(p.shape, generator=gen).to(p.dtype)
                p.add_(scale * (p.abs().mean() + 1e-3) * noise)
        clients[f"c{i}"] = client
    return clients


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 12, 3, stride=2, padding=2, dilation=2, padding_mode="reflect"),
            nn.ReLU(),
        )
        self.head = nn.Linear(12 * 4 * 4, 5)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1))


class BatchNormNet(nn.Module):
    """BatchNorm (eval statistics matter) and in-place ReLUs straight after provenance layers."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(8),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.fc1 = nn.Linear(32, 16)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(16, 4)
        with torch.no_grad():
            for bn in (self.body[1], self.body[5]):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(self.body(x))))


class LayerNormNet(nn.Module):
    """Token-shaped inputs: Linear at many positions, LayerNorm over 1 and 2 dims."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(6, 16)
        self.norm = nn.LayerNorm(16)
        self.mix = nn.Linear(16, 16, bias=False)
        self.norm2 = nn.LayerNorm([5, 16])
        self.head = nn.Linear(16, 4)
        with torch.no_grad():  # non-trivial affine parameters
            for ln in (self.norm, self.norm2):
                ln.weight.uniform_(0.5, 1.5)
                ln.bias.uniform_(-0.5, 0.5)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.nn.functional.gelu(self.norm(self.proj(x)))
        h = self.norm2(self.mix(h))
        return self.head(h.mean(1))


class GroupedConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, groups=2)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, padding_mode="circular")
        self.head = nn.Linear(8, 3)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.depthwise(torch.relu(self.conv(x))))
        return self.head(h.mean((2, 3)))


def _tiny_bert() -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32, num_labels=3,
    )
    torch.manual_seed(0)
    return BertForSequenceClassification(config).double().eval()


def _tiny_gpt() -> nn.Module:
    from transformers import OpenAIGPTConfig, OpenAIGPTForSequenceClassification

    config = OpenAIGPTConfig(
        vocab_size=100, n_positions=32, n_embd=32, n_layer=2, n_head=2, num_labels=3, pad_token_id=0,
    )
    torch.manual_seed(0)
    return OpenAIGPTForSequenceClassification(config).double().eval()


def _token_batch(n: int = 5, length: int = 10) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 100, (n, length), generator=gen)
    mask = torch.ones(n, length, dtype=torch.long)
    for row, keep in enumerate([10, 6, 3, 8, 10][:n]):
        mask[row, keep:] = 0
        ids[row, keep:] = 0  # the pad token
    return {"input_ids": ids, "attention_mask": mask}


def _images(n: int, shape: tuple[int, ...], seed: int = 1, dtype=torch.float64) -> Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _assert_matches_oracle(model, clients, inputs, rtol=1e-7, **kwargs) -> None:
    result = trace(model, clients, inputs, **kwargs)
    expected, predicted = oracle_trace(model, clients, inputs, kwargs.get("layer_decay", 0.9))
    scale = expected.abs().max()
    torch.testing.assert_close(result.raw.double(), expected, rtol=rtol, atol=rtol * scale)
    assert torch.equal(result.predicted, predicted)
    ids = list(clients)
    assert result.traced == [ids[j] for j in expected.argmax(1).tolist()]
    torch.testing.assert_close(result.scores.double(), torch.softmax(expected, 1), rtol=1e-4, atol=1e-6)
    # The clients differ, so the trace is not trivially uniform.
    assert (expected.max(1).values - expected.min(1).values).min() > 0


# ----------------------------------------------------------------------------- equality with the oracle


def _seeded(factory):
    torch.manual_seed(0)
    return factory().double()


@pytest.mark.parametrize(
    ("factory", "shape"),
    [
        (SmallCNN, (3, 16, 16)),
        (BatchNormNet, (3, 8, 8)),
        (LayerNormNet, (5, 6)),
        (GroupedConvNet, (4, 7, 7)),
    ],
    ids=["cnn", "batchnorm-inplace", "layernorm", "grouped-conv"],
)
def test_engine_equals_oracle_small_models(factory, shape):
    model = _seeded(factory)
    clients = perturbed_clients(model, 4)
    _assert_matches_oracle(model, clients, _images(6, shape))


def test_engine_equals_oracle_float32():
    torch.manual_seed(0)
    model = SmallCNN()
    clients = perturbed_clients(model, 3)
    inputs = _images(6, (3, 16, 16), dtype=torch.float32)
    result = trace(model, clients, inputs)
    expected, _ = oracle_trace(model, clients, inputs)
    assert result.raw.dtype == torch.float32
    scale = expected.abs().max()
    torch.testing.assert_close(result.raw.double(), expected, rtol=1e-4, atol=1e-4 * scale)


def test_engine_equals_oracle_resnet18():
    from torchvision.models import resnet18

    model = _seeded(lambda: resnet18(num_classes=10))
    clients = perturbed_clients(model, 3)
    _assert_matches_oracle(model, clients, _images(5, (3, 32, 32)))


def test_engine_equals_oracle_bert_with_padding_mask():
    model = _tiny_bert()
    clients = perturbed_clients(model, 3, scale=0.2)
    batch = _token_batch()
    _assert_matches_oracle(model, clients, batch)
    # The mask matters for whole BertLayers: an oracle that drops it disagrees.
    engine = trace(model, clients, batch).raw.double()
    without_mask, _ = oracle_trace(model, clients, batch, keep_extra_args=False)
    padded_rows = [1, 2, 3]
    assert not torch.allclose(engine[padded_rows], without_mask[padded_rows], rtol=1e-6)


def test_bert_blocks_of_all_clients_in_one_vmapped_call_equal_the_oracle():
    # What a GPU runs by default for small blocks (batch_clients=None there), checked on the CPU.
    model = _tiny_bert()
    clients = perturbed_clients(model, 3, scale=0.2)
    batch = _token_batch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a vmap failure falls back to the loop with a warning: not here
        _assert_matches_oracle(model, clients, batch, batch_clients=True)
        batched = trace(model, clients, batch, batch_clients=True)
    looped = trace(model, clients, batch, batch_clients=False)
    assert batched.traced == looped.traced
    torch.testing.assert_close(batched.raw, looped.raw, rtol=1e-9, atol=1e-12)


def test_a_block_vmap_cannot_run_is_scored_client_by_client_with_a_warning():
    from tracefl.provenance.layers import FunctionalScorer, LayerCall

    class DataDependent(nn.Module):  # .item() inside: vmap cannot batch it
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.tensor([2.0]))

        def forward(self, x: Tensor) -> Tensor:
            return x * self.scale.item()

    block = DataDependent()
    states = [{"scale": torch.tensor([float(k + 1)])} for k in range(3)]
    call, grad = LayerCall((torch.ones(2, 4),), {}), torch.ones(2, 4)
    expected = FunctionalScorer(block, states, batched=False).score(call, grad)
    scorer = FunctionalScorer(block, states, batched=True)
    with pytest.warns(UserWarning, match="one after another"):
        scores = scorer.score(call, grad)
    torch.testing.assert_close(scores, expected)
    torch.testing.assert_close(scores, torch.tensor([[4.0, 8.0, 12.0]] * 2))
    assert scorer.batched is False  # decided once: the next chunk goes straight to the loop


def test_engine_equals_oracle_gpt_conv1d():
    model = _tiny_gpt()
    assert sum(type(m).__name__ == "Conv1D" for _, m in provenance_layers(model)) == 8
    clients = perturbed_clients(model, 3, scale=0.2)
    _assert_matches_oracle(model, clients, _token_batch())


# ----------------------------------------------------------------------------- options


def test_layer_decay_is_beta_weighted_sum_of_single_layer_traces():
    model = _seeded(SmallCNN)
    clients = perturbed_clients(model, 3)
    inputs = _images(4, (3, 16, 16))
    names = [n for n, _ in provenance_layers(model)]
    per_layer = [trace(model, clients, inputs, layers=[n]).raw for n in names]
    decayed = trace(model, clients, inputs, layer_decay=0.9).raw
    flat = trace(model, clients, inputs, layer_decay=None).raw
    last = len(names) - 1
    torch.testing.assert_close(decayed, sum(0.9 ** (last - j) * r for j, r in enumerate(per_layer)))
    torch.testing.assert_close(flat, sum(per_layer))
    torch.testing.assert_close(trace(model, clients, inputs, layer_decay=1.0).raw, flat)
    assert not torch.allclose(decayed, flat)


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_last_layer_baseline_is_the_trace_of_the_last_layer_alone(chunk_size):
    from tracefl.provenance import last_layer_result

    model = _seeded(SmallCNN)
    clients = perturbed_clients(model, 3)
    inputs = _images(7, (3, 16, 16))
    last_name = [n for n, _ in provenance_layers(model)][-1]
    full = trace(model, clients, inputs, chunk_size=chunk_size)
    alone = trace(model, clients, inputs, layers=[last_name], chunk_size=chunk_size)
    baseline = last_layer_result(full)
    torch.testing.assert_close(baseline.raw, alone.raw)
    assert baseline.traced == alone.traced and torch.equal(baseline.predicted, full.predicted)
    assert not torch.allclose(baseline.raw, full.raw)


def test_data_size_weighting_scales_raw_by_client_share():
    model = _seeded(SmallCNN)
    clients = perturbed_clients(model, 3)
    inputs = _images(4, (3, 16, 16))
    counts = {"c0": 10, "c1": 30, "c2": 60}
    plain = trace(model, clients, inputs)
    weighted = trace(model, clients, inputs, client_num_examples=counts, client_weighting="data_size")
    share = torch.tensor([0.1, 0.3, 0.6], dtype=plain.raw.dtype)
    torch.testing.assert_close(weighted.raw, plain.raw * share)
    torch.testing.assert_close(weighted.scores, torch.softmax(plain.raw * share, 1))
    # The ablation re-scores an unweighted trace instead of tracing twice: the same result.
    again = reweight_by_data_size(plain, counts)
    torch.testing.assert_close(again.raw, weighted.raw)
    assert again.traced == weighted.traced and torch.equal(again.predicted, weighted.predicted)


def test_chunking_does_not_change_results():
    model = _tiny_bert()
    clients = perturbed_clients(model, 3, scale=0.2)
    batch = _token_batch()
    whole = trace(model, clients, batch, chunk_size=None)
    chunked = trace(model, clients, batch, chunk_size=2)
    torch.testing.assert_close(chunked.raw, whole.raw)
    assert chunked.traced == whole.traced
    torch.testing.assert_close(chunked.predicted, whole.predicted)


def test_models_and_training_flags_are_left_unchanged():
    model = _seeded(BatchNormNet)
    clients = perturbed_clients(model, 3)
    model.train()
    model.body[1].eval()  # a mixed state must come back exactly
    clients["c1"].train()
    flags = {name: [m.training for m in net.modules()] for name, net in {"g": model, **clients}.items()}
    states = {name: copy.deepcopy(net.state_dict()) for name, net in {"g": model, **clients}.items()}
    trace(model, clients, _images(3, (3, 8, 8)))
    for name, net in {"g": model, **clients}.items():
        assert [m.training for m in net.modules()] == flags[name]
        for key, value in net.state_dict().items():
            assert torch.equal(value, states[name][key]), (name, key)
        assert all(p.grad is None for p in net.parameters())


def test_reference_leaves_models_unchanged_and_supports_the_trace_options():
    model = _seeded(BatchNormNet)
    clients = perturbed_clients(model, 3)
    model.train()
    clients["c1"].train()
    for p in model.parameters():
        p.grad = torch.ones_like(p)  # gradients the caller had must survive
    flags = {name: [m.training for m in net.modules()] for name, net in {"g": model, **clients}.items()}
    inputs = _images(4, (3, 8, 8))
    counts = {"c0": 10, "c1": 30, "c2": 60}
    plain = reference_trace(model, clients, inputs, device="cpu")
    weighted = reference_trace(model, clients, inputs, client_num_examples=counts,
                               client_weighting="data_size")
    for name, net in {"g": model, **clients}.items():
        assert [m.training for m in net.modules()] == flags[name]
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in model.parameters())
    assert all(p.grad is None for c in clients.values() for p in c.parameters())
    share = torch.tensor([0.1, 0.3, 0.6], dtype=torch.float64)
    torch.testing.assert_close(weighted.raw, plain.raw * share)
    torch.testing.assert_close(weighted.scores, torch.softmax(plain.raw * share, 1))
    engine = trace(model, clients, inputs, client_num_examples=counts, client_weighting="data_size")
    assert weighted.traced == engine.traced and weighted.client_ids == ["c0", "c1", "c2"]
    names = [n for n, _ in provenance_layers(model)]
    last = reference_trace(model, clients, inputs, layers=names[-1:]).raw
    torch.testing.assert_close(last, trace(model, clients, inputs, layers=names[-1:]).raw.double())
    empty = reference_trace(model, clients, _images(0, (3, 8, 8)))
    assert empty.raw.shape == (0, 3) and empty.traced == [] and empty.predicted.numel() == 0


def test_empty_inputs_give_an_empty_result():
    model = _seeded(SmallCNN)
    result = trace(model, perturbed_clients(model, 2), _images(0, (3, 16, 16)))
    assert result.raw.shape == (0, 2) and result.traced == [] and result.predicted.numel() == 0


def test_frozen_global_model_gives_the_same_trace():
    model = _seeded(BatchNormNet)
    clients = perturbed_clients(model, 3)
    inputs = _images(4, (3, 8, 8))
    expected = trace(model, clients, inputs).raw
    model.requires_grad_(False)
    torch.testing.assert_close(trace(model, clients, inputs, device="cpu").raw, expected)
    assert not any(p.requires_grad for p in model.parameters())


def test_affine_routes_agree_with_a_client_loop():
    from tracefl.provenance.layers import AffineScorer, LayerCall

    gen = torch.Generator().manual_seed(5)
    weight = torch.randn(3, 4, 64, generator=gen, dtype=torch.float64)
    bias = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    scorer = AffineScorer(weight, bias)
    # "auto" routes at 1, 7 and 2 positions (test_affine_forced_routes_... forces each route)
    for positions, width in [(1, 64), (7, 64), (2, 64)]:
        z = torch.randn(5, positions, width, generator=gen, dtype=torch.float64)
        g = torch.randn(5, positions, 4, generator=gen, dtype=torch.float64)
        expected = torch.stack(
            [((z @ weight[k].T + bias[k]) * g).sum((1, 2)) for k in range(3)], dim=1
        )
        torch.testing.assert_close(scorer.score(LayerCall((z,), {}), g), expected)


def test_affine_forced_routes_agree_with_a_client_loop(monkeypatch):
    from tracefl.provenance import layers
    from tracefl.provenance.layers import AffineScorer, LayerCall

    gen = torch.Generator().manual_seed(6)
    weight = torch.randn(4, 5, 12, generator=gen, dtype=torch.float64)
    bias = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    z = torch.randn(7, 3, 12, generator=gen, dtype=torch.float64)
    g = torch.randn(7, 3, 5, generator=gen, dtype=torch.float64)
    expected = torch.stack([((z @ weight[k].T + bias[k]) * g).sum((1, 2)) for k in range(4)], dim=1)
    monkeypatch.setattr(layers, "_OUTER_BUDGET", 2 * 5 * 12)  # the outer route in parts of 2 inputs
    for route in ("direct", "outer", "auto"):
        for b in (bias, None):
            scores = AffineScorer(weight, b, route=route).score(LayerCall((z,), {}), g)
            want = expected if b is not None else expected - g.sum(1) @ bias.T
            torch.testing.assert_close(scores, want)
    with pytest.raises(ValueError, match="route"):
        AffineScorer(weight, bias, route="fast")


@pytest.mark.parametrize(
    "conv",
    [
        dict(in_channels=3, out_channels=4, kernel_size=3, padding=1),
        dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, stride=2, bias=False),
        dict(in_channels=3, out_channels=4, kernel_size=(3, 2), padding=(2, 1), dilation=2),
        dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="reflect"),
        dict(in_channels=3, out_channels=4, kernel_size=4, padding="same"),
        dict(in_channels=3, out_channels=4, kernel_size=1),
    ],
    ids=["pad", "stride-nobias", "dilated", "reflect", "same-even", "1x1"],
)
@pytest.mark.parametrize("size", [1, 2, 5], ids=["1x1-map", "2x2-map", "5x5-map"])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_conv_routes_agree_with_a_client_loop(conv, size):
    """Every Conv2d route (incl. dropping taps that only read zero padding) is exact."""
    from tracefl.provenance.layers import LayerCall, build_scorer

    if conv.get("padding_mode") == "reflect" and size == 1:
        pytest.skip("reflect padding needs a map larger than the padding")

    torch.manual_seed(0)
    layer = nn.Conv2d(**conv).double()
    clients = [copy.deepcopy(layer) for _ in range(3)]
    gen = torch.Generator().manual_seed(7)
    for client in clients:
        with torch.no_grad():
            for p in client.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    z = torch.randn(4, 3, size, size, generator=gen, dtype=torch.float64)
    out = layer(z)
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    expected = torch.stack([(c(z) * g).sum((1, 2, 3)) for c in clients], dim=1)
    for route in ("conv", "gemm", "outer", "auto"):
        scorer = build_scorer("conv", layer, clients, torch.device("cpu"))
        scorer.route = route
        for _ in range(2):  # the second chunk reuses the cached stacked/kept weights
            torch.testing.assert_close(scorer.score(LayerCall((z,), {}), g), expected)


def test_layer_that_never_runs_scores_zero_with_a_warning():
    model = _seeded(SmallCNN)
    model.spare = nn.Linear(3, 3).double()  # registered, never called
    clients = perturbed_clients(model, 2)
    inputs = _images(3, (3, 16, 16))
    with pytest.warns(UserWarning, match="spare"):
        result = trace(model, clients, inputs, layer_decay=None)
    del model.spare
    for client in clients.values():
        del client.spare
    torch.testing.assert_close(result.raw, trace(model, clients, inputs, layer_decay=None).raw)


# ----------------------------------------------------------------------------- errors


def test_errors_are_clear():
    model = _seeded(SmallCNN)
    clients = perturbed_clients(model, 2)
    inputs = _images(2, (3, 16, 16))
    with pytest.raises(ValueError, match="K == 0"):
        trace(model, {}, inputs)
    with pytest.raises(ValueError, match="client_weighting.*'none', 'data_size'"):
        trace(model, clients, inputs, client_weighting="size")
    with pytest.raises(ValueError, match="client_num_examples"):
        trace(model, clients, inputs, client_weighting="data_size")
    with pytest.raises(ValueError, match="nope"):
        trace(model, clients, inputs, layers=["head", "nope"])


def test_nan_in_a_client_model_names_the_layer():
    model = _seeded(SmallCNN)
    clients = perturbed_clients(model, 3)
    with torch.no_grad():
        clients["c1"].features[3].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"NaN/Inf.*'features\.3'.*\[1\]"):
        trace(model, clients, _images(2, (3, 16, 16)))


def test_nan_in_the_inputs_is_reported_not_crashed_on():
    model = _seeded(SmallCNN)
    inputs = _images(2, (3, 16, 16))
    inputs[1, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"NaN/Inf in the input Z of provenance layer 'features\.0'"):
        trace(model, perturbed_clients(model, 2), inputs)


def test_client_architecture_mismatch_names_the_layer():
    model = _seeded(SmallCNN)
    clients = perturbed_clients(model, 2)
    clients["c1"].head = nn.Linear(12 * 4 * 4, 7).double()
    with pytest.raises(ValueError, match="'head'.*shape"):
        trace(model, clients, _images(2, (3, 16, 16)))
    del clients["c1"].head
    with pytest.raises(ValueError, match="no layer 'head'"):
        trace(model, clients, _images(2, (3, 16, 16)))


# ----------------------------------------------------------------------------- layer rule


def test_layer_counts_of_torchvision_models():
    from torchvision.models import densenet121, resnet18

    assert len(provenance_layers(resnet18(num_classes=10))) == 21
    assert len(provenance_layers(densenet121(num_classes=10))) == 121


def test_layer_rule():
    assert is_provenance_layer(nn.Linear(2, 2))
    assert is_provenance_layer(nn.Conv2d(1, 1, 1))
    assert is_provenance_layer(nn.LayerNorm(3))
    assert not is_provenance_layer(nn.BatchNorm2d(3))
    assert not is_provenance_layer(nn.Embedding(3, 2))
    assert not is_provenance_layer(nn.Sequential(nn.Linear(2, 2)))
    names = [n for n, _ in provenance_layers(_tiny_bert())]
    assert names == [
        "bert.embeddings.LayerNorm", "bert.encoder.layer.0", "bert.encoder.layer.1",
        "bert.pooler.dense", "classifier",
    ]
    model = SmallCNN()
    assert [n for n, _ in provenance_layers(model, ["head", "features.0"])] == ["head", "features.0"]
