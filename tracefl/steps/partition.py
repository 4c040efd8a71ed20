"""The partition step: a run's Dirichlet non-IID split of its dataset's training labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracefl.config import RunSpec
from tracefl.data.partition import partition_labels, write_partition
from tracefl.data.store import load_split


def partition_run(spec: RunSpec, dataset_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Partition the stored train split of ``dataset_dir`` as ``spec`` says; writes ``out``."""
    _, labels = load_split(dataset_dir, "train")
    partition = partition_labels(
        labels,
        spec.num_clients,
        spec.alpha,
        spec.seed,
        min_label_examples=spec.min_label_examples,
        max_client_samples=spec.max_client_samples,
        min_client_samples=spec.batch_size,
    )
    write_partition(out, partition)
    return partition
