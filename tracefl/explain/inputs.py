"""Inputs to explain, read from a file: tensors for image models, texts for text models.

Tensors come from ``.npy`` (read without pickle) or ``.pt`` (read with
``weights_only=True``): a batch along dim 0, already shaped and scaled as the model's
training inputs were. Texts come from a CSV (a ``text`` column, or ``text_column``) or
a plain text file (one input per line), tokenized by the tokenizer the user names.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tracefl.errors import ConfigError, InputError, reading
from tracefl.models.inputs import Inputs

TENSOR_SUFFIXES = (".npy", ".pt", ".pth")
TEXT_SUFFIXES = (".csv", ".txt")


def read_inputs(
    path: str | Path,
    tokenizer: str | None = None,
    max_length: int = 128,
    text_column: str = "text",
    model: nn.Module | None = None,
) -> Inputs:
    """The inputs in ``path``; texts need ``tokenizer`` (a project model name, a local folder or a hub id)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in TENSOR_SUFFIXES:
        return _tensors(path)
    if suffix in TEXT_SUFFIXES:
        if not tokenizer:
            raise ConfigError(f"{path}: texts need --tokenizer (a project text model, a tokenizer folder or a hub id)")
        return tokenize(_texts(path, text_column), tokenizer, max_length, model)
    raise ConfigError(f"{path}: inputs must be {', '.join(TENSOR_SUFFIXES + TEXT_SUFFIXES)} (got '{suffix}')")


def _tensors(path: Path) -> torch.Tensor:
    fix = "give a .npy or .pt file holding one tensor, a batch along dim 0"
    with reading(path, fix):
        if path.suffix.lower() == ".npy":
            value: Any = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            value = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(value, torch.Tensor):
        raise InputError(f"{path}: holds a {type(value).__name__}, not a tensor; {fix}")
    if value.dim() < 2:
        raise InputError(f"{path}: a tensor of shape {tuple(value.shape)}; {fix}")
    return value.float() if value.dtype in (torch.float16, torch.float64, torch.bfloat16) else value


def read_labels(path: str | Path) -> torch.Tensor:
    """True labels, one per input: ``.npy``/``.pt`` (a 1-D integer array) or ``.txt``/``.csv``
    (one whole number per line; a CSV's first column, after an optional header)."""
    path = Path(path)
    fix = "give one whole-number label per input: a 1-D .npy/.pt array, or a .txt with one label per line"
    suffix = path.suffix.lower()
    if suffix not in TENSOR_SUFFIXES + TEXT_SUFFIXES:
        raise ConfigError(f"--labels {path}: must be {', '.join(TENSOR_SUFFIXES + TEXT_SUFFIXES)} (got '{suffix}')")
    with reading(path, fix):
        if suffix == ".npy":
            value: Any = torch.from_numpy(np.load(path, allow_pickle=False))
        elif suffix in (".pt", ".pth"):
            value = torch.load(path, map_location="cpu", weights_only=True)
        else:
            lines = [line.split(",")[0].strip() for line in path.read_text().splitlines() if line.strip()]
            if lines and not lines[0].lstrip("-").isdigit():
                lines = lines[1:]  # a header
            bad = next((x for x in lines if not x.lstrip("-").isdigit()), None)
            if bad is not None:
                raise InputError(f"{path}: {bad!r} is not a whole number; {fix}")
            value = torch.tensor([int(x) for x in lines], dtype=torch.long)
    if not isinstance(value, torch.Tensor):
        raise InputError(f"{path}: holds a {type(value).__name__}, not an array; {fix}")
    if value.dim() != 1:
        raise InputError(f"{path}: labels of shape {tuple(value.shape)}; {fix}")
    return value


def _texts(path: Path, column: str) -> list[str]:
    with reading(path, "give a CSV with a text column or a text file with one input per line"):
        if path.suffix.lower() == ".csv":
            import pandas as pd

            frame = pd.read_csv(path)
            if column not in frame.columns:
                raise InputError(f"{path}: no column '{column}' (columns: {', '.join(map(str, frame.columns))}); "
                                 "name it with --text-column")
            texts = frame[column].astype(str).tolist()
        else:
            texts = [line for line in path.read_text().splitlines() if line.strip()]
    if not texts:
        raise InputError(f"{path}: no inputs in the file")
    return texts


def tokenize(texts: list[str], tokenizer: str, max_length: int, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Token tensors of ``texts``, keeping only what ``model.forward`` accepts."""
    from tracefl.models.catalog import TEXT_MODEL_NAMES

    if tokenizer in TEXT_MODEL_NAMES and not Path(tokenizer).exists():  # a project model's own tokenizer
        from tracefl.models.text import encode_texts

        return encode_texts(tokenizer, texts, max_length)
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise ConfigError("--tokenizer: texts need the transformers package "
                          "(pip install transformers, or the project's [text] extra)") from None

    from tracefl.models.text import apply_pad_token_rule

    local = Path(tokenizer).exists()
    try:
        tok = AutoTokenizer.from_pretrained(tokenizer, local_files_only=local)
    except (OSError, ValueError) as exc:
        raise InputError(f"--tokenizer {tokenizer}: cannot load it ({str(exc).splitlines()[0][:160]})") from None
    apply_pad_token_rule(tok)
    encoded = tok(texts, truncation=True, padding="max_length", max_length=max_length, return_tensors="pt")
    out = {k: v for k, v in encoded.items() if isinstance(v, torch.Tensor)}
    if model is not None:
        params = inspect.signature(model.forward).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            out = {k: v for k, v in out.items() if k in params}
    return out

