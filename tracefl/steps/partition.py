"""The partition step: a run's non-IID split (Dirichlet, or neighbouring labels) of its dataset's training labels,
with the run's planted scenario (tracefl.data.scenarios) where it has one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tracefl.config import ConfigError, RunSpec
from tracefl.config.run_spec import check_setting
from tracefl.data import scenarios
from tracefl.data.partition import partition_labels, write_partition
from tracefl.data.store import check_store, load_split


PARTITION_SETTINGS = ("num_clients", "alpha", "seed", "min_label_examples", "max_client_samples", "partition")


def check_partition_settings(settings: dict[str, Any]) -> None:
    """The settings that shape a partition against their declared bounds (one line naming the key)."""
    for key in PARTITION_SETTINGS:
        value = settings[key]
        check_setting(key, value.item() if isinstance(value, np.generic) else value, where="partition")


def partition_for(spec: RunSpec, labels: np.ndarray) -> dict[str, Any]:
    """The partition of ``labels`` that ``spec`` trains on (a pure function of both)."""
    check_partition_settings({key: getattr(spec, key) for key in PARTITION_SETTINGS})

    def split(subset: np.ndarray) -> dict[str, Any]:
        return partition_labels(
            subset,
            spec.num_clients,
            spec.alpha,
            spec.seed,
            min_label_examples=spec.min_label_examples,
            max_client_samples=spec.max_client_samples,
            min_client_samples=spec.batch_size,
            kind=spec.partition,
        )

    labels = np.asarray(labels)
    if spec.scenario == scenarios.STYLE:
        # The other labels are split as usual; the style label goes to the style clients only.
        rest = np.flatnonzero(labels != scenarios.STYLE_LABEL)
        base = split(labels[rest])
        for client in base["clients"].values():
            client["indices"] = [int(i) for i in rest[np.asarray(client["indices"], dtype=np.int64)]]
        base["num_examples"] = int(len(labels))
        return scenarios.plant_style(base, labels, spec.seed, spec.max_client_samples)
    partition = split(labels)
    if spec.scenario == scenarios.BACKDOOR:
        return scenarios.plant_backdoor(partition, labels)
    return partition


def partition_run(spec: RunSpec, dataset_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Partition the stored train split of ``dataset_dir`` as ``spec`` says; writes ``out``."""
    check_store(dataset_dir, spec.data.name, spec.data.kind, spec.num_classes)
    _, labels = load_split(dataset_dir, "train")
    partition = partition_for(spec, labels)
    check_enough_clients(spec, partition)
    write_partition(out, partition)
    return partition


def check_enough_clients(spec: RunSpec, partition: dict[str, Any]) -> None:
    """Refuse (before the file is written) a partition with fewer clients than a round samples:
    the clean-up dropped them, and the settings that drop clients are named."""
    kept = len(partition["clients"])
    if kept < spec.clients_per_round:
        raise ConfigError(
            f"run {spec.run_id}: {kept} of {spec.num_clients} clients keep any data after the partition's "
            f"clean-up, fewer than clients_per_round = {spec.clients_per_round} (min_label_examples = "
            f"{spec.min_label_examples} drops a client's labels with fewer examples; a client left with fewer "
            f"than batch_size = {spec.batch_size} examples is dropped); lower min_label_examples or batch_size, "
            "or raise alpha or max_client_samples"
        )
