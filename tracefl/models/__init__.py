"""Model registry: one place that turns a config name into a torch module."""

from tracefl.models.registry import MODELS, build_model, model_names

__all__ = ["MODELS", "build_model", "model_names"]
