"""FedDebug baseline (docs/algorithm.md section 4): inputs, activations, voting, localization."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from tracefl.baselines.feddebug import (
    FedDebugResult,
    activation_layers,
    client_activations,
    feddebug_localize,
    generate_inputs,
    leave_one_out_counts,
    localize_from_activations,
)

torch.set_num_threads(min(2, torch.get_num_threads()))

SHAPE = (3, 16, 16)
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


class SmallCNN(nn.Module):
    def __init__(self, side: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(8 * (side // 2) ** 2, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.bn(self.conv(x))))
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def _perturbed(model: nn.Module, scale: float, seed: int) -> nn.Module:
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale * (p.abs().mean() + 1e-3))
    return out


def _clients(faulty: set[str], k: int = 5) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    base = SmallCNN()
    models = {}
    for i in range(k):
        cid = str(i)
        # benign clients: the same weights up to a tiny drift; faulty: far away
        scale = 3.0 if cid in faulty else 1e-4
        models[cid] = _perturbed(base, scale, seed=100 + i)
    return models


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return generate_inputs(6, SHAPE, MEAN, STD, seed=7)


# ----------------------------------------------------------------------------- inputs


def test_generate_inputs_shape_determinism_and_normalisation() -> None:
    a = generate_inputs(4, SHAPE, MEAN, STD, seed=1)
    b = generate_inputs(4, SHAPE, MEAN, STD, seed=1)
    c = generate_inputs(4, SHAPE, MEAN, STD, seed=2)
    assert a.shape == (4, *SHAPE) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # undo the normalisation: Kaiming-uniform noise for a (C, H, W) tensor, as the artifact draws it
    raw = a * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(torch.empty(*SHAPE))
    assert fan_in == SHAPE[1] * SHAPE[2]
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)
    assert raw.abs().max() <= bound * (1 + 1e-5)
    assert raw.abs().max() > 0.9 * bound  # fills the range
    assert abs(raw.mean().item()) < 0.1 * bound
    # per-channel normalisation: channel c is (noise - mean[c]) / std[c]
    for ch in range(3):
        assert abs(a[:, ch].mean().item() + MEAN[ch] / STD[ch]) < 0.05


def test_generate_inputs_scalar_stats_and_errors() -> None:
    x = generate_inputs(2, (1, 8, 8), 0.5, 0.5, seed=0)
    assert x.shape == (2, 1, 8, 8)
    assert torch.allclose(generate_inputs(2, (3, 8, 8), 0.5, 0.5, 0),
                          generate_inputs(2, (3, 8, 8), [0.5] * 3, [0.5] * 3, 0))
    with pytest.raises(ValueError):
        generate_inputs(2, (3, 8, 8), (0.1, 0.2), 0.5, 0)
    # MedMNIST: not normalised, the plain draws of kaiming_uniform_ with that seed
    plain = generate_inputs(2, (3, 8, 8), None, None, seed=5)
    gen = torch.Generator().manual_seed(5)
    expected = torch.stack([nn.init.kaiming_uniform_(torch.empty(3, 8, 8), generator=gen) for _ in range(2)])
    assert torch.equal(plain, expected)
    with pytest.raises(ValueError, match="both"):
        generate_inputs(2, (3, 8, 8), 0.5, None, 0)


# ------------------------------------------------------------------------- activations


def test_activation_layers_are_leaf_conv_and_linear() -> None:
    names = [n for n, _ in activation_layers(SmallCNN())]
    assert names == ["conv", "fc1", "fc2"]


def test_client_activations_match_definition_and_batching(inputs: torch.Tensor) -> None:
    model = _clients(set())["0"]
    act = client_activations(model, inputs, threshold=0.003)
    assert act.dtype == torch.bool and act.shape == (len(inputs), 8 * 16 * 16 + 32 + 10)

    # straight from the definition, one input at a time
    model.eval()
    outs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _a, o: outs.append(o.detach().clone()))
             for _, m in activation_layers(model)]
    rows = []
    with torch.no_grad():
        for i in range(len(inputs)):
            outs.clear()
            model(inputs[i : i + 1])
            parts = []
            for o in outs:
                y = torch.relu(o).flatten()
                scaled = (y - y.min()) / (y.max() - y.min())
                parts.append(scaled > 0.003)
            rows.append(torch.cat(parts))
    for h in hooks:
        h.remove()
    assert torch.equal(act, torch.stack(rows))


def test_inplace_relu_after_layer_does_not_change_activations(inputs: torch.Tensor) -> None:
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 14 * 14, 5))
    inplace = copy.deepcopy(plain)
    inplace[1] = nn.ReLU(inplace=True)
    a = client_activations(plain, inputs)
    assert torch.equal(a, client_activations(inplace, inputs))
    assert a.shape == (len(inputs), 4 * 14 * 14 + 5)


def test_constant_layer_has_no_active_neuron() -> None:
    model = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(-1.0)  # ReLU -> all zero -> min == max
    act = client_activations(model, torch.randn(2, 4))
    assert not act.any()


def test_training_flags_restored_and_hooks_removed(inputs: torch.Tensor) -> None:
    models = _clients({"2"})
    models["0"].train()
    models["1"].eval()
    models["3"].train()
    models["3"].bn.eval()  # mixed flags inside one model
    before = {cid: [m.training for m in mod.modules()] for cid, mod in models.items()}
    bn_stats = models["0"].bn.running_mean.clone()
    feddebug_localize(models, inputs, num_faulty=1)
    after = {cid: [m.training for m in mod.modules()] for cid, mod in models.items()}
    assert before == after
    assert torch.equal(models["0"].bn.running_mean, bn_stats)  # ran in eval mode
    for mod in models.values():
        for m in mod.modules():
            assert not m._forward_hooks


# ------------------------------------------------------------------------------ voting


def test_counting_drops_neurons_active_in_all_clients() -> None:
    # rows: clients 0..3; columns: neurons
    active = torch.tensor(
        [
            [1, 1, 1, 0, 1, 0],
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0, 1],
            [1, 0, 0, 1, 0, 0],
        ],
        dtype=torch.bool,
    )
    # neuron 0 is active everywhere: dropped (would add 1 to every group).
    # group without client 3 = {0,1,2}: neurons 1, 2 -> 2
    # group without client 0 = {1,2,3}: none; without 1, 2: none (neuron 4/5 single)
    counts = leave_one_out_counts(active)
    assert counts.tolist() == [0, 0, 0, 2]
    assert localize_from_activations(active, 1).tolist() == [3]
    # only clients 0 and 1 remain: neuron 0,1,2 active in both -> dropped;
    # group {1} (without 0): neurons active in 1 only: none; group {0}: neuron 4
    counts2 = leave_one_out_counts(active, torch.tensor([True, True, False, False]))
    assert counts2.tolist() == [0, 1, -1, -1]


def _oracle_counts(active: torch.Tensor, remaining: list[int]) -> dict[int, int]:
    """Straight from the definition: enumerate groups, drop all-active, count."""
    rem = active[remaining]
    keep = ~rem.all(dim=0)
    out = {}
    for group in itertools.combinations(remaining, len(remaining) - 1):
        left_out = next(j for j in remaining if j not in group)
        members = active[list(group)] if group else torch.ones(1, active.shape[1]).bool()
        out[left_out] = int((members.all(dim=0) & keep).sum())
    return out


def _oracle_localize(active: torch.Tensor, num_faulty: int) -> list[int]:
    remaining = list(range(active.shape[0]))
    flagged = []
    for _ in range(num_faulty):
        counts = _oracle_counts(active, remaining)
        best = max(counts.values())
        pick = min(j for j, c in counts.items() if c == best)
        flagged.append(pick)
        remaining.remove(pick)
    return flagged


def test_vectorised_voting_matches_group_enumeration() -> None:
    gen = torch.Generator().manual_seed(3)
    for k in (2, 3, 5, 7):
        for p in (0.3, 0.8, 0.95):
            active = torch.rand(4, k, 40, generator=gen) < p  # (R, K, N)
            got = localize_from_activations(active, k)
            for r in range(4):
                oc = _oracle_counts(active[r], list(range(k)))
                assert leave_one_out_counts(active[r]).tolist() == [oc[j] for j in range(k)]
                assert got[r].tolist() == _oracle_localize(active[r], k)


def test_ties_go_to_lowest_client_id(inputs: torch.Tensor) -> None:
    assert localize_from_activations(torch.zeros(3, 5, dtype=torch.bool), 2).tolist() == [0, 1]
    base = SmallCNN()
    models = {"10": base, "2": copy.deepcopy(base), "1": copy.deepcopy(base)}
    res = feddebug_localize(models, inputs[:2], num_faulty=2)
    assert res.flagged == [["1", "2"], ["1", "2"]]  # numeric id order, not "10" < "2"


def test_seeded_ties_are_random_and_reproducible() -> None:
    """With a generator, a k-way tie goes to each tied client about 1/k of the time."""
    active = torch.zeros(3000, 4, 6, dtype=torch.bool)
    active[:, :3, 0] = True  # a neuron active in every client but 3: client 3 is the odd one out
    first = localize_from_activations(active, 1, torch.Generator().manual_seed(0))
    again = localize_from_activations(active, 1, torch.Generator().manual_seed(0))
    assert torch.equal(first, again)
    share = torch.bincount(first[:, 0], minlength=4).float() / len(first)
    assert share[3] == 1.0  # a clear winner is not a tie
    tied = torch.zeros(3000, 4, 6, dtype=torch.bool)
    flagged = localize_from_activations(tied, 1, torch.Generator().manual_seed(1))[:, 0]
    share = torch.bincount(flagged, minlength=4).float() / len(flagged)
    assert torch.all((share - 0.25).abs() < 0.04), share


# ----------------------------------------------------------------------- localization


def test_flags_the_faulty_client(inputs: torch.Tensor) -> None:
    models = _clients({"3"})
    res = feddebug_localize(models, inputs, num_faulty=1, faulty_ids=["3"])
    assert isinstance(res, FedDebugResult)
    assert res.flagged == [["3"]] * len(inputs)
    assert res.scores.shape == (len(inputs),)
    assert np.all(res.scores == 1.0)
    assert res.seconds_per_input > 0


def test_flags_a_client_trained_on_flipped_labels() -> None:
    """Benign clients fine-tune the same start on true labels, the faulty one on flipped ones."""
    torch.manual_seed(1)
    shape = (3, 8, 8)  # small: this test trains five models on CPU
    x = torch.randn(96, *shape)
    y = (x[:, 0].mean(dim=(1, 2)) > 0).long() + 2 * (x[:, 1].mean(dim=(1, 2)) > 0).long()
    base = SmallCNN(side=8)

    def train(labels: torch.Tensor, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        m = copy.deepcopy(base)
        opt = torch.optim.Adam(m.parameters(), lr=0.01)
        m.train()
        for _ in range(12):
            perm = torch.randperm(len(x))[:32]
            opt.zero_grad()
            nn.functional.cross_entropy(m(x[perm]), labels[perm]).backward()
            opt.step()
        return m

    flipped = torch.zeros_like(y)  # every label -> 0, as the artifact's label_flip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is far faster on a busy machine
    try:
        models = {str(i): train(flipped if i == 4 else y, seed=i) for i in range(5)}
    finally:
        torch.set_num_threads(threads)
    res = feddebug_localize(models, generate_inputs(10, shape, MEAN, STD, seed=0),
                            num_faulty=1, faulty_ids={"4"})
    assert res.scores.mean() >= 0.8


def test_two_faulty_clients(inputs: torch.Tensor) -> None:
    models = _clients({"1", "4"})
    res = feddebug_localize(models, inputs, num_faulty=2, faulty_ids=["1", "4"])
    for f in res.flagged:
        assert len(f) == 2 and len(set(f)) == 2
        assert set(f) == {"1", "4"}
    assert np.all(res.scores == 1.0)


def test_scores_against_given_faulty_ids(inputs: torch.Tensor) -> None:
    models = _clients({"1", "4"})
    half = feddebug_localize(models, inputs, num_faulty=2, faulty_ids=["1", "0"])
    assert np.all(half.scores == 0.5)
    missing = feddebug_localize(models, inputs, num_faulty=2, faulty_ids=["1", "4", "9"])
    assert np.allclose(missing.scores, 2 / 3)  # a faulty id that is not a client is a miss
    none = feddebug_localize(models, inputs, num_faulty=1)
    assert none.scores.shape == (len(inputs),) and np.all(np.isnan(none.scores))
    zero = feddebug_localize(models, inputs, num_faulty=0, faulty_ids=["1"])
    assert zero.flagged == [[]] * len(inputs) and np.all(zero.scores == 0.0)
    with pytest.raises(ValueError):
        feddebug_localize(models, inputs, num_faulty=6)


def test_explicit_cpu_device(inputs: torch.Tensor) -> None:
    models = _clients({"0"})
    res = feddebug_localize(models, inputs, num_faulty=1, faulty_ids=["0"], device="cpu")
    assert np.all(res.scores == 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_matches_cpu(inputs: torch.Tensor) -> None:
    models = _clients({"2"})
    cpu = feddebug_localize(models, inputs, num_faulty=2, faulty_ids=["2"])
    gpu = feddebug_localize(models, inputs, num_faulty=2, faulty_ids=["2"], device="cuda")
    assert gpu.flagged == cpu.flagged
    assert all(p.device.type == "cpu" for m in models.values() for p in m.parameters())
    on_gpu = {c: m.cuda() for c, m in models.items()}
    res = feddebug_localize(on_gpu, inputs, num_faulty=1, faulty_ids=["2"])  # default device
    assert res.flagged == [["2"]] * len(inputs)
