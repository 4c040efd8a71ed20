"""Neuron provenance: which client is responsible for a global model's prediction."""

from tracefl.provenance.engine import TraceResult, last_layer_result, reweight_by_data_size, trace
from tracefl.provenance.layers import is_provenance_layer, provenance_layers

__all__ = ["TraceResult", "is_provenance_layer", "last_layer_result", "provenance_layers", "reweight_by_data_size", "trace"]
