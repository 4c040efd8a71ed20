"""Benchmark workloads: a global model, K perturbed clients and random inputs.

Both the engine and the reference run on identical random models: a global model and
K client models that are the global model with independently perturbed weights (so the
traces are not trivial). Nothing is downloaded: image models are torchvision's (random
init) or the project's small CNNs, text models are random BERTs built from a config.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tracefl.data.transforms import IMAGE_SHAPE
from tracefl.models.inputs import Inputs

NUM_CLASSES = 10
BENCH_IMAGE_MODELS = ("resnet18", "resnet34", "resnet50", "densenet121", "cnn", "tiny-cnn")

# Randomly initialised text classifiers of the paper's two families, built from their configs
# (nothing is downloaded): BERT encoders (BertLayer, evaluated per client by the engine) and
# GPT decoders (the OpenAI GPT of the `gpt` model, whose Conv1D layers the engine scores at once).
BENCH_TEXT_MODELS: dict[str, dict[str, int]] = {
    "bert-small": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 2,
                   "intermediate_size": 512, "seq_len": 64, "vocab_size": 1000},
    "bert-tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                  "intermediate_size": 64, "seq_len": 16, "vocab_size": 100},
    # GPT's inner width is 4x its hidden width, as OpenAIGPTConfig fixes it.
    "gpt-small": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 2,
                  "intermediate_size": 512, "seq_len": 64, "vocab_size": 1000},
    # The paper's sizes (BERT-base, OpenAI GPT; 128 tokens as its max_length): for a GPU.
    "bert-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                  "intermediate_size": 3072, "seq_len": 128, "vocab_size": 30522},
    "gpt-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                 "intermediate_size": 3072, "seq_len": 128, "vocab_size": 40478},
    "gpt-tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                 "intermediate_size": 128, "seq_len": 16, "vocab_size": 100},
}


@dataclass
class Workload:
    """A global model, K perturbed client models and ``n`` random inputs for them."""

    name: str
    global_model: nn.Module
    clients: dict[str, nn.Module]
    inputs: Inputs


def bench_model_names() -> list[str]:
    """Models the benchmark can build: image classifiers, random BERTs and GPTs."""
    return [*BENCH_IMAGE_MODELS, *BENCH_TEXT_MODELS]


def make_workload(
    name: str, n: int, k: int, seed: int = 0, perturbation: float = 0.05
) -> Workload:
    """Random float32 models and inputs; the clients are the global model plus noise.

    Image models: torchvision's (random init) or the project's small CNNs, 10 classes,
    3x32x32 inputs. ``bert-*``/``gpt-*``: random BERT / GPT classifiers fed token ids
    with attention masks that pad every input to a random length between a quarter of
    and the full sequence length.
    """
    if name not in bench_model_names():
        raise ValueError(f"unknown benchmark model {name!r}; choose from {bench_model_names()}")
    gen = torch.Generator().manual_seed(seed)
    if name in BENCH_TEXT_MODELS:
        model, inputs = _text_workload(name, BENCH_TEXT_MODELS[name], n, seed, gen)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _image_model(name)
        inputs = torch.randn(n, *IMAGE_SHAPE, generator=gen)
    model = model.float().eval()
    return Workload(name, model, perturbed_clients(model, k, perturbation, seed + 1), inputs)


def perturbed_clients(
    model: nn.Module, k: int, scale: float = 0.05, seed: int = 1
) -> dict[str, nn.Module]:
    """K client models: ``model`` with independent Gaussian noise of relative size ``scale``."""
    gen = torch.Generator().manual_seed(seed)
    clients = {}
    for i in range(k):
        client = copy.deepcopy(model)
        with torch.no_grad():
            for p in client.parameters():
                noise = torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype)
                p.add_(scale * (p.abs().mean() + 1e-3) * noise)
        clients[f"client{i}"] = client
    return clients


def _image_model(name: str) -> nn.Module:
    """A randomly initialised 10-class image classifier (torchvision imported only if needed)."""
    if name in ("cnn", "tiny-cnn"):
        from tracefl.models.cnn import SmallCNN, TinyCNN

        return (SmallCNN if name == "cnn" else TinyCNN)(num_classes=NUM_CLASSES)
    import torchvision

    return getattr(torchvision.models, name)(weights=None, num_classes=NUM_CLASSES)


def _text_classifier(name: str, spec: Mapping[str, int]) -> nn.Module:
    """A random BERT or GPT sequence classifier of ``spec``'s size (transformers loaded lazily).

    Token id 0 pads: GPT classifies from the last token that is not the pad id."""
    seq_len = spec["seq_len"]
    if name.startswith("gpt"):
        from transformers import OpenAIGPTConfig, OpenAIGPTForSequenceClassification

        config = OpenAIGPTConfig(
            vocab_size=spec["vocab_size"], n_embd=spec["hidden_size"], n_layer=spec["num_hidden_layers"],
            n_head=spec["num_attention_heads"], n_positions=seq_len, num_labels=NUM_CLASSES, pad_token_id=0,
        )
        return OpenAIGPTForSequenceClassification(config)
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=spec["vocab_size"], hidden_size=spec["hidden_size"],
        num_hidden_layers=spec["num_hidden_layers"], num_attention_heads=spec["num_attention_heads"],
        intermediate_size=spec["intermediate_size"], max_position_embeddings=seq_len,
        num_labels=NUM_CLASSES, pad_token_id=0,
    )
    return BertForSequenceClassification(config)


def _text_workload(
    name: str, spec: Mapping[str, int], n: int, seed: int, gen: torch.Generator
) -> tuple[nn.Module, dict[str, Tensor]]:
    """A random text classifier and ``n`` padded token-id inputs."""
    seq_len = spec["seq_len"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _text_classifier(name, spec)
    ids = torch.randint(1, spec["vocab_size"], (n, seq_len), generator=gen)
    lengths = torch.randint(max(1, seq_len // 4), seq_len + 1, (n,), generator=gen)
    mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
    return model, {"input_ids": ids * mask, "attention_mask": mask}
