"""The ``scale`` switch: any preset at full size, or shrunk to a smoke test of every code path.

``--config scale=smoke`` keeps each item, dataset, model family (and architecture class),
partitioning, client-sampling fraction, DP setting and fault of a preset and changes sizes
only, so the whole DAG of e.g. the paper preset runs on a laptop CPU in minutes, offline
(with ``fixtures=DIR``), and a cluster user sees the first bug in minutes rather than hours.
The rules are applied to each run entry after the preset's defaults are merged in.
"""

from __future__ import annotations

from typing import Any, Mapping

from tracefl.errors import ConfigError

SCALES = ("full", "smoke")
DEFAULT_SCALE = "full"

#: Upper bounds of the size settings at smoke scale.
SMOKE_LIMITS: dict[str, int] = {
    "rounds": 2,
    "local_epochs": 1,
    "batch_size": 8,
    "max_client_samples": 64,
    "max_server_samples": 128,
    "max_length": 32,
    "min_label_examples": 2,
}
#: Clients are divided by this (at least SMOKE_MIN_CLIENTS, at most the preset's count):
#: 1000 -> 200, 100 -> 20, 10 stays 10. A sweep over client counts stays a sweep; clients per
#: round keep their fraction (10 of 100 -> 2 of 20; all of 10 stay all of 10).
SMOKE_CLIENT_DIVISOR = 5
SMOKE_MIN_CLIENTS = 10
#: Hub transformers become small configs of the same architecture (and tokenizer) class,
#: built locally with random weights (tracefl.models.text.TINY_MODELS).
SMOKE_MODELS: dict[str, str] = {"bert": "tiny-bert", "distilbert": "tiny-distilbert", "gpt": "tiny-gpt"}


def check_scale(scale: Any) -> str:
    if scale not in SCALES:
        raise ConfigError(f"scale = {scale!r} is not allowed; allowed: {', '.join(SCALES)}")
    return str(scale)


def smoke_clients(num_clients: int) -> int:
    return min(num_clients, max(SMOKE_MIN_CLIENTS, num_clients // SMOKE_CLIENT_DIVISOR))


def scaled_entry(entry: Mapping[str, Any], scale: str) -> dict[str, Any]:
    """A run entry (defaults merged in) at ``scale``; at ``full`` it is returned unchanged.

    At ``smoke`` every model starts from random weights (no ImageNet or hub download:
    the prefetch step is what fetches those), and each round samples the same fraction
    of the clients as at full scale (at least one).
    """
    out = dict(entry)
    if check_scale(scale) == DEFAULT_SCALE:
        return out
    for key, limit in SMOKE_LIMITS.items():
        if key in out and isinstance(out[key], int) and not isinstance(out[key], bool):
            out[key] = min(out[key], limit)
        elif key not in out:
            out[key] = limit
    if isinstance(out.get("num_clients"), int):
        full_clients = out["num_clients"]
        out["num_clients"] = smoke_clients(full_clients)
        if isinstance(out.get("clients_per_round"), int):  # the same fraction sampled each round
            share = out["clients_per_round"] / full_clients
            out["clients_per_round"] = min(out["num_clients"], max(1, round(share * out["num_clients"])))
    out["model"] = SMOKE_MODELS.get(str(out.get("model")), out.get("model"))
    out["pretrained"] = False
    out["scale"] = scale
    return out
