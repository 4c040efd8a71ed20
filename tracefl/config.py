"""Experiment configuration: presets, run settings, readable run ids, validation.

The Snakefile and the CLI both resolve runs through this module, so a run id always
means the same settings whichever way a step is started.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from tracefl.data.registry import (
    DATASETS,
    export_declared,
    get_dataset_spec,
    local_dataset_declaration,
    register_declared,
)
from tracefl.models import is_known_model, model_family, model_names, training_defaults, unavailable_reason

OPTIMIZERS = ("adam", "adamw", "sgd")
AUTO = "auto"
DEFAULT_MAX_LENGTH = 128
# Settings added after run ids were first published: left out of to_dict (and so of
# the id's hash) while they hold their default, so existing runs keep their ids.
_OMITTED_AT_DEFAULT = {"max_length": DEFAULT_MAX_LENGTH}
CLIENT_WEIGHTINGS = ("none", "data_size")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the key and the allowed values."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one federated training run (and hence its id)."""

    dataset: str
    model: str
    num_clients: int = 10
    clients_per_round: int = 4
    rounds: int = 10
    alpha: float = 0.3
    local_epochs: int = 2
    batch_size: int = 32
    # None / "auto": the model family's default (images Adam 1e-3, transformers AdamW 5e-5).
    lr: float | None = None
    optimizer: str | None = None
    pretrained: bool = False
    seed: int = 42
    max_client_samples: int = 2048
    min_label_examples: int = 10
    max_server_samples: int = 2048
    faulty_clients: tuple[int, ...] = ()
    label_flip: tuple[tuple[int, int], ...] = ()
    dp_noise: float = 0.0
    dp_clip: float = 0.0
    # Text models: tokens per input after truncation/padding (ignored for images).
    max_length: int = DEFAULT_MAX_LENGTH

    def __post_init__(self) -> None:
        """Resolve ``auto`` optimiser and learning rate from the model family."""
        if self.lr in (None, AUTO) or self.optimizer in (None, AUTO):
            try:
                defaults = training_defaults(self.model)
            except ValueError:  # unknown model: validate_run names the key
                defaults = {"optimizer": "adam", "lr": 1e-3}
            if self.lr in (None, AUTO):
                object.__setattr__(self, "lr", float(defaults["lr"]))
            if self.optimizer in (None, AUTO):
                object.__setattr__(self, "optimizer", str(defaults["optimizer"]))

    @property
    def run_id(self) -> str:
        """Readable prefix plus a short hash of every setting: stable and unique.

        A hub model id's ``/`` becomes ``--`` so the id stays one path component.
        """
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
        model = self.model.replace("/", "--")
        return (
            f"{self.dataset}-{model}-c{self.num_clients}-p{self.clients_per_round}"
            f"-r{self.rounds}-a{self.alpha:g}-s{self.seed}-{digest}"
        )

    @property
    def partition_id(self) -> str:
        """Name of the partition file this run trains on (runs may share one)."""
        return (
            f"c{self.num_clients}-a{self.alpha:g}-s{self.seed}-m{self.max_client_samples}"
            f"-l{self.min_label_examples}-b{self.batch_size}"
        )

    @property
    def flip_map(self) -> dict[int, int]:
        return dict(self.label_flip)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["faulty_clients"] = list(self.faulty_clients)
        data["label_flip"] = {str(k): v for k, v in self.label_flip}
        for key, default in _OMITTED_AT_DEFAULT.items():
            if data[key] == default:
                del data[key]
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "run") -> "RunSpec":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key '{unknown[0]}' in {where}; allowed: {', '.join(sorted(known))}")
        values = dict(data)
        if "faulty_clients" in values:
            values["faulty_clients"] = tuple(int(c) for c in values["faulty_clients"] or ())
        if "label_flip" in values:
            flips = values["label_flip"] or {}
            if not isinstance(flips, Mapping):
                raise ConfigError(f"{where}.label_flip must be a mapping of source label to target label")
            values["label_flip"] = tuple(sorted((int(k), int(v)) for k, v in flips.items()))
        for key in ("alpha", "lr", "dp_noise", "dp_clip"):
            if key in values and not (key == "lr" and values[key] in (None, AUTO)):
                try:
                    values[key] = float(values[key])
                except (TypeError, ValueError):
                    raise ConfigError(f"{where}.{key} = {values[key]!r} is not a number") from None
        spec = cls(**values)
        validate_run(spec, where)
        return spec


