"""Models: names and families (:mod:`~tracefl.models.catalog`, no torch), building them
(:mod:`~tracefl.models.registry`), inputs of either family (:mod:`~tracefl.models.inputs`)."""
