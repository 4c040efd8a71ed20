"""Every quick-preset run on bundled data gets a partition that can fill its rounds.

Runs that differ only in clients per round share one partition, so a setting that drops a
client (a batch larger than its data) can break a run other than the one that wrote it; the
train step checks again, and this test finds such a run before a build does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracefl.config.presets import load_preset
from tracefl.data.store import load_split
from tracefl.steps.download import download_dataset
from tracefl.steps.partition import check_enough_clients, partition_for

CONFIG = Path(__file__).resolve().parents[1] / "config" / "experiments.yaml"
BUNDLED = ("mnist-5k", "digits")


@pytest.mark.parametrize("dataset", BUNDLED)
def test_every_quick_run_on_bundled_data_has_enough_clients(dataset, tmp_path):
    runs = [s for s in load_preset(CONFIG, "quick").runs.values() if s.dataset == dataset]
    assert runs, dataset
    _, labels = load_split(download_dataset(dataset, tmp_path / dataset), "train")
    partitions: dict[str, dict] = {}
    for spec in runs:
        if spec.partition_id not in partitions:
            partitions[spec.partition_id] = partition_for(spec, labels)
        check_enough_clients(spec, partitions[spec.partition_id])