def validate_run(spec: RunSpec, where: str = "run") -> None:
    """Fail fast, with one line naming the key, on settings that cannot run."""

    def bad(key: str, allowed: str) -> ConfigError:
        return ConfigError(f"{where}.{key} = {getattr(spec, key)!r} is not allowed; {allowed}")

    if spec.dataset not in DATASETS:
        get_dataset_spec(spec.dataset)  # raises with the list of allowed names
    if not is_known_model(spec.model):
        raise bad("model", f"allowed: {', '.join(model_names())}, or a Hugging Face hub id owner/name")
    kind = get_dataset_spec(spec.dataset).kind
    if model_family(spec.model) != kind:
        takes = "images" if model_family(spec.model) == "image" else "text"
        raise bad("model", f"it takes {takes} but dataset '{spec.dataset}' is {kind}")
    if not isinstance(spec.max_length, int) or spec.max_length < 2:
        raise bad("max_length", "must be an integer >= 2")
    if spec.num_clients < 1:
        raise bad("num_clients", "must be >= 1")
    if not 1 <= spec.clients_per_round <= spec.num_clients:
        raise bad("clients_per_round", f"must be between 1 and num_clients ({spec.num_clients})")
    if spec.rounds < 1:
        raise bad("rounds", "must be >= 1")
    if spec.alpha <= 0:
        raise bad("alpha", "must be > 0")
    if spec.local_epochs < 1:
        raise bad("local_epochs", "must be >= 1")
    if spec.batch_size < 1:
        raise bad("batch_size", "must be >= 1")
    if spec.lr <= 0:
        raise bad("lr", "must be > 0")
    if spec.optimizer not in OPTIMIZERS:
        raise bad("optimizer", f"allowed: {', '.join(OPTIMIZERS)}")
    for client in spec.faulty_clients:
        if not 0 <= client < spec.num_clients:
            raise bad("faulty_clients", f"client ids must be between 0 and {spec.num_clients - 1}")
    num_classes = get_dataset_spec(spec.dataset).num_classes
    for src, dst in spec.label_flip:
        if not (0 <= src < num_classes and 0 <= dst < num_classes):
            raise bad("label_flip", f"labels must be between 0 and {num_classes - 1}")
    if spec.faulty_clients and not spec.label_flip:
        raise bad("label_flip", "faulty_clients need a non-empty label_flip map")
    if spec.dp_noise < 0:
        raise bad("dp_noise", "must be >= 0")
    if spec.dp_clip < 0 or (spec.dp_noise > 0 and spec.dp_clip <= 0):
        raise bad("dp_clip", "must be > 0 when dp_noise > 0")
    for key in ("max_client_samples", "max_server_samples"):
        if getattr(spec, key) < 1:
            raise bad(key, "must be >= 1")


@dataclass(frozen=True)
class ProvenanceSettings:
    """How inputs are chosen and traced; changing these re-runs provenance, not training."""

    inputs_per_label: int = 10
    # Raise the per-label count in rounds with few held labels so this many can be traced (0: off).
    min_inputs_per_round: int = 0
    max_mispredictions: int = 100
    layer_decay: float | None = 0.9
    client_weighting: str = "none"
    chunk_size: int = 128

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "ProvenanceSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key '{unknown[0]}' in provenance; allowed: {', '.join(sorted(known))}")
        settings = cls(**data)
        if settings.client_weighting not in CLIENT_WEIGHTINGS:
            raise ConfigError(
                f"provenance.client_weighting = {settings.client_weighting!r} is not allowed; "
                f"allowed: {', '.join(CLIENT_WEIGHTINGS)}"
            )
        if settings.inputs_per_label < 1:
            raise ConfigError("provenance.inputs_per_label must be >= 1")
        if settings.min_inputs_per_round < 0:
            raise ConfigError("provenance.min_inputs_per_round must be >= 0")
        if settings.layer_decay is not None and not 0 < settings.layer_decay <= 1:
            raise ConfigError("provenance.layer_decay must be in (0, 1] or null (no layer weighting)")
        return settings


