"""What a client trains on: its partition's examples, preprocessed, with faults applied.

Images become normalised tensors; texts become the model's token tensors (its tokenizer,
truncated and padded to ``max_length``), so the loops downstream see one input type.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from tracefl.data.registry import DatasetSpec, get_dataset_spec
from tracefl.data.scenarios import client_examples
from tracefl.data.store import load_split
from tracefl.data.transforms import images_to_tensor
from tracefl.data.partition import load_partition
from tracefl.models.catalog import DEFAULT_MAX_LENGTH
from tracefl.models.inputs import Inputs


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


def _spec(dataset: str | DatasetSpec) -> DatasetSpec:
    return dataset if isinstance(dataset, DatasetSpec) else get_dataset_spec(dataset)


def model_inputs(
    x: np.ndarray, dataset: str | DatasetSpec, model: str | None = None, max_length: int = DEFAULT_MAX_LENGTH
) -> Inputs:
    """Stored examples -> what ``model`` takes: image tensors, or token tensors for text."""
    spec = _spec(dataset)
    if spec.kind == "image":
        return images_to_tensor(x, spec)
    if model is None:
        raise ValueError(f"dataset '{spec.name}' is text: its inputs need the model's tokenizer (pass model=)")
    from tracefl.models.text import encode_texts

    return encode_texts(model, x, max_length)


def client_tensors(
    dataset: str | DatasetSpec,
    dataset_dir: str | Path,
    partition_path: str | Path,
    client_id: str,
    flip_map: dict[int, int] | None = None,
    *,
    model: str | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    random_labels_seed: int | None = None,
) -> tuple[Inputs, torch.Tensor]:
    """(x, y) of one client as it trains: its planted scenario applied (a style, a backdoor
    trigger), and its label flip when it is faulty (or, with ``random_labels_seed``, every
    label replaced by a random class: :mod:`tracefl.data.faults`).

    ``dataset`` may be the registered name or its :class:`DatasetSpec` (a spec needs no
    registry lookup, so a user's local dataset works in every simulation worker).
    """
    x_all, y_all = _train_split(str(dataset_dir))
    partition = _partition(str(partition_path))
    indices = np.asarray(partition["clients"][client_id]["indices"], dtype=np.int64)
    x_raw, y_raw = client_examples(partition, client_id, indices, x_all[indices], y_all[indices], _spec(dataset).kind)
    x = model_inputs(x_raw, dataset, model, max_length)
    y = torch.as_tensor(y_raw, dtype=torch.long)
    if flip_map:
        y = apply_label_flip(y, flip_map)
    if random_labels_seed is not None:
        from tracefl.data.faults import random_labels

        y = torch.as_tensor(random_labels(len(y), _spec(dataset).num_classes, random_labels_seed, client_id),
                            dtype=torch.long)
    return x, y


def server_tensors(
    dataset: str | DatasetSpec,
    dataset_dir: str | Path,
    max_samples: int,
    *,
    model: str | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> tuple[Inputs, torch.Tensor]:
    """The server's test set: the first ``max_samples`` test examples, unshuffled."""
    x_all, y_all = load_split(str(dataset_dir), "test")
    x = model_inputs(x_all[:max_samples], dataset, model, max_length)
    return x, torch.as_tensor(y_all[:max_samples], dtype=torch.long)
