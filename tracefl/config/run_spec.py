"""One federated training run's settings, with their bounds, defaults and readable id.

Every run setting is declared once, here, as a field with its JSON schema: the config's
schema (:mod:`tracefl.config.schema`), the checks of a spec handed to a job and the
partitioner's argument checks all read these declarations. Checks that need several
keys at once (clients per round against clients, faulty ids, labels of the dataset,
model against dataset kind) are in :func:`validate_run`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from tracefl.errors import ConfigError
from tracefl.config.scale import DEFAULT_SCALE, SCALES
from tracefl.config.run_names import setting_segments
from tracefl.config.fields import check_fields, check_keys, check_value, setting, setting_fields, setting_schemas
from tracefl.data.faults import FAULTY_LABELS, FLIP, RANDOM_LABELS
from tracefl.data.registry import DatasetSpec, get_dataset_spec, learned_thresholds
from tracefl.data.partition import DIRICHLET, LABELS_PER_CLIENT, NEIGHBOURING_LABELS, PARTITIONS
from tracefl.data.scenarios import BACKDOOR, NONE, SCENARIOS, minimum_clients, planted_clients
from tracefl.models.catalog import (
    DEFAULT_MAX_LENGTH,
    NO_PRETRAINED_WEIGHTS,
    is_known_model,
    model_family,
    model_names,
    training_defaults,
)

OPTIMIZERS = ("adam", "adamw", "hf-trainer", "sgd")
AUTO = "auto"
# Settings added after run ids were first published: left out of to_dict (and so of
# the id's hash) while they hold their default, so existing runs keep their ids.
_OMITTED_AT_DEFAULT = {"max_length": DEFAULT_MAX_LENGTH, "scale": DEFAULT_SCALE, "scenario": NONE,
                       "exclude_clients": [], "exclude_from_round": 1, "partition": DIRICHLET,
                       "faulty_labels": "flip", "backdoor_boost": 1.0}
# Keys a run entry may hold besides the settings; a job's spec also carries the dataset.
DATASET_SPEC_KEY = "dataset_spec"


def _int(minimum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum}


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one federated training run (and hence its id)."""

    dataset: str = setting(schema={"type": "string", "minLength": 1}, doc="dataset name (built in or local_datasets)")
    model: str = setting(schema={"type": "string", "minLength": 1}, doc="model name or Hugging Face hub id")
    num_clients: int = setting(10, schema=_int(1), doc="clients the training set is split into")
    clients_per_round: int = setting(4, schema=_int(1), doc="clients sampled each round")
    rounds: int = setting(10, schema=_int(1), doc="communication rounds")
    alpha: float = setting(0.3, schema={"type": "number", "exclusiveMinimum": 0}, doc="Dirichlet concentration")
    # How the training labels are split (tracefl.data.partition): Dirichlet by alpha, or the paper's
    # Figure 1 (client i holds labels i, i+1, i+2 mod the classes; alpha is then not used).
    partition: str = setting(DIRICHLET, schema={"enum": list(PARTITIONS)},
                             doc="dirichlet (by alpha) or neighbouring-labels (client i: labels i, i+1, i+2)")
    local_epochs: int = setting(2, schema=_int(1), doc="local epochs per round")
    batch_size: int = setting(32, schema=_int(1), doc="local batch size")
    # None / "auto": the model family's default (images Adam 1e-3, transformers AdamW 5e-5).
    lr: float | None = setting(
        None, schema={"anyOf": [{"const": AUTO}, {"type": "number", "exclusiveMinimum": 0}]}, doc="learning rate"
    )
    optimizer: str | None = setting(None, schema={"enum": [AUTO, *OPTIMIZERS]}, doc="local optimiser")
    pretrained: bool = setting(False, schema={"type": "boolean"}, doc="start from pretrained weights")
    seed: int = setting(42, schema=_int(0), doc="the one seed of partitioning, sampling and training")
    max_client_samples: int = setting(2048, schema=_int(1), doc="examples a client keeps at most")
    min_label_examples: int = setting(10, schema=_int(0), doc="a client's labels with fewer examples are dropped")
    max_server_samples: int = setting(2048, schema=_int(1), doc="test examples of the server")
    faulty_clients: tuple[int, ...] = setting(
        (), schema={"type": "array", "items": _int(0)}, doc="client ids that flip labels"
    )
    label_flip: tuple[tuple[int, int], ...] = setting(
        (), schema={"type": "object", "additionalProperties": _int(0)}, doc="source label -> target label"
    )
    # What a faulty client does to its labels: flip them by label_flip, or replace every label by a
    # uniformly random class (seeded by the run's seed and the client; tracefl.data.tensors).
    faulty_labels: str = setting(FLIP, schema={"enum": list(FAULTY_LABELS)},
                                 doc="flip (by label_flip) or random (every label a random class)")
    # Retraining without clients (an audit's flags, tracefl.audit): from round exclude_from_round
    # on they are never sampled; earlier rounds are those of the run without the setting.
    exclude_clients: tuple[int, ...] = setting(
        (), schema={"type": "array", "items": _int(0)}, doc="client ids never sampled from exclude_from_round on"
    )
    exclude_from_round: int = setting(1, schema=_int(1), doc="the first round without exclude_clients")
    dp_noise: float = setting(0.0, schema={"type": "number", "minimum": 0}, doc="DP noise multiplier")
    dp_clip: float = setting(0.0, schema={"type": "number", "minimum": 0}, doc="DP clipping norm")
    # Text models: tokens per input after truncation/padding (ignored for images).
    max_length: int = setting(DEFAULT_MAX_LENGTH, schema=_int(2), doc="tokens per text input")
    # Planted ground truth (tracefl.data.scenarios): which client caused a prediction is known.
    scenario: str = setting(NONE, schema={"enum": list(SCENARIOS)},
                            doc="none, style or backdoor (planted ground truth, tracefl.data.scenarios)")
    # The backdoor client scales its update (its model minus the one it received) by this before
    # replying: model replacement, as Bagdasaryan et al. (2020) attack FedAvg; 1 sends it as trained.
    backdoor_boost: float = setting(1.0, schema={"type": "number", "minimum": 1},
                                    doc="scenario backdoor: the backdoor client's update scaled by this (>= 1)")
    # Set by the config's top-level ``scale`` (tracefl.config.scale), not per entry: it names
    # the run (``smoke-...``) so a smoke run never passes for a full one.
    scale: str = setting(DEFAULT_SCALE, schema={"enum": list(SCALES)}, doc="full, or smoke (sizes shrunk)")
    # What the dataset is: travels with the spec to every job, so no job looks a local
    # dataset up in the environment or the working directory. Not part of the run id.
    dataset_spec: DatasetSpec | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Resolve ``auto`` optimiser and learning rate from the model family, and the dataset."""
        if self.lr in (None, AUTO) or self.optimizer in (None, AUTO):
            try:
                defaults = training_defaults(self.model)
            except ValueError:  # unknown model: validate_run names the key
                defaults = {"optimizer": "adam", "lr": 1e-3}
            if self.lr in (None, AUTO):
                object.__setattr__(self, "lr", float(defaults["lr"]))
            if self.optimizer in (None, AUTO):
                object.__setattr__(self, "optimizer", str(defaults["optimizer"]))
        if self.dataset_spec is None:
            try:
                object.__setattr__(self, "dataset_spec", get_dataset_spec(self.dataset))
            except ValueError:  # unknown dataset: validate_run names the key
                pass

    @property
    def data(self) -> DatasetSpec:
        """The dataset's description (raises with the allowed names if it is unknown)."""
        if self.dataset_spec is None:
            return get_dataset_spec(self.dataset)
        return self.dataset_spec

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    @property
    def run_id(self) -> str:
        """Readable prefix plus a short hash of every setting: stable and unique.

        The prefix names the settings presets vary: faults, DP and excluded clients get a
        segment each when off their default (:mod:`tracefl.config.run_names`). A hub model
        id's ``/`` becomes ``--`` so the id stays one path component.
        """
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
        model = self.model.replace("/", "--")
        prefix = "" if self.scale == DEFAULT_SCALE else f"{self.scale}-"
        planted = "" if self.scenario == NONE else f"-{self.scenario}"
        planted += "" if self.backdoor_boost == 1.0 else f"-boost{self.backdoor_boost:g}"
        planted += "" if self.partition == DIRICHLET else f"-{self.partition}"
        varied = "".join(f"-{segment}" for segment in setting_segments(
            self.faulty_clients, self.label_flip, self.dp_noise, self.dp_clip,
            self.exclude_clients, self.exclude_from_round, self.faulty_labels == RANDOM_LABELS))
        return (
            f"{prefix}{self.dataset}-{model}{planted}-c{self.num_clients}-p{self.clients_per_round}"
            f"-r{self.rounds}-a{self.alpha:g}{varied}-s{self.seed}-{digest}"
        )

    @property
    def partition_id(self) -> str:
        """Name of the partition file this run trains on (runs may share one)."""
        planted = "" if self.scenario == NONE else f"-{self.scenario}"
        planted += "" if self.partition == DIRICHLET else f"-{self.partition}"
        return (
            f"c{self.num_clients}-a{self.alpha:g}-s{self.seed}-m{self.max_client_samples}"
            f"-l{self.min_label_examples}-b{self.batch_size}{planted}"
        )

    @property
    def faulty_ids(self) -> list[str]:
        """Clients that misbehave: label flippers and a planted backdoor (what FedDebug looks for)."""
        planted = planted_clients(self.scenario) if self.scenario == BACKDOOR else []
        return sorted({str(c) for c in self.faulty_clients} | set(planted), key=int)

    @property
    def fault_free_twin(self) -> "RunSpec | None":
        """This run without its fault (no flipping clients, no planted backdoor), else the same
        settings; None for a run without a fault, or on a dataset without a learned accuracy (no
        judgement to make). A fault lowers the model's accuracy by design, so whether a faulty run's
        *setting* learns is judged on its twin (tracefl.report.learned)."""
        if not self.faulty_ids or self.dataset not in learned_thresholds():
            return None
        return replace(self, faulty_clients=(), label_flip=(), faulty_labels=FLIP,
                       scenario=NONE if self.scenario == BACKDOOR else self.scenario, backdoor_boost=1.0)

    @property
    def flip_map(self) -> dict[int, int]:
        return dict(self.label_flip)

    def to_dict(self) -> dict[str, Any]:
        """The settings (what the run id hashes)."""
        data = {f.name: getattr(self, f.name) for f in setting_fields(type(self))}
        data["faulty_clients"] = list(self.faulty_clients)
        data["exclude_clients"] = list(self.exclude_clients)
        data["label_flip"] = {str(k): v for k, v in self.label_flip}
        for key, default in _OMITTED_AT_DEFAULT.items():
            if data[key] == default:
                del data[key]
        return data

    def to_job_dict(self) -> dict[str, Any]:
        """The settings plus the dataset's description: everything a job needs to run."""
        return {**self.to_dict(), DATASET_SPEC_KEY: self.data.to_dict()}

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], where: str = "run", datasets: Mapping[str, DatasetSpec] | None = None
    ) -> "RunSpec":
        """A checked spec from a config entry or a job's JSON.

        ``datasets`` resolves dataset names beyond the built-in ones (the config's
        ``local_datasets``); a job's JSON carries its dataset under ``dataset_spec``.
        """
        check_keys(data, cls, where, extra=(DATASET_SPEC_KEY,))
        values = dict(data)
        dataset_spec = values.pop(DATASET_SPEC_KEY, None)
        for key in ("dataset", "model"):
            if key not in values:
                raise ConfigError(f"{where}.{key} is required (in the entry or the preset's defaults)")
        for key in ("lr", "optimizer"):  # null means auto
            if values.get(key, AUTO) is None:
                values.pop(key)
        check_fields(values, cls, where)
        for key in ("faulty_clients", "exclude_clients"):
            if key in values:
                values[key] = tuple(int(c) for c in values[key])
        if "label_flip" in values:
            values["label_flip"] = _flip_pairs(values["label_flip"], where)
        for key in ("alpha", "lr", "dp_noise", "dp_clip"):
            if key in values and values[key] != AUTO:
                values[key] = float(values[key])
        if dataset_spec is not None:
            values[DATASET_SPEC_KEY] = _dataset_spec(dataset_spec, values["dataset"], where)
        elif datasets and values["dataset"] in datasets:
            values[DATASET_SPEC_KEY] = datasets[values["dataset"]]
        spec = cls(**values)
        validate_run(spec, where)
        return spec