@dataclass(frozen=True)
class SimulationSettings:
    """Resources of the Flower simulation; they do not change results, so not in the run id."""

    client_cpus: float = 1.0
    client_gpus: float = 0.5
    device: str = "auto"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "SimulationSettings":
        settings = cls(**data)
        if settings.device not in DEVICES:
            raise ConfigError(f"simulation.device = {settings.device!r} is not allowed; allowed: {', '.join(DEVICES)}")
        if settings.client_cpus <= 0:
            raise ConfigError("simulation.client_cpus must be > 0")
        return settings


@dataclass(frozen=True)
class Preset:
    """One resolved preset: run grids per figure/table plus shared settings."""

    name: str
    runs: dict[str, RunSpec]
    items: dict[str, list[str]]  # figure/table name -> run ids, in panel order
    provenance: ProvenanceSettings
    simulation: SimulationSettings
    data_dir: str = "resources/datasets"
    dataset_sources: dict[str, str] = field(default_factory=dict)
    # Declared local datasets (name -> declaration with an absolute path).
    local_datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # One line per optional entry left out, saying why.
    skipped: list[str] = field(default_factory=list)


# Figures and tables that own runs; Figure 6 is drawn from Table I's runs.
ITEM_KEYS = ("figure2", "table1", "figure3", "figure4", "table2", "table3", "figure5")


