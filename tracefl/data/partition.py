"""Non-IID client partitions (docs/algorithm.md section 5), stored as JSON.

flwr-datasets' DirichletPartitioner splits the training labels across clients (or, for
the paper's Figure 1, its PathologicalPartitioner gives client i the labels i, i+1, i+2
mod the number of classes); we then apply the artifact's per-client clean-up (rare labels dropped, size capped,
tiny clients dropped). The JSON records which examples and label counts each client
has, so training and provenance read the same assignment without recomputing it.

Behaviour of DirichletPartitioner (flwr-datasets 0.6.1) this relies on:
- with ``min_partition_size=0`` its resampling loop always accepts the first draw, so
  it never hits its 10-retry ValueError; partitions can be empty (we drop them later);
- it raises if there are more partitions than rows;
- one ``numpy.random.default_rng(seed)`` drives both the Dirichlet draws and the
  shuffles, so the result is a pure function of (labels, num_clients, alpha, seed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from tracefl.atomic import write_json
from tracefl.errors import InputError, reading

#: The partitions a run may ask for (the run setting ``partition``).
DIRICHLET = "dirichlet"
NEIGHBOURING_LABELS = "neighbouring-labels"
PARTITIONS = (DIRICHLET, NEIGHBOURING_LABELS)
#: Labels each client holds in the neighbouring-labels partition (the paper's Figure 1: three).
LABELS_PER_CLIENT = 3


def _require(key: str, value: Any, ok: bool, allowed: str) -> None:
    """One line naming the argument, its value and what is allowed.

    The partition step checks a run's settings against their declared bounds
    (tracefl.config.run_spec) first; this keeps a direct call from computing nonsense."""
    if not ok:
        raise ValueError(f"partition.{key} = {value!r} is not allowed; allowed: {allowed}")


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _validate(labels: Any, num_clients: Any, alpha: Any, seed: Any) -> np.ndarray:
    """The arguments, then the labels."""
    num_clients, alpha, seed = (v.item() if isinstance(v, np.generic) else v for v in (num_clients, alpha, seed))
    _require("num_clients", num_clients, _is_int(num_clients, 1), "an integer >= 1")
    _require("alpha", alpha, isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
             and math.isfinite(alpha) and alpha > 0, "a number > 0")
    _require("seed", seed, _is_int(seed, 0), "an integer >= 0")
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a 1-D integer array (key: labels), got {labels.dtype} {labels.shape}"
        )
    if num_clients > len(labels):
        raise ValueError(
            f"num_clients ({num_clients}) must not exceed the number of examples "
            f"({len(labels)}) (key: num_clients)"
        )
    return labels.astype(np.int64, copy=False)


def _dirichlet(labels: np.ndarray, num_clients: int, alpha: float, seed: int) -> list[np.ndarray]:
    """Each client's example indices, in the partitioner's (shuffled) order."""
    import datasets
    from flwr_datasets.partitioner import DirichletPartitioner

    partitioner = DirichletPartitioner(
        num_partitions=num_clients,
        partition_by="label",
        alpha=float(alpha),
        min_partition_size=0,
        self_balancing=True,
        shuffle=True,
        seed=seed,
    )
    partitioner.dataset = datasets.Dataset.from_dict(
        {"label": labels, "idx": np.arange(len(labels), dtype=np.int64)}
    )
    parts = [
        np.asarray(partitioner.load_partition(cid).with_format("numpy")[:]["idx"], dtype=np.int64)
        for cid in range(num_clients)
    ]
    # Self-balancing renormalises Dirichlet shares; with extreme alpha the shares can
    # underflow to zero and the split degenerates. Refuse that instead of losing data.
    assigned = np.concatenate(parts)
    if len(assigned) != len(labels) or len(np.unique(assigned)) != len(labels):
        raise ValueError(
            f"Dirichlet partitioning with alpha={alpha} did not assign every example once; "
            "use a larger alpha (key: alpha)"
        )
    return parts


def neighbouring_labels(num_labels: int, client: int, per_client: int = LABELS_PER_CLIENT) -> list[int]:
    """The labels client ``client`` holds in the neighbouring-labels partition: ``client``,
    ``client + 1``, ... mod ``num_labels`` (the paper's Figure 1)."""
    return [(client + k) % num_labels for k in range(per_client)]


def _neighbouring(labels: np.ndarray, num_clients: int, seed: int) -> list[np.ndarray]:
    """Each client's example indices: flwr-datasets' PathologicalPartitioner in its
    ``deterministic`` mode, which gives partition i the sorted labels i, i+1, i+2 (mod their
    number) and splits each label's examples evenly among the partitions holding it.
    (Its ``first-deterministic`` mode draws the second and third labels at random.)"""
    import datasets
    from flwr_datasets.partitioner import PathologicalPartitioner

    present = np.unique(labels)
    if len(present) < LABELS_PER_CLIENT:
        raise ValueError(f"the neighbouring-labels partition needs at least {LABELS_PER_CLIENT} labels in the "
                         f"train split, found {len(present)} (key: partition)")
    partitioner = PathologicalPartitioner(
        num_partitions=num_clients,
        partition_by="label",
        num_classes_per_partition=LABELS_PER_CLIENT,
        class_assignment_mode="deterministic",
        shuffle=True,
        seed=seed,
    )
    partitioner.dataset = datasets.Dataset.from_dict(
        {"label": labels, "idx": np.arange(len(labels), dtype=np.int64)}
    )
    parts = [
        np.asarray(partitioner.load_partition(cid).with_format("numpy")[:]["idx"], dtype=np.int64)
        for cid in range(num_clients)
    ]
    for cid, indices in enumerate(parts):  # the layout we document, checked rather than assumed
        expected = {int(present[k]) for k in neighbouring_labels(len(present), cid)}
        if set(np.unique(labels[indices]).tolist()) != expected:
            raise AssertionError(f"PathologicalPartitioner gave client {cid} labels "
                                 f"{sorted(np.unique(labels[indices]).tolist())}, expected {sorted(expected)}")
    return parts


def partition_labels(
    labels: np.ndarray,
    num_clients: int,
    alpha: float,
    seed: int,
    *,
    min_label_examples: int = 10,
    max_client_samples: int = 2048,
    min_client_samples: int = 32,
    kind: str = DIRICHLET,
) -> dict[str, Any]:
    """Split example indices across clients and clean them up.

    ``kind``: ``dirichlet`` (by label, concentration ``alpha``) or ``neighbouring-labels``
    (client i holds labels i, i+1, i+2 mod their number; ``alpha`` unused).
    Per client: labels with fewer than ``min_label_examples`` examples are removed,
    then the first ``max_client_samples`` examples (partition order) are kept, and a
    client left with fewer than ``min_client_samples`` (one batch) is dropped.
    """
    labels = _validate(labels, num_clients, alpha, seed)
    _require("kind", kind, kind in PARTITIONS, ", ".join(PARTITIONS))
    min_label_examples, max_client_samples, min_client_samples = (
        v.item() if isinstance(v, np.generic) else v for v in (min_label_examples, max_client_samples, min_client_samples)
    )
    _require("min_label_examples", min_label_examples, _is_int(min_label_examples, 0), "an integer >= 0")
    _require("max_client_samples", max_client_samples, _is_int(max_client_samples, 1), "an integer >= 1")
    if isinstance(min_client_samples, bool) or not isinstance(min_client_samples, int) or min_client_samples < 0:
        raise ValueError(f"min_client_samples must be an integer >= 0, got {min_client_samples!r}")
    if min_client_samples > max_client_samples:
        raise ValueError(
            f"min_client_samples ({min_client_samples}) must not exceed max_client_samples "
            f"({max_client_samples}) (key: min_client_samples)"
        )
    parts = _dirichlet(labels, num_clients, alpha, seed) if kind == DIRICHLET else _neighbouring(labels, num_clients, seed)
    clients: dict[str, Any] = {}
    dropped: list[str] = []
    for cid, indices in enumerate(parts):
        own = labels[indices]
        values, counts = np.unique(own, return_counts=True)
        keep_labels = values[counts >= min_label_examples]
        kept = indices[np.isin(own, keep_labels)][:max_client_samples]
        if len(kept) < min_client_samples:
            dropped.append(str(cid))
            continue
        values, counts = np.unique(labels[kept], return_counts=True)
        clients[str(cid)] = {
            "indices": kept.tolist(),
            "label_counts": {str(int(v)): int(c) for v, c in zip(values, counts)},
            "num_examples": int(len(kept)),
        }
    partition = {
        "num_clients": int(num_clients),
        "alpha": float(alpha),
        "seed": int(seed),
        "min_label_examples": int(min_label_examples),
        "max_client_samples": int(max_client_samples),
        "min_client_samples": int(min_client_samples),
        "num_examples": int(len(labels)),
        "clients": clients,
        "dropped_clients": dropped,
    }
    if kind != DIRICHLET:  # Dirichlet files keep their old contents
        partition["kind"] = kind
    return partition


def write_partition(path: str | Path, partition: dict[str, Any]) -> Path:
    """Write JSON atomically (temp file + rename): readers never see half a file."""
    return write_json(partition, path, sort_keys=True)


def load_partition(path: str | Path) -> dict[str, Any]:
    """Read a partition written by `write_partition`, checking its basic shape."""
    path = Path(path)
    fix = "delete it and run the partition step again"
    with reading(path, fix):
        partition = json.loads(path.read_text())
    missing = [k for k in ("num_clients", "alpha", "seed", "clients") if k not in partition]
    if missing:
        raise InputError(f"{path}: not a partition file (missing {', '.join(missing)}); {fix}")
    check_partition_indices(path, partition, fix)
    return partition


def check_partition_indices(path: Path, partition: dict[str, Any], fix: str) -> None:
    """Each client's example indices: integers, none negative, none twice, all below the split's size."""
    size = partition.get("num_examples")
    clients = partition["clients"]
    if not isinstance(clients, dict):
        raise InputError(f"{path}: 'clients' is not a mapping of client id to its examples; {fix}")
    for cid, client in clients.items():
        indices = client.get("indices") if isinstance(client, dict) else None
        if not isinstance(indices, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
            raise InputError(f"{path}: client {cid}'s indices are not a list of integers; {fix}")
        if not indices:
            raise InputError(f"{path}: client {cid} has no examples; {fix}")
        low, high = min(indices), max(indices)
        if low < 0 or (isinstance(size, int) and high >= size):
            raise InputError(f"{path}: client {cid} has index {low if low < 0 else high}, outside 0..{size - 1 if isinstance(size, int) else ''}; {fix}")
        if len(set(indices)) != len(indices):
            raise InputError(f"{path}: client {cid} lists an example twice; {fix}")
