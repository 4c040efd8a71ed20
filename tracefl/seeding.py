"""Derive independent, reproducible seeds from the one seed in the config."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(*parts: object) -> int:
    """A 32-bit seed from ``parts`` (e.g. base seed, "train", round, client).

    Hashing instead of a sequential RNG makes every round's draws independent of how
    many rounds ran before in this process, so a resumed run draws what a fresh one does.
    """
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) in this process."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
