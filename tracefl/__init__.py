"""tracefl: neuron provenance for federated learning (a reproduction of TraceFL, ICSE 2025)."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``tracefl.load_run`` without importing torch at ``import tracefl`` (the workflow's
    # controller imports the torch-free parts of the package).
    if name == "load_run":
        from tracefl.explain import load_run

        return load_run
    raise AttributeError(f"module 'tracefl' has no attribute {name!r}")
