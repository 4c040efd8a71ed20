"""What a faulty client does to its training labels (run setting ``faulty_labels``).

``flip``: labels are remapped by the run's ``label_flip`` (Table I's fault). ``random``: every
label is replaced by a uniformly random class, drawn once per client from the run's seed, so
the client's labels carry no information (a noisy-label client). No torch here: the config reads it.
"""

from __future__ import annotations

import numpy as np

from tracefl.seeding import derive_seed

FLIP = "flip"
RANDOM_LABELS = "random"
FAULTY_LABELS = (FLIP, RANDOM_LABELS)


def random_labels(n: int, num_classes: int, seed: int, client_id: str) -> np.ndarray:
    """``n`` uniformly random classes for a client: the same for the same (seed, client) in every round."""
    return np.random.default_rng(derive_seed(seed, "random-labels", client_id)).integers(0, num_classes, size=n)
