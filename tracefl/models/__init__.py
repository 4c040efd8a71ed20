"""Model registry: one place that turns a config name into a torch module."""

from tracefl.models.registry import (
    MODELS,
    build_model,
    image_model_names,
    is_known_model,
    model_family,
    model_names,
    training_defaults,
    unavailable_reason,
)

__all__ = [
    "MODELS",
    "build_model",
    "image_model_names",
    "is_known_model",
    "model_family",
    "model_names",
    "training_defaults",
    "unavailable_reason",
]
