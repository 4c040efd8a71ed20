"""Dirichlet client partitions: determinism, clean-up rules, validation, JSON I/O."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tracefl.errors import InputError
from tracefl.data.partition import load_partition, partition_labels, write_partition


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 10, 3000)


def _raw(labels: np.ndarray, clients: int, alpha: float, seed: int) -> dict:
    """The partition with every clean-up rule switched off."""
    return partition_labels(
        labels, clients, alpha, seed, min_label_examples=0, max_client_samples=10**9,
        min_client_samples=0,
    )


def test_same_seed_same_json_other_seed_differs(labels):
    a = json.dumps(partition_labels(labels, 10, 0.3, 42), sort_keys=True)
    b = json.dumps(partition_labels(labels, 10, 0.3, 42), sort_keys=True)
    c = json.dumps(partition_labels(labels, 10, 0.3, 43), sort_keys=True)
    assert a == b
    assert a != c


def test_structure_counts_and_disjointness(labels):
    part = partition_labels(labels, 12, 0.5, 42)
    assert part["num_clients"] == 12 and part["alpha"] == 0.5 and part["seed"] == 42
    assert set(part["clients"]) | set(part["dropped_clients"]) == {str(i) for i in range(12)}
    assert not set(part["clients"]) & set(part["dropped_clients"])
    seen: set[int] = set()
    for client in part["clients"].values():
        idx = client["indices"]
        assert client["num_examples"] == len(idx)
        assert 32 <= len(idx) <= 2048
        assert not seen & set(idx)
        seen |= set(idx)
        values, counts = np.unique(labels[idx], return_counts=True)
        assert client["label_counts"] == {str(v): int(c) for v, c in zip(values, counts)}


def test_raw_partition_covers_every_example_once(labels):
    raw = _raw(labels, 20, 0.1, 1)
    everything = np.concatenate([c["indices"] for c in raw["clients"].values()])
    assert sorted(everything.tolist()) == list(range(len(labels)))


def test_rare_labels_dropped_then_cap_keeps_partition_order(labels):
    raw = _raw(labels, 8, 0.3, 3)
    cap = 100
    part = partition_labels(
        labels, 8, 0.3, 3, min_label_examples=10, max_client_samples=cap, min_client_samples=0
    )
    capped_somewhere = False
    for cid, client in raw["clients"].items():
        keep = {int(k) for k, n in client["label_counts"].items() if n >= 10}
        expected = [i for i in client["indices"] if int(labels[i]) in keep][:cap]
        assert part["clients"][cid]["indices"] == expected
        for label in part["clients"][cid]["label_counts"]:
            assert client["label_counts"][label] >= 10
        capped_somewhere |= len(expected) == cap
    assert capped_somewhere


def test_small_clients_are_dropped(labels):
    raw = _raw(labels, 30, 0.1, 5)
    sizes = {cid: c["num_examples"] for cid, c in raw["clients"].items()}
    threshold = sorted(sizes.values())[len(sizes) // 2]
    part = partition_labels(
        labels, 30, 0.1, 5, min_label_examples=0, max_client_samples=10**9,
        min_client_samples=threshold,
    )
    expected_dropped = sorted((cid for cid, n in sizes.items() if n < threshold), key=int)
    assert part["dropped_clients"] == expected_dropped and expected_dropped
    assert all(c["num_examples"] >= threshold for c in part["clients"].values())


@pytest.mark.parametrize("alpha", [0, -1.0, float("nan"), float("inf"), "0.3", None, True])
def test_bad_alpha_raises(labels, alpha):
    with pytest.raises(ValueError, match="alpha"):
        partition_labels(labels, 10, alpha, 42)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"num_clients": 0}, "num_clients"),
        ({"num_clients": 2.5}, "num_clients"),
        ({"num_clients": 5000}, "num_clients"),
        ({"seed": -1}, "seed"),
        ({"max_client_samples": 0}, "max_client_samples"),
        ({"min_client_samples": 4096}, "min_client_samples"),
    ],
)
def test_bad_settings_raise(labels, kwargs, key):
    args = {"num_clients": 10, "alpha": 0.3, "seed": 42, **kwargs}
    with pytest.raises(ValueError, match=key):
        partition_labels(labels, **args)


def test_bad_labels_raise():
    with pytest.raises(ValueError, match="key: labels"):
        partition_labels(np.array([0.5, 1.5]), 1, 0.3, 42)


def test_write_and_load_roundtrip(tmp_path, labels):
    part = partition_labels(labels, 5, 1.0, 42)
    path = write_partition(tmp_path / "p" / "part.json", part)
    assert load_partition(path) == part
    assert [p.name for p in path.parent.iterdir()] == ["part.json"]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputError, match="not a partition"):
        load_partition(tmp_path / "bad.json")


def test_a_thousand_clients_the_paper_table3_maximum_split_every_example_once():
    """The smoke scale trains at most 200 clients; the 1000-client split itself is checked here."""
    labels = np.arange(20_000) % 14  # DBpedia-14's classes
    part = partition_labels(labels, 1000, 0.3, 42, min_label_examples=2, max_client_samples=64, min_client_samples=8)
    assert sorted(map(int, [*part["clients"], *part["dropped_clients"]])) == list(range(1000))
    kept = [i for c in part["clients"].values() for i in c["indices"]]
    assert len(kept) == len(set(kept)) and len(part["clients"]) > 800
    assert all(8 <= c["num_examples"] <= 64 for c in part["clients"].values())


def test_neighbouring_labels_give_client_i_exactly_labels_i_to_i_plus_2():
    """The paper's Figure 1 partition: client i holds labels i, i+1, i+2 (mod the labels), each
    label's examples split evenly among its three holders, every example once."""
    from tracefl.data.partition import neighbouring_labels

    rng = np.random.default_rng(3)
    for num_labels in (9, 10):  # PathMNIST's 9 (client 9 wraps to 0, 1, 2) and MNIST's 10
        labels = rng.integers(0, num_labels, 3000)
        part = partition_labels(labels, 10, 0.3, 42, min_label_examples=0, max_client_samples=3000,
                                min_client_samples=0, kind="neighbouring-labels")
        assert part["kind"] == "neighbouring-labels" and not part["dropped_clients"]
        for cid, client in part["clients"].items():
            expected = {(int(cid) + k) % num_labels for k in range(3)}
            assert set(map(int, client["label_counts"])) == expected == set(neighbouring_labels(num_labels, int(cid)))
            assert set(labels[client["indices"]].tolist()) == expected
        indices = np.concatenate([c["indices"] for c in part["clients"].values()])
        held = np.isin(labels, sorted({l for c in range(10) for l in neighbouring_labels(num_labels, c)}))
        assert len(indices) == len(set(indices.tolist())) == int(held.sum())
        for label in range(num_labels):  # split evenly (to one example) among the clients holding it
            shares = [c["label_counts"][str(label)] for c in part["clients"].values() if str(label) in c["label_counts"]]
            assert max(shares) - min(shares) <= 1
    again = partition_labels(labels, 10, 0.3, 42, kind="neighbouring-labels")
    assert again == partition_labels(labels, 10, 0.3, 42, kind="neighbouring-labels")
    assert partition_labels(labels, 10, 0.3, 43, kind="neighbouring-labels") != again  # the seed shuffles


def test_an_unknown_partition_kind_is_refused(labels):
    with pytest.raises(ValueError, match="partition.kind = 'stripes' is not allowed; allowed: dirichlet, neighbouring-labels"):
        partition_labels(labels, 4, 0.5, 0, kind="stripes")
