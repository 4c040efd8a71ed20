"""Config validation: bad values fail at once with one line naming the key and what is allowed."""

from pathlib import Path

import pytest

from tracefl.config import ConfigError, ProvenanceSettings, RunSpec, load_preset, resolve_preset

ROOT = Path(__file__).resolve().parents[1]


def test_presets_resolve_and_run_ids_are_unique_and_stable():
    quick = load_preset(ROOT / "config/experiments.yaml", "quick")
    paper = load_preset(ROOT / "config/experiments.yaml", "paper")
    # quick: 4 image panels + the AG News text panel when ../shared/data/ag_news_test.csv is here
    assert len(quick.items["figure2"]) == 5 - len(quick.skipped)
    assert len(paper.items["figure2"]) == 12
    again = load_preset(ROOT / "config/experiments.yaml", "quick")
    assert quick.items == again.items
    first = quick.runs[quick.items["figure2"][0]]
    assert first.run_id.startswith("mnist-5k-cnn-c10-p4-")


def test_run_id_changes_with_any_setting():
    a = RunSpec(dataset="digits", model="cnn")
    b = RunSpec(dataset="digits", model="cnn", lr=0.01)
    assert a.run_id != b.run_id
    assert RunSpec.from_mapping(a.to_dict()) == a


@pytest.mark.parametrize(
    "override, key",
    [
        ({"dataset": "imagenet"}, "dataset"),
        ({"model": "vgg"}, "model"),
        ({"alpha": 0}, "alpha"),
        ({"alpha": -1}, "alpha"),
        ({"clients_per_round": 11}, "clients_per_round"),
        ({"faulty_clients": [10], "label_flip": {1: 0}}, "faulty_clients"),
        ({"dp_noise": -0.1}, "dp_noise"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"label_flip": {12: 0}, "faulty_clients": [0]}, "label_flip"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_run_settings_name_the_key(override, key):
    with pytest.raises(ValueError) as err:
        RunSpec.from_mapping({"dataset": "mnist-5k", "model": "cnn", **override})
    message = str(err.value)
    assert key in message and "\n" not in message


def test_bad_preset_and_provenance_settings():
    with pytest.raises(ConfigError, match="preset"):
        resolve_preset({"presets": {"quick": {}}}, "nope")
    with pytest.raises(ConfigError, match="client_weighting.*none, data_size"):
        ProvenanceSettings.from_mapping({"client_weighting": "uniform"})
