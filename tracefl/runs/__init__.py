"""A run directory: per-round checkpoints (safetensors + meta.json), the rounds table,
and loading a round's models back. Training writes it; provenance and FedDebug read it."""
