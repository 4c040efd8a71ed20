"""tracefl: neuron provenance for federated learning (a reproduction of TraceFL, ICSE 2025)."""

__version__ = "0.1.0"
