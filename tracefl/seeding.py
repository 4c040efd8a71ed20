"""Derive independent, reproducible seeds from the one seed in the config."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


def derive_seed(*parts: object) -> int:
    """A 32-bit seed from ``parts`` (e.g. base seed, "train", round, client).

    Hashing instead of a sequential RNG makes every round's draws independent of how
    many rounds ran before in this process, so a resumed run draws what a fresh one does.
    """
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


@contextmanager
def numpy_legacy_seed(seed: int) -> Iterator[None]:
    """NumPy's legacy global generator seeded with ``seed`` inside the block only.

    For library code that draws from ``np.random`` with no way to pass a generator
    (Flower's DP noise, ``flwr.supercore.differential_privacy.add_gaussian_noise_inplace``):
    its draws become reproducible, and the global state is restored on the way out, so
    nothing else in the process sees the seed.
    """
    state = np.random.get_state()
    np.random.seed(seed % (2**32))
    try:
        yield
    finally:
        np.random.set_state(state)


@contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """torch's global generators (CPU and every visible CUDA device) seeded with ``seed`` inside
    the block, and restored afterwards: code that draws from them (weight init, dropout) is
    reproducible without changing what the rest of the process sees."""
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
