"""A preset of config/experiments.yaml resolved into runs: what each item needs, by run id.

The Snakefile and the CLI both resolve runs here, so a run id always means the same
settings whichever way a step is started.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from tracefl.errors import ConfigError
from tracefl.config.run_spec import RunSpec
from tracefl.config.scale import DEFAULT_SCALE, check_scale, scaled_entry
from tracefl.config.schema import check_config
from tracefl.config.settings import ProvenanceSettings, SimulationSettings
from tracefl.data.registry import DATASETS, DatasetSpec, declared_dataset_spec, is_builtin, local_dataset_declaration
from tracefl.models.catalog import unavailable_reason
from tracefl.config.items import ITEMS, Item, get_item, run_keys


@dataclass(frozen=True)
class Preset:
    """One resolved preset: the runs of each run key, plus the shared settings."""

    name: str
    runs: dict[str, RunSpec]
    items: dict[str, list[str]]  # run key (config key) -> run ids, in panel order
    provenance: ProvenanceSettings
    simulation: SimulationSettings
    data_dir: str = "resources/datasets"
    dataset_sources: dict[str, str] = field(default_factory=dict)
    # The config's local_datasets, resolved (absolute paths).
    local_datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    # One line per optional entry left out, saying why.
    skipped: list[str] = field(default_factory=list)
    # One line per local copy of a built-in dataset replaced by its source (the file is absent).
    notes: list[str] = field(default_factory=list)
    scale: str = DEFAULT_SCALE

    def item_runs(self, item: str) -> list[str]:
        """Run ids of a paper item, in panel order (an item may draw on another's runs)."""
        return self.items.get(get_item(item).run_key, [])

    def twins(self, item: str) -> dict[str, str]:
        """Faulty run id -> its fault-free twin's run id, for an item judged by twins (else empty)."""
        return {run_id: twin.run_id for run_id, twin in twins_of(get_item(item), self.item_runs(item), self.runs).items()}

    def built_items(self) -> list[Item]:
        """The items this preset defines runs for, in catalog order."""
        return [i for i in ITEMS.values() if self.item_runs(i.name)]


def twins_of(item: Item, run_ids: list[str], runs: Mapping[str, RunSpec]) -> dict[str, RunSpec]:
    """Faulty run id -> its fault-free twin (RunSpec.fault_free_twin), for an item judged by twins."""
    if not item.judged_by_twin:
        return {}
    return {run_id: twin for run_id in run_ids if (twin := runs[run_id].fault_free_twin) is not None}


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


def local_datasets(
    config: Mapping[str, Any], base_dir: str | Path | None = None, notes: list[str] | None = None
) -> dict[str, DatasetSpec]:
    """The config's ``local_datasets``, checked; relative paths are taken from ``base_dir`` (cwd).

    An entry named like a built-in dataset is the user's copy of it. Where that copy's file
    is absent, the built-in source is used instead, and a line saying so goes to ``notes``.
    """
    entries = config.get("local_datasets") or {}
    if not isinstance(entries, Mapping):
        raise ConfigError("local_datasets must map a dataset name to its path, kind, num_classes, ...")
    found: dict[str, DatasetSpec] = {}
    for name, entry in entries.items():
        try:
            spec = declared_dataset_spec(str(name), local_dataset_declaration(str(name), entry, base_dir))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if is_builtin(name) and not Path(str(spec.local_path)).exists():
            if notes is not None:
                notes.append(f"local_datasets.{name}: {spec.local_path} does not exist; using the built-in "
                             f"'{name}' ({DATASETS[name].hf_path or DATASETS[name].source}) instead")
            continue
        found[str(name)] = spec
    return found


def unavailable(spec: RunSpec) -> str | None:
    """Why ``spec`` cannot run on this machine (a local data file or a model package missing)."""
    if spec.data.local_path and not Path(spec.data.local_path).exists():
        return f"dataset '{spec.dataset}': {spec.data.local_path} does not exist"
    return unavailable_reason(spec.model)


def resolve_preset(config: Mapping[str, Any], name: str | None = None, *, every_entry: bool = False) -> Preset:
    """Expand ``config`` (the parsed experiments.yaml) into the runs of one preset.

    The config's shape is checked first (one line naming the key). An entry with
    ``optional: true`` is left out (and listed in ``Preset.skipped``) when its local
    data file or its model's package is not on this machine; ``every_entry`` keeps every entry
    whatever this machine has (what the preset *says*, as docs/fidelity.md lists it).
    """
    check_config(config)
    skipped: list[str] = []
    notes: list[str] = []
    local = local_datasets(config, notes=notes)
    presets = config.get("presets") or {}
    name = name or config.get("preset", "quick")
    if name not in presets:
        raise ConfigError(f"preset = {name!r} is not defined; allowed: {', '.join(sorted(presets))}")
    body = presets[name] or {}
    scale = check_scale(config.get("scale", DEFAULT_SCALE))
    defaults = dict(body.get("defaults") or {})
    runs: dict[str, RunSpec] = {}
    items: dict[str, list[str]] = {}
    dataset_sources = {**fixture_sources(config), **{str(k): str(v) for k, v in (config.get("dataset_sources") or {}).items()}}
    sources = set(dataset_sources)
    for key in run_keys():
        ids: list[str] = []
        for i, entry in enumerate(body.get(key) or []):
            where = f"presets.{name}.{key}[{i}]"
            entry = dict(entry)
            optional = entry.pop("optional", False)
            for values in expand_entry(entry, where):
                if "scale" in values or "scale" in defaults:
                    raise ConfigError(f"{where}: scale is chosen for the whole preset (top-level key scale, "
                                      "e.g. --config scale=smoke), not per run")
                spec = RunSpec.from_mapping(scaled_entry({**defaults, **values}, scale), where=where, datasets=local)
                reason = None if every_entry else unavailable(spec)
                if not reason and optional and not every_entry and spec.dataset not in sources:
                    from tracefl.data.sources import hub_unavailable_reason

                    reason = hub_unavailable_reason(spec.data)
                if reason and optional:
                    note = f"{where} ({spec.dataset}, {spec.model}) skipped: {reason}"
                    if note not in skipped:  # one line per entry, not per run of its sweep
                        skipped.append(note)
                    continue
                if reason:
                    raise ConfigError(f"{where}: {reason}; fix it, or mark the entry optional: true to skip it")
                runs[spec.run_id] = spec
                if spec.run_id not in ids:
                    ids.append(spec.run_id)
        items[key] = ids
    for item in ITEMS.values():  # the twins train (their rounds are read) without being an item's runs
        for twin in twins_of(item, items.get(item.run_key, []), runs).values():
            runs.setdefault(twin.run_id, twin)
    simulation = SimulationSettings.from_mapping(body.get("simulation") or {}, f"presets.{name}.simulation")
    if scale != DEFAULT_SCALE:
        # ~70 small runs: Ray's start-up would be most of their time, and one thread per
        # job lets Snakemake run as many trainings side by side as it has cores.
        simulation = replace(simulation, backend="inline", client_cpus=1)
    return Preset(
        name=name,
        runs=runs,
        items=items,
        provenance=ProvenanceSettings.from_mapping(body.get("provenance") or {}, f"presets.{name}.provenance"),
        simulation=simulation,
        data_dir=str(config.get("data_dir", "resources/datasets")),
        dataset_sources=dataset_sources,
        local_datasets=local,
        skipped=skipped,
        notes=notes,
        scale=scale,
    )


def fixture_sources(config: Mapping[str, Any]) -> dict[str, str]:
    """``fixtures: DIR`` -> a dataset source per fixture folder in DIR (``python -m tracefl fixtures``).

    Entries of ``dataset_sources`` win over a fixture of the same dataset.
    """
    folder = config.get("fixtures")
    if not folder:
        return {}
    root = Path(str(folder)).expanduser()
    if not root.is_dir():
        raise ConfigError(f"fixtures = {str(folder)!r} is not a folder; write one with "
                          f"python -m tracefl fixtures --out {folder}")
    return {p.name: str(p.resolve()) for p in sorted(root.iterdir()) if p.is_dir()}


def load_config(path: str | Path) -> dict[str, Any]:
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


# The workflow's own config file: Snakemake reads it first (`configfile:` in the Snakefile) and
# merges every `--configfile` over it, so the CLI does the same.
BASE_CONFIG = Path("config/experiments.yaml")


def merge_config(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into `base` key by key, nested mappings too (as Snakemake merges config files)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_preset(path: str | Path, name: str | None = None) -> Preset:
    """The preset `name` of config file `path` merged over config/experiments.yaml (where present)
    the way Snakemake merges `--configfile` over the workflow's config file."""
    config = load_config(path)
    if BASE_CONFIG.is_file() and Path(path).resolve() != BASE_CONFIG.resolve():
        config = merge_config(load_config(BASE_CONFIG), config)
    return resolve_preset(config, name)


def find_run(preset: Preset, run_id: str) -> RunSpec:
    try:
        return preset.runs[run_id]
    except KeyError:
        raise ConfigError(f"run '{run_id}' is not in preset '{preset.name}'") from None
