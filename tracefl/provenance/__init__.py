"""Neuron provenance: which client is responsible for a global model's prediction."""

from tracefl.provenance.engine import TraceResult, reweight_by_data_size, trace
from tracefl.provenance.layers import is_provenance_layer, provenance_layers

__all__ = ["TraceResult", "is_provenance_layer", "provenance_layers", "reweight_by_data_size", "trace"]