def _dataset_spec(data: Any, name: str, where: str) -> DatasetSpec:
    """A job's dataset description, checked: it must describe the dataset the spec names."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}.{DATASET_SPEC_KEY} must be a mapping (a dataset's description)")
    try:
        spec = DatasetSpec.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.{DATASET_SPEC_KEY}: {exc}") from None
    if spec.name != name:
        raise ConfigError(f"{where}.{DATASET_SPEC_KEY} describes {spec.name!r}, not {name!r}")
    return spec


def _flip_pairs(flips: Mapping[Any, int], where: str) -> tuple[tuple[int, int], ...]:
    pairs = []
    for src, dst in flips.items():
        try:
            pairs.append((int(src), int(dst)))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.label_flip: key {src!r} is not a label (an integer >= 0)") from None
    return tuple(sorted(pairs))


def check_setting(key: str, value: Any, where: str = "run") -> None:
    """Check one run setting against its declared bounds (for library functions that take one)."""
    check_value(where, key, value, setting_schemas(RunSpec)[key])


def validate_run(spec: RunSpec, where: str = "run") -> None:
    """Fail fast, with one line naming the key, on combinations of settings that cannot run."""

    def bad(key: str, allowed: str) -> ConfigError:
        return ConfigError(f"{where}.{key} = {getattr(spec, key)!r} is not allowed; {allowed}")

    check_fields(spec.to_dict(), RunSpec, where)  # every declared bound, also for specs built in Python

    try:
        dataset = spec.data
    except ValueError as exc:  # names the allowed datasets
        raise ConfigError(f"{where}: {exc}") from None
    if not is_known_model(spec.model):
        raise bad("model", f"allowed: {', '.join(model_names())}, or a Hugging Face hub id owner/name")
    if model_family(spec.model) != dataset.kind:
        takes = "images" if model_family(spec.model) == "image" else "text"
        raise bad("model", f"it takes {takes} but dataset '{spec.dataset}' is {dataset.kind}")
    if spec.pretrained and spec.model in NO_PRETRAINED_WEIGHTS:
        raise bad("pretrained", f"model '{spec.model}' has no pretrained weights; set pretrained: false")
    if spec.batch_size > spec.max_client_samples:
        raise bad("batch_size", f"must be <= max_client_samples ({spec.max_client_samples}): a client keeps at "
                                "most that many examples and needs one full batch")
    if dataset.train_examples is not None and spec.num_clients > dataset.train_examples:
        raise bad("num_clients", f"dataset '{spec.dataset}' has {dataset.train_examples} training examples")
    if not 1 <= spec.clients_per_round <= spec.num_clients:
        raise bad("clients_per_round", f"must be between 1 and num_clients ({spec.num_clients})")
    for client in spec.faulty_clients:
        if not 0 <= client < spec.num_clients:
            raise bad("faulty_clients", f"client ids must be between 0 and {spec.num_clients - 1}")
    for client in spec.exclude_clients:
        if not 0 <= client < spec.num_clients:
            raise bad("exclude_clients", f"client ids must be between 0 and {spec.num_clients - 1}")
    kept = spec.num_clients - len(set(spec.exclude_clients))
    if kept < 1:
        raise bad("exclude_clients", "excludes every client; keep at least one")
    if spec.dp_clip > 0 and kept < spec.clients_per_round:
        raise bad("exclude_clients", f"with DP the noise is sized for clients_per_round ({spec.clients_per_round}) "
                                     f"participants; only {kept} clients would be left")
    if spec.exclude_from_round > spec.rounds:
        raise bad("exclude_from_round", f"must be <= rounds ({spec.rounds})")
    for src, dst in spec.label_flip:
        if not (0 <= src < dataset.num_classes and 0 <= dst < dataset.num_classes):
            raise bad("label_flip", f"labels must be between 0 and {dataset.num_classes - 1}")
    if spec.faulty_labels == RANDOM_LABELS:
        if not spec.faulty_clients:
            raise bad("faulty_labels", "random labels need faulty_clients")
        if spec.label_flip:
            raise bad("label_flip", "must be empty with faulty_labels: random (every label is replaced)")
    elif spec.faulty_clients and not spec.label_flip:
        raise bad("label_flip", "faulty_clients need a non-empty label_flip map")
    if spec.scenario != NONE:
        if spec.label_flip or spec.faulty_clients:
            raise bad("scenario", "a planted scenario cannot be combined with faulty_clients / label_flip")
        if spec.num_clients < minimum_clients(spec.scenario):
            raise bad("num_clients", f"scenario {spec.scenario} needs at least {minimum_clients(spec.scenario)} clients")
    if spec.backdoor_boost != 1.0 and spec.scenario != BACKDOOR:
        raise bad("backdoor_boost", "scales the backdoor client's update; it needs scenario: backdoor")
    if spec.partition == NEIGHBOURING_LABELS:
        if spec.scenario != NONE:
            raise bad("partition", "a planted scenario has its own partition; use partition: dirichlet")
        if dataset.num_classes < LABELS_PER_CLIENT:
            raise bad("partition", f"dataset '{spec.dataset}' has {dataset.num_classes} labels, fewer than the "
                                   f"{LABELS_PER_CLIENT} each client holds")
    if spec.dp_noise > 0 and spec.dp_clip <= 0:
        raise bad("dp_clip", "must be > 0 when dp_noise > 0")
