"""A quickstart-shaped Flower app that records its rounds for TraceFL."""
