"""Offline fixtures of the paper's datasets: the real sources' schema, read by the real loaders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tracefl.config import ConfigError, load_config, resolve_preset
from tracefl.data.fixtures import SCHEMAS, HubSchema, fixture_names, write_fixtures
from tracefl.data.registry import get_dataset_spec
from tracefl.steps.download import download_dataset
from tracefl.data.store import load_split

ROOT = Path(__file__).resolve().parents[1]
PAPER_DATASETS = {"mnist", "cifar10", "cifar100", "dbpedia-14", "yahoo-answers", "pathmnist", "organamnist"}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("fixtures"), rows={"train": 60, "test": 30})


def test_there_is_a_fixture_for_every_dataset_of_the_paper_preset():
    preset = resolve_preset(load_config(ROOT / "config" / "experiments.yaml"), "paper")
    hub = {spec.dataset for spec in preset.runs.values() if spec.data.source != "bundled"}
    assert hub == PAPER_DATASETS == set(fixture_names())
    # the repair item's new scenarios use MNIST 5k, bundled with a pip package (offline as it is)
    assert {spec.dataset for spec in preset.runs.values()} - hub == {"mnist-5k"}


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100", "dbpedia-14", "yahoo-answers"])
def test_hub_fixtures_have_the_hubs_columns_and_feature_types(fixtures, name):
    import datasets

    spec, schema = get_dataset_spec(name), SCHEMAS[name]
    splits = datasets.load_dataset(str(fixtures[name]))
    assert set(splits) == {"train", "test"}
    expected_columns = {
        "mnist": ["image", "label"],
        "cifar10": ["img", "label"],
        "cifar100": ["img", "fine_label", "coarse_label"],
        "dbpedia-14": ["label", "title", "content"],
        "yahoo-answers": ["id", "question_title", "question_content", "best_answer", "topic"],
    }[name]
    for split in splits.values():
        assert split.column_names == expected_columns
        label = split.features[spec.label_column]
        assert isinstance(label, datasets.ClassLabel) and label.num_classes == spec.num_classes
        assert label.names == list(schema.class_names)
        assert set(split[spec.label_column]) == set(range(spec.num_classes))  # every class present
        if isinstance(schema, HubSchema) and schema.image_size:
            assert isinstance(split.features[spec.image_column], datasets.Image)
            image = split[0][spec.image_column]
            assert image.size == (schema.image_size, schema.image_size)
            assert image.mode == ("L" if schema.channels == 1 else "RGB")
        else:
            for column in schema.text_columns:
                assert split.features[column].dtype == "string"


@pytest.mark.parametrize("name, channels, classes", [("pathmnist", 3, 9), ("organamnist", 1, 11)])
def test_medmnist_fixtures_are_npz_files_as_the_package_stores_them(fixtures, name, channels, classes):
    with np.load(fixtures[name] / f"{name}.npz") as npz:
        assert sorted(npz.files) == sorted(f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels"))
        images, labels = npz["train_images"], npz["train_labels"]
    assert images.dtype == np.uint8 and labels.dtype == np.uint8 and labels.shape == (len(images), 1)
    assert images.shape[1:] == ((28, 28, 3) if channels == 3 else (28, 28))
    assert set(labels.ravel()) == set(range(classes))


@pytest.mark.parametrize("name", sorted(PAPER_DATASETS))
def test_the_download_step_reads_each_fixture_through_the_real_loader(fixtures, tmp_path, name):
    spec = get_dataset_spec(name)
    out = download_dataset(spec, tmp_path / name, source_path=str(fixtures[name]))
    x, y = load_split(out, "train")
    meta = json.loads((Path(out) / "meta.json").read_text())
    assert meta["source"] == spec.source and str(fixtures[name]) in meta["origin"]
    assert set(y.tolist()) == set(range(spec.num_classes)) and len(x) == len(y) >= 60
    if spec.kind == "image":
        side = 32 if name in ("cifar10", "cifar100") else 28
        assert x.dtype == np.uint8 and x.shape[1:3] == (side, side)
        assert x.ndim == (4 if name in ("cifar10", "cifar100", "pathmnist") else 3)
    else:
        assert all(isinstance(t, str) and t for t in x[:5])


def test_config_fixtures_become_the_datasets_sources_and_dataset_sources_win(fixtures, tmp_path):
    config = load_config(ROOT / "config" / "experiments.yaml")
    root = fixtures["mnist"].parent
    preset = resolve_preset({**config, "fixtures": str(root)}, "paper")
    assert {k: Path(v) for k, v in preset.dataset_sources.items()} == {n: fixtures[n].resolve() for n in PAPER_DATASETS}
    mine = resolve_preset({**config, "fixtures": str(root), "dataset_sources": {"mnist": "/data/mnist"}}, "paper")
    assert mine.dataset_sources["mnist"] == "/data/mnist"
    with pytest.raises(ConfigError, match="fixtures = .* is not a folder; write one with python -m tracefl fixtures"):
        resolve_preset({**config, "fixtures": str(tmp_path / "nowhere")}, "paper")


def test_paper_dry_run_with_fixtures_downloads_from_them(fixtures, tmp_path):
    root = fixtures["mnist"].parent
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1", "--directory", str(tmp_path),
         "--snakefile", str(ROOT / "Snakefile"), "--configfile", str(ROOT / "config" / "experiments.yaml"),
         "--config", "preset=paper", f"fixtures={root}", "--", "resources/datasets/mnist",
         "resources/datasets/pathmnist"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"--source-path {fixtures['mnist'].resolve()}" in proc.stdout
    assert f"--source-path {fixtures['pathmnist'].resolve()}" in proc.stdout


def test_fixtures_verb_writes_every_dataset(tmp_path):
    from tracefl.cli import main

    assert main(["fixtures", "--out", str(tmp_path), "--datasets", "mnist", "organamnist", "--train-rows", "20",
                 "--test-rows", "15"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist", "organamnist"]
