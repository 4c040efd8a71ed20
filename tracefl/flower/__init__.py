"""Flower: the provenance recorder any Flower app can wrap its strategy in, and this
workflow's own Flower app (client app, server round loop, seeded strategy, DP array fixes,
the in-process grid, and the ``flwr run`` entry points). The train step that simulates
the app is :mod:`tracefl.steps.train`.

``from tracefl.flower import ProvenanceRecorder`` is the public part.
"""

from tracefl.flower.recorder import ProvenanceRecorder, RecordedReply, label_counts_metric

__all__ = ["ProvenanceRecorder", "RecordedReply", "label_counts_metric"]
