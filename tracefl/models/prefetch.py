"""Fetch what building a model needs from the network, once, into the cache jobs read offline.

Compute nodes often have no internet. The workflow's ``prefetch`` target (a localrule, so
it runs where Snakemake runs: the login node) fills ``TORCH_HOME`` (torchvision's ImageNet
weights, for ``pretrained: true``) and ``HF_HOME`` (a hub model's config and tokenizer,
and its weights for ``pretrained: true``) under the config's ``cache_dir``; every other
job then runs with ``HF_HUB_OFFLINE=1`` and the same two variables, so it reads the cache
and never touches the network. Fetching is building the model once, through the very
code the jobs use, with the network allowed: whatever a job will load is in the cache.
"""

from __future__ import annotations

import time
from typing import Any

from tracefl.models.catalog import NO_PRETRAINED_WEIGHTS, hub_id, model_family

#: Cache folders under the config's ``cache_dir`` (environment variable -> subfolder).
CACHE_VARIABLES = {"TORCH_HOME": "torch", "HF_HOME": "huggingface"}


def needs_prefetch(model: str, pretrained: bool) -> bool:
    """Whether building ``model`` reads anything from the network (else it is local or random)."""
    if model_family(model) == "image":
        return pretrained and model not in NO_PRETRAINED_WEIGHTS
    return hub_id(model) is not None  # a hub model's config and tokenizer, weights or not


def prefetch_key(model: str, pretrained: bool) -> str:
    """One path component naming what is fetched: ``resnet18-pretrained``, ``bert-config``."""
    return f"{model.replace('/', '--')}-{'pretrained' if pretrained else 'config'}"


def prefetch_model(model: str, pretrained: bool) -> dict[str, Any]:
    """Build ``model`` once so its files land in the cache; returns what was fetched.

    Offline, this raises the model builders' one-line errors, which name the repository
    or weights and how to provide them.
    """
    from tracefl.models.builders import build_model

    start = time.perf_counter()
    if not needs_prefetch(model, pretrained):
        fetched = "nothing (the model is built locally)"
    else:
        build_model(model, 2, pretrained=pretrained)
        if model_family(model) == "image":
            fetched = "ImageNet weights (torchvision)"
        else:
            fetched = f"{hub_id(model)}: config, tokenizer{', weights' if pretrained else ''}"
    return {"model": model, "pretrained": pretrained, "fetched": fetched,
            "seconds": round(time.perf_counter() - start, 2)}
