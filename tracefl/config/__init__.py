"""Experiment configuration: run settings and their bounds, presets, the config schema.

Imports neither torch nor matplotlib, so the Snakemake controller can read the config
without the ML stack.
"""

from tracefl.errors import ConfigError
from tracefl.config.presets import Preset, expand_entry, find_run, load_config, load_preset, local_datasets, resolve_preset
from tracefl.config.run_spec import RunSpec, validate_run
from tracefl.config.schema import check_config, config_schema, config_schema_error
from tracefl.config.settings import CLIENT_WEIGHTINGS, ProvenanceSettings, SimulationSettings

__all__ = [
    "CLIENT_WEIGHTINGS",
    "ConfigError",
    "Preset",
    "ProvenanceSettings",
    "RunSpec",
    "SimulationSettings",
    "check_config",
    "config_schema",
    "config_schema_error",
    "expand_entry",
    "find_run",
    "load_config",
    "load_preset",
    "local_datasets",
    "resolve_preset",
    "validate_run",
]
