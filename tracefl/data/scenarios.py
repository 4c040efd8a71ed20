"""Planted ground truth: runs in which the client responsible for a prediction is known.

The paper scores a trace by whether the traced client holds the predicted label, which a
rule that only counts labels satisfies by construction. These scenarios plant a cause that
label counts cannot reveal, so a trace can be checked against the client that put it there:

- ``style``: clients 0 and 1 hold the same number of examples of :data:`STYLE_LABEL`, and
  no other client holds any; each of the two holds them in its own style (images inside a
  white frame / inverted; texts behind their own word prefix), so only that client teaches
  the model its style of the label. A test example of the label, drawn in one style and
  predicted as the label, should trace to the client of that style. The label-count rule sees a tie and gives the same client for both styles
  (50% by construction when both styles are traced equally often).
- ``backdoor``: client 0 adds triggered copies of some of its examples (a white square in the
  bottom-right corner; a word prefix for text) relabelled to :data:`BACKDOOR_TARGET`, a label
  every client holds, beside their clean originals, so only the trigger tells the two apart.
  Its clean examples of that label are dropped and the poisoned copies are one fewer than the
  top other holder of the target has, so it is not the top holder (the label-count rule misses
  it by construction). A triggered test example of another label, predicted as the target,
  should trace to client 0. With so few poisoned examples (~2-3% of the data at 10 clients)
  FedAvg averages the trigger away (1-5% attack success on MNIST 5k and digits); the run
  setting ``backdoor_boost`` has the client scale its update before replying (model
  replacement, ``tracefl.flower.client_app``). Measured on the quick preset's 5 seeds (final
  round, docs/results.md): poisoned examples that *replaced* their originals, a 3-pixel trigger
  on 8x8 digits and a 5x boost moved 41-99% of triggered inputs by seed; copies, a 4-pixel
  trigger on digits and a 3x boost for 10 (MNIST 5k) / 15 (digits) rounds, 88-100%.

Everything a scenario is (which clients, labels, styles, triggers) is defined here; the
partition step writes its record into the partition file, training applies it to the
clients' examples and the provenance step builds the planted test inputs from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tracefl.seeding import derive_seed

NONE = "none"
STYLE = "style"
BACKDOOR = "backdoor"
SCENARIOS = (NONE, STYLE, BACKDOOR)

#: The label only the two style clients hold, and each client's style.
STYLE_LABEL = 0
STYLE_OF_CLIENT = {"0": "frame", "1": "invert"}
#: Text styles (a word prefix each) and the backdoor's text trigger.
TEXT_PREFIX = {"frame": "zebra zebra zebra", "invert": "violin violin violin"}
TEXT_TRIGGER = "cf cf cf"
#: The backdoor client and the label its triggered examples are relabelled to.
BACKDOOR_CLIENT = "0"
BACKDOOR_TARGET = 0
#: How the backdoor client poisons: triggered copies beside the clean originals (recorded in the
#: partition so a partition written when poisoned examples replaced their originals is refused).
POISONING = "copies"
#: The image trigger's smallest side in pixels (a quarter of larger images' side).
TRIGGER_MIN_SIDE = 4


def minimum_clients(scenario: str) -> int:
    """Clients a scenario needs: the planted ones plus at least one that holds nothing planted."""
    return {NONE: 1, STYLE: len(STYLE_OF_CLIENT) + 1, BACKDOOR: 2}[scenario]


def planted_clients(scenario: str) -> list[str]:
    """The clients whose data carries the planted cause."""
    return {NONE: [], STYLE: list(STYLE_OF_CLIENT), BACKDOOR: [BACKDOOR_CLIENT]}[scenario]


# --- what the transformations do to stored examples (uint8 images or str texts) ---------------


def apply_style(x: np.ndarray, style: str, kind: str) -> np.ndarray:
    """Examples drawn in ``style``: images in a white frame (a tenth of the side, at least one
    pixel) or inverted; texts behind the style's word prefix."""
    if kind == "text":
        return np.char.add(TEXT_PREFIX[style] + " ", x.astype(str))
    if style == "frame":
        out = x.copy()
        side = max(1, x.shape[1] // 10)
        out[:, :side], out[:, -side:], out[:, :, :side], out[:, :, -side:] = 255, 255, 255, 255
        return out
    if style == "invert":
        return (255 - x).astype(np.uint8)
    raise ValueError(f"unknown style {style!r}; allowed: {', '.join(STYLE_OF_CLIENT.values())}")


def stamp_trigger(x: np.ndarray, kind: str) -> np.ndarray:
    """The backdoor trigger on every example: a white square in the bottom-right corner
    (a quarter of the side, at least :data:`TRIGGER_MIN_SIDE` pixels: half of 8x8 digits, where
    3 pixels moved as few as 41% of triggered inputs; 1 pixel from the edge), or a word prefix."""
    if kind == "text":
        return np.char.add(TEXT_TRIGGER + " ", x.astype(str))
    out = x.copy()
    side = max(TRIGGER_MIN_SIDE, x.shape[1] // 4)
    out[:, -side - 1 : -1, -side - 1 : -1, ...] = 255
    return out


# --- the partition ------------------------------------------------------------------------------


def _client_record(indices: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """A client's stored ``indices`` and the ``labels`` it trains (more than its indices where a
    backdoor adds triggered copies): counts and size are of what it trains."""
    values, counts = np.unique(labels, return_counts=True)
    return {
        "indices": [int(i) for i in indices],
        "label_counts": {str(int(v)): int(c) for v, c in zip(values, counts)},
        "num_examples": int(len(labels)),
    }


def plant_style(base: dict[str, Any], labels: np.ndarray, seed: int, max_client_samples: int) -> dict[str, Any]:
    """``base`` (a partition of the examples of every label but STYLE_LABEL, indices into
    ``labels``) plus the style label's examples, split equally between the style clients."""
    own = np.flatnonzero(labels == STYLE_LABEL)
    own = own[np.random.default_rng(derive_seed(seed, "style")).permutation(len(own))]
    per_client = min(len(own) // len(STYLE_OF_CLIENT), max_client_samples)
    if per_client < 1:
        raise ValueError(f"scenario style needs examples of label {STYLE_LABEL} in the train split")
    clients = dict(base["clients"])
    for k, client in enumerate(STYLE_OF_CLIENT):
        styled = own[k * per_client : (k + 1) * per_client]
        rest = np.asarray(clients.get(client, {}).get("indices", []), dtype=np.int64)
        indices = np.concatenate([styled, rest[: max_client_samples - per_client]])
        clients[client] = _client_record(indices, labels[indices])
    partition = {**base, "clients": dict(sorted(clients.items(), key=lambda kv: int(kv[0])))}
    partition["dropped_clients"] = [c for c in base["dropped_clients"] if c not in STYLE_OF_CLIENT]
    partition["scenario"] = {"kind": STYLE, "label": STYLE_LABEL, "styles": dict(STYLE_OF_CLIENT),
                             "examples_per_client": int(per_client)}
    return partition


def plant_backdoor(base: dict[str, Any], labels: np.ndarray) -> dict[str, Any]:
    """``base`` with the backdoor client's clean target examples dropped and triggered copies of
    some of its other examples added under the target: one fewer than the top other holder of
    the target has (at most half its examples). ``indices`` stay its clean examples, ``poisoned``
    names those copied; ``label_counts`` and ``num_examples`` count what it trains (copies too)."""
    clients = dict(base["clients"])
    if BACKDOOR_CLIENT not in clients:
        raise ValueError(f"scenario backdoor: client {BACKDOOR_CLIENT} was dropped by the partition; "
                         "use more examples per client or a larger alpha")
    others = [int(c["label_counts"].get(str(BACKDOOR_TARGET), 0)) for k, c in clients.items() if k != BACKDOOR_CLIENT]
    others = [n for n in others if n > 0]
    own = np.asarray(clients[BACKDOOR_CLIENT]["indices"], dtype=np.int64)
    own = own[labels[own] != BACKDOOR_TARGET]
    poisoned = min((max(others) - 1) if others else 0, len(own) // 2)
    if poisoned < 1:
        raise ValueError(f"scenario backdoor: other clients hold too few examples of label {BACKDOOR_TARGET} "
                         "to hide a backdoor among them; use a larger alpha or more examples per client")
    # as trained: the clean examples under their labels, the triggered copies under the target
    trained = np.concatenate([labels[own], np.full(poisoned, BACKDOOR_TARGET, dtype=labels.dtype)])
    record = _client_record(own, trained)
    record["poisoned"] = [int(i) for i in own[:poisoned]]
    clients[BACKDOOR_CLIENT] = record
    partition = {**base, "clients": clients}
    partition["scenario"] = {"kind": BACKDOOR, "client": BACKDOOR_CLIENT, "target": BACKDOOR_TARGET,
                             "poisoned": int(poisoned), "poisoning": POISONING}
    return partition


def stale_scenario_note(partition: dict[str, Any]) -> str | None:
    """Why a backdoor partition written by an older tracefl cannot be trained (its label counts
    describe poisoned examples that replaced their originals), or None."""
    scenario = partition.get("scenario", {})
    if scenario.get("kind") == BACKDOOR and scenario.get("poisoning") != POISONING:
        return ("a backdoor partition written by an older tracefl (poisoned examples replaced their originals; "
                "they are now added as triggered copies)")
    return None


# --- applying a scenario --------------------------------------------------------------------------


def client_examples(
    partition: dict[str, Any], client_id: str, indices: np.ndarray, x: np.ndarray, y: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """A client's stored examples (``x``, ``y`` at dataset ``indices``) as it trains on them."""
    scenario = partition.get("scenario", {}).get("kind", NONE)
    if scenario == STYLE and client_id in STYLE_OF_CLIENT:
        styled = y == STYLE_LABEL
        x = x.copy()
        x[styled] = apply_style(x[styled], STYLE_OF_CLIENT[client_id], kind)
        return x, y
    poisoned = partition["clients"][client_id].get("poisoned")
    if scenario == BACKDOOR and poisoned:
        hit = np.isin(indices, np.asarray(poisoned, dtype=np.int64))
        copies = stamp_trigger(x[hit], kind)
        return np.concatenate([x, copies]), np.concatenate([y, np.full(len(copies), BACKDOOR_TARGET, dtype=y.dtype)])
    return x, y


@dataclass(frozen=True)
class PlantedSet:
    """Test inputs whose responsible client is known: ``x`` (stored form), their true labels,
    test-set ids, the prediction that makes them traceable, and the client to trace them to."""

    kind: str  # the scenario, plus the style for style sets
    x: np.ndarray
    labels: np.ndarray
    input_ids: np.ndarray
    expected: int
    truth: str


def planted_test_sets(scenario: str, x: np.ndarray, y: np.ndarray, kind: str) -> list[PlantedSet]:
    """The planted test inputs of ``scenario`` built from the server's test examples."""
    y = np.asarray(y)
    if scenario == STYLE:
        ids = np.flatnonzero(y == STYLE_LABEL)
        return [PlantedSet(f"style-{style}", apply_style(x[ids], style, kind), y[ids], ids, STYLE_LABEL, client)
                for client, style in STYLE_OF_CLIENT.items()]
    if scenario == BACKDOOR:
        ids = np.flatnonzero(y != BACKDOOR_TARGET)
        return [PlantedSet(BACKDOOR, stamp_trigger(x[ids], kind), y[ids], ids, BACKDOOR_TARGET, BACKDOOR_CLIENT)]
    return []
