"""Localization baselines TraceFL is compared with (FedDebug)."""
