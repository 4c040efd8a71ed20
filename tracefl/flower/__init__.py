"""Flower: the provenance recorder any Flower app can wrap its strategy in, and this
workflow's own Flower app (client app, server round loop, seeded strategy, DP array fixes,
local training, the simulation that runs them, and the ``flwr run`` entry points).

``from tracefl.flower import ProvenanceRecorder`` is the public part.
"""

from tracefl.flower.recorder import ProvenanceRecorder, RecordedReply, label_counts_metric

__all__ = ["ProvenanceRecorder", "RecordedReply", "label_counts_metric"]
