"""What a client trains on: its partition's examples, preprocessed, with faults applied."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from tracefl.data.registry import get_dataset_spec
from tracefl.data.store import load_split
from tracefl.data.transforms import images_to_tensor
from tracefl.partition import load_partition


@lru_cache(maxsize=4)
def _train_split(dataset_dir: str) -> tuple[np.ndarray, np.ndarray]:
    return load_split(dataset_dir, "train")


@lru_cache(maxsize=4)
def _partition(path: str) -> dict:
    return load_partition(path)


def apply_label_flip(y: torch.Tensor, flip_map: dict[int, int]) -> torch.Tensor:
    """Remap labels of a faulty client (labels not in the map stay as they are)."""
    flipped = y.clone()
    for src, dst in flip_map.items():
        flipped[y == src] = dst
    return flipped


def client_tensors(
    dataset: str,
    dataset_dir: str | Path,
    partition_path: str | Path,
    client_id: str,
    flip_map: dict[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) tensors of one client, with its label flip applied when it is faulty."""
    x_all, y_all = _train_split(str(dataset_dir))
    indices = np.asarray(_partition(str(partition_path))["clients"][client_id]["indices"], dtype=np.int64)
    x = images_to_tensor(x_all[indices], get_dataset_spec(dataset))
    y = torch.as_tensor(y_all[indices], dtype=torch.long)
    if flip_map:
        y = apply_label_flip(y, flip_map)
    return x, y


def server_tensors(dataset: str, dataset_dir: str | Path, max_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The server's test set: the first ``max_samples`` test examples, unshuffled."""
    x_all, y_all = load_split(str(dataset_dir), "test")
    x = images_to_tensor(x_all[:max_samples], get_dataset_spec(dataset))
    return x, torch.as_tensor(y_all[:max_samples], dtype=torch.long)