def expand_entry(entry: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """An item entry, with its optional ``sweep`` (key -> list of values) expanded in order."""
    entry = dict(entry)
    sweep = entry.pop("sweep", None) or {}
    if not isinstance(sweep, Mapping):
        raise ConfigError(f"{where}.sweep must map a run setting to a list of values")
    expanded = [entry]
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.sweep.{key} must be a non-empty list")
        expanded = [{**e, key: v} for e in expanded for v in values]
    return expanded


def apply_local_datasets(config: Mapping[str, Any], base_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Register the config's ``local_datasets`` here and in every child process.

    Relative paths are taken from ``base_dir`` (default: the working directory). The
    declarations go into an environment variable that Snakemake jobs, CLI steps and
    simulation workers inherit, so each process resolves the same names.
    """
    entries = config.get("local_datasets") or {}
    if not isinstance(entries, Mapping):
        raise ConfigError("local_datasets must map a dataset name to its path, kind, num_classes, ...")
    declared: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        try:
            declared[str(name)] = local_dataset_declaration(str(name), entry, base_dir)
            register_declared(str(name), declared[str(name)])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if declared:
        export_declared(declared)
    return declared


def unavailable(spec: RunSpec) -> str | None:
    """Why ``spec`` cannot run on this machine (a local data file or a model package missing)."""
    dataset = get_dataset_spec(spec.dataset)
    if dataset.local_path and not Path(dataset.local_path).exists():
        return f"dataset '{spec.dataset}': {dataset.local_path} does not exist"
    return unavailable_reason(spec.model)


def resolve_preset(config: Mapping[str, Any], name: str | None = None) -> Preset:
    """Expand ``config`` (the parsed experiments.yaml) into the runs of one preset.

    An entry with ``optional: true`` is left out (and listed in ``Preset.skipped``) when
    its local data file or its model's package is not on this machine.
    """
    local = apply_local_datasets(config)
    presets = config.get("presets") or {}
    name = name or config.get("preset", "quick")
    if name not in presets:
        raise ConfigError(f"preset = {name!r} is not defined; allowed: {', '.join(sorted(presets))}")
    body = presets[name] or {}
    defaults = dict(body.get("defaults") or {})
    runs: dict[str, RunSpec] = {}
    items: dict[str, list[str]] = {}
    skipped: list[str] = []
    for item in ITEM_KEYS:
        entries = body.get(item) or []
        ids: list[str] = []
        for i, entry in enumerate(entries):
            where = f"presets.{name}.{item}[{i}]"
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{where} must be a mapping of run settings")
            entry = dict(entry)
            optional = entry.pop("optional", False)
            if not isinstance(optional, bool):
                raise ConfigError(f"{where}.optional must be true or false")
            for values in expand_entry(entry, where):
                spec = RunSpec.from_mapping({**defaults, **values}, where=where)
                reason = unavailable(spec)
                if reason and optional:
                    skipped.append(f"{where} ({spec.dataset}, {spec.model}) skipped: {reason}")
                    continue
                if reason:
                    raise ConfigError(f"{where}: {reason}; fix it, or mark the entry optional: true to skip it")
                runs[spec.run_id] = spec
                if spec.run_id not in ids:
                    ids.append(spec.run_id)
        items[item] = ids
    return Preset(
        name=name,
        runs=runs,
        items=items,
        provenance=ProvenanceSettings.from_mapping(body.get("provenance") or {}),
        simulation=SimulationSettings.from_mapping(body.get("simulation") or {}),
        data_dir=str(config.get("data_dir", "resources/datasets")),
        dataset_sources={str(k): str(v) for k, v in (config.get("dataset_sources") or {}).items()},
        local_datasets=local,
        skipped=skipped,
    )


def load_config(path: str | Path) -> dict[str, Any]:
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def load_preset(path: str | Path, name: str | None = None) -> Preset:
    return resolve_preset(load_config(path), name)


def find_run(preset: Preset, run_id: str) -> RunSpec:
    try:
        return preset.runs[run_id]
    except KeyError:
        raise ConfigError(f"run '{run_id}' is not in preset '{preset.name}'") from None


# --- schema errors (workflow/schemas/config.schema.yaml) ------------------------------


def _key_path(parts: Any) -> str:
    """``presets.quick.figure3[0].alpha`` from a jsonschema path."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the config"


def describe_schema(schema: Mapping[str, Any]) -> str:
    """What a (small) JSON schema allows, in words: 'an integer >= 1', 'one of adam, sgd'."""
    if "anyOf" in schema:
        return " or ".join(describe_schema(s) for s in schema["anyOf"])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    kind = schema.get("type")
    words = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
             "object": "a mapping", "array": "a list", "null": "null"}.get(kind, "a value")
    bounds = [f"{op} {schema[key]:g}" for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                       ("maximum", "<="), ("exclusiveMaximum", "<"))
              if key in schema]
    if "minItems" in schema:
        bounds.append(f"with at least {schema['minItems']} item(s)")
    return " ".join([words, " and ".join(bounds)]) if bounds else words


def schema_error_line(error: Any) -> str:
    """One line for a ``jsonschema.ValidationError``: the key, the bad value, what is allowed."""
    while error.parent is not None and error.parent.validator == "anyOf":  # name every alternative
        error = error.parent
    path = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unexpected = sorted(str(k) for k in error.instance if k not in error.schema.get("properties", {}))
        extra = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"unknown key '{unexpected[0] if unexpected else '?'}' in {path}{extra}"
    if "propertyNames" in error.schema_path:  # a mapping key, e.g. a sweep over an unknown setting
        return f"unknown key {error.instance!r} in {path}; allowed: {describe_schema(error.schema)}"
    if error.validator == "required":
        return f"{path}: {error.message}"
    if error.validator == "minProperties":
        return f"{path} must not be empty"
    return f"{path} = {error.instance!r} is not allowed; allowed: {describe_schema(error.schema)}"


def config_schema_error(config: Mapping[str, Any], schema_path: str | Path) -> str:
    """The one-line message of the most relevant schema violation of ``config`` ('' if none)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    schema = load_config(schema_path)
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    return "" if error is None else schema_error_line(error)
