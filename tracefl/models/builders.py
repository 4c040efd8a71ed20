"""Build models by name, with a clear error for unknown names and offline pretrained weights.

Two families: image classifiers (inputs: normalised 3x32x32 tensors) and Hugging Face
text classifiers (inputs: a mapping of token tensors, see :mod:`tracefl.models.text`).
The names, families and training defaults live in :mod:`tracefl.models.catalog`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from tracefl.models import text
from tracefl.models.catalog import IMAGE_MODEL_NAMES, ModelUnavailableError, is_known_model, unknown_model
from tracefl.models.cnn import SmallCNN, TinyCNN
from tracefl.seeding import torch_seeded


def _torchvision(arch: str, weights_enum: str) -> Callable[[int, bool], nn.Module]:
    """A torchvision classifier with its head resized to ``num_classes``."""

    def build(num_classes: int, pretrained: bool) -> nn.Module:
        import torchvision

        ctor = getattr(torchvision.models, arch)
        if not pretrained:
            return ctor(weights=None, num_classes=num_classes)
        weights = getattr(torchvision.models, weights_enum).DEFAULT
        try:
            model = ctor(weights=weights)
        except Exception as exc:  # network errors come in many types (URLError, OSError, ...)
            raise ModelUnavailableError(
                f"model '{arch}' with pretrained: true needs the ImageNet weights, which could not be "
                f"fetched ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); run `snakemake prefetch` "
                "where the network is reachable (it fills TORCH_HOME), or set pretrained: false"
            ) from exc
        _replace_head(model, num_classes)
        return model

    return build


def _replace_head(model: nn.Module, num_classes: int) -> None:
    """Swap the ImageNet classifier for a fresh one with ``num_classes`` outputs."""
    if hasattr(model, "fc") and isinstance(model.fc, nn.Linear):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    elif hasattr(model, "classifier") and isinstance(model.classifier, nn.Linear):
        model.classifier = nn.Linear(model.classifier.in_features, num_classes)
    else:  # pragma: no cover - every registered torchvision model has one of the two
        raise RuntimeError(f"do not know how to replace the head of {type(model).__name__}")


def _small(cls: type[nn.Module]) -> Callable[[int, bool], nn.Module]:
    def build(num_classes: int, pretrained: bool) -> nn.Module:
        if pretrained:
            raise ValueError(f"model '{cls.__name__}' has no pretrained weights (key: pretrained); set pretrained: false")
        return cls(num_classes=num_classes)

    return build


def _text(name: str) -> Callable[[int, bool], nn.Module]:
    def build(num_classes: int, pretrained: bool) -> nn.Module:
        return text.build_text_model(name, num_classes, pretrained)

    return build


IMAGE_BUILDERS: dict[str, Callable[[int, bool], nn.Module]] = {
    "cnn": _small(SmallCNN),
    "tiny-cnn": _small(TinyCNN),
    "resnet18": _torchvision("resnet18", "ResNet18_Weights"),
    "resnet34": _torchvision("resnet34", "ResNet34_Weights"),
    "resnet50": _torchvision("resnet50", "ResNet50_Weights"),
    "resnet101": _torchvision("resnet101", "ResNet101_Weights"),
    "resnet152": _torchvision("resnet152", "ResNet152_Weights"),
    "densenet121": _torchvision("densenet121", "DenseNet121_Weights"),
}
assert set(IMAGE_BUILDERS) == set(IMAGE_MODEL_NAMES), "every image model in the catalog needs a builder here"


def build_model(name: str, num_classes: int, pretrained: bool = False, seed: int | None = None) -> nn.Module:
    """Build model ``name``; with ``seed`` its initial weights are reproducible."""
    if not is_known_model(name):
        raise unknown_model(name)
    builder = IMAGE_BUILDERS.get(name) or _text(name)
    if seed is not None:
        with torch_seeded(seed):
            return builder(num_classes, pretrained)
    return builder(num_classes, pretrained)
