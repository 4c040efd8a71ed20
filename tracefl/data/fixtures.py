"""Small offline stand-ins for the paper's datasets, in exactly the schema their sources deliver.

``python -m tracefl fixtures --out DIR`` writes, per dataset, what the real download
would read: the Hugging Face hub's datasets as Parquet files in hub layout
(``DIR/{name}/data/{split}-00000-of-00001.parquet``, with the hub's features: images,
class labels with their names, every column of the real dataset) and MedMNIST's
``DIR/{name}/{flag}.npz`` with the arrays the ``medmnist`` package stores. With
``fixtures: DIR`` in the config (``--config fixtures=DIR``) the download step reads
them through the same loaders as the network path (``datasets.load_dataset`` on the
folder, ``medmnist`` with ``download=False``), so only the network hop differs.

The images are synthetic (a class-dependent pattern plus noise) but have the real
shapes, channels and dtypes; the texts are short class-dependent sentences. Every
class is present in both splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tracefl.data.registry import DatasetSpec, get_dataset_spec

#: Rows per split written by default (every class present; enough for the 200 clients a smoke run of
#: the paper preset splits DBpedia-14 into).
DEFAULT_ROWS = {"train": 2000, "test": 200}


@dataclass(frozen=True)
class HubSchema:
    """The columns of a hub dataset as the hub serves them (beyond what our loader reads)."""

    class_names: tuple[str, ...]
    image_size: int = 0  # images: side length; 0 for text datasets
    channels: int = 0  # 1 (mode "L") or 3 (mode "RGB")
    text_columns: tuple[str, ...] = ()  # every string column, in the hub's order
    extra_int_columns: tuple[str, ...] = ()  # e.g. Yahoo Answers' "id"
    # Class-label columns after the label, name -> classes (CIFAR-100's "coarse_label": 20 superclasses;
    # the fixture's value is the fine label // 5, not the real superclass map).
    trailing_label_columns: tuple[tuple[str, int], ...] = ()
    label_first: bool = False  # DBpedia-14 lists its label before its texts


@dataclass(frozen=True)
class MedMnistSchema:
    """A MedMNIST ``.npz`` as the ``medmnist`` package stores it (28x28, uint8)."""

    channels: int  # 3 (RGB, e.g. PathMNIST) or 1 (grey: the arrays have no channel axis)
    splits: tuple[str, ...] = field(default=("train", "val", "test"))


DIGITS = tuple(str(d) for d in range(10))
SCHEMAS: dict[str, HubSchema | MedMnistSchema] = {
    "mnist": HubSchema(class_names=DIGITS, image_size=28, channels=1),
    "cifar10": HubSchema(
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        image_size=32, channels=3,
    ),
    "cifar100": HubSchema(
        class_names=tuple(
            "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel "
            "can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur "
            "dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion "
            "lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree "
            "pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea "
            "seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table "
            "tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman "
            "worm".split()
        ),
        image_size=32, channels=3, trailing_label_columns=(("coarse_label", 20),),
    ),
    "dbpedia-14": HubSchema(
        class_names=("Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder",
                     "MeanOfTransportation", "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album",
                     "Film", "WrittenWork"),
        text_columns=("title", "content"), label_first=True,
    ),
    "yahoo-answers": HubSchema(
        class_names=("Society & Culture", "Science & Mathematics", "Health", "Education & Reference",
                     "Computers & Internet", "Sports", "Business & Finance", "Entertainment & Music",
                     "Family & Relationships", "Politics & Government"),
        text_columns=("question_title", "question_content", "best_answer"), extra_int_columns=("id",),
    ),
    "pathmnist": MedMnistSchema(channels=3),
    "organamnist": MedMnistSchema(channels=1),
}


def fixture_names() -> list[str]:
    return list(SCHEMAS)


def write_fixtures(
    out_dir: str | Path, names: list[str] | None = None, rows: dict[str, int] | None = None, seed: int = 0
) -> dict[str, Path]:
    """Write the fixtures of ``names`` (default: every dataset the paper preset names) under ``out_dir``."""
    rows = {**DEFAULT_ROWS, **(rows or {})}
    out = Path(out_dir)
    written = {}
    for name in names or fixture_names():
        if name not in SCHEMAS:
            raise ValueError(f"no fixture for dataset {name!r}; fixtures exist for: {', '.join(fixture_names())}")
        spec = get_dataset_spec(name)
        schema = SCHEMAS[name]
        rng = np.random.default_rng([seed, len(name)])
        if isinstance(schema, MedMnistSchema):
            written[name] = _write_medmnist(out / name, spec, schema, rows, rng)
        else:
            written[name] = _write_hub(out / name, spec, schema, rows, rng)
    return written


def _labels(n: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels with every class present, shuffled."""
    labels = np.concatenate([np.arange(num_classes), rng.integers(0, num_classes, max(0, n - num_classes))])
    return rng.permutation(labels)[:max(n, num_classes)]


def _images(labels: np.ndarray, size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 images (N, size, size[, channels]): a bright band whose place depends on the class, plus noise."""
    n = len(labels)
    images = rng.integers(0, 60, (n, size, size, max(channels, 1)), dtype=np.int64)
    band = max(1, size // 12)
    for i, label in enumerate(labels):
        row = (int(label) * band * 2) % (size - band)
        images[i, row:row + band, :, :] += 180
    images = np.clip(images, 0, 255).astype(np.uint8)
    return images[..., 0] if channels == 1 else images


WORDS = ("market", "school", "painter", "match", "minister", "train", "tower", "river", "village", "tiger",
         "flower", "record", "movie", "novel", "health", "network", "family", "law")


def _texts(labels: np.ndarray, column: str, rng: np.random.Generator) -> list[str]:
    return [f"{column} about {WORDS[int(l) % len(WORDS)]} number {int(rng.integers(0, 10_000))}" for l in labels]


def _write_hub(folder: Path, spec: DatasetSpec, schema: HubSchema, rows: dict[str, int],
               rng: np.random.Generator) -> Path:
    import datasets
    from PIL import Image

    if len(schema.class_names) != spec.num_classes:
        raise AssertionError(f"{spec.name}: fixture has {len(schema.class_names)} classes, the registry {spec.num_classes}")
    label = datasets.ClassLabel(names=list(schema.class_names))
    for split in (spec.train_split, spec.test_split):
        labels = _labels(rows["train" if split == spec.train_split else "test"], spec.num_classes, rng)
        columns: dict[str, list] = {}
        features: dict[str, object] = {}
        for column in schema.extra_int_columns:
            columns[column] = list(range(len(labels)))
            features[column] = datasets.Value("int32")
        if schema.label_first:
            columns[spec.label_column], features[spec.label_column] = labels.tolist(), label
        if schema.image_size:
            images = _images(labels, schema.image_size, schema.channels, rng)  # 2-D: mode "L"; RGB otherwise
            columns[spec.image_column] = [Image.fromarray(img) for img in images]
            features[spec.image_column] = datasets.Image()
        for column in schema.text_columns:
            columns[column] = _texts(labels, column, rng)
            features[column] = datasets.Value("string")
        if not schema.label_first:
            columns[spec.label_column], features[spec.label_column] = labels.tolist(), label
        for column, classes in schema.trailing_label_columns:
            columns[column] = (labels * classes // spec.num_classes).tolist()
            features[column] = datasets.ClassLabel(num_classes=classes)
        table = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
        (folder / "data").mkdir(parents=True, exist_ok=True)
        table.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    return folder


def _write_medmnist(folder: Path, spec: DatasetSpec, schema: MedMnistSchema, rows: dict[str, int],
                    rng: np.random.Generator) -> Path:
    arrays = {}
    for split in schema.splits:
        labels = _labels(rows.get(split, rows["test"]), spec.num_classes, rng)
        arrays[f"{split}_images"] = _images(labels, 28, schema.channels, rng)
        arrays[f"{split}_labels"] = labels.astype(np.uint8).reshape(-1, 1)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / f"{spec.medmnist_flag}.npz", **arrays)
    return folder
