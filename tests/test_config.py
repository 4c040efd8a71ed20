"""Config validation: bad values fail at once with one line naming the key and what is allowed."""

from pathlib import Path

import pytest

from tracefl.config import ConfigError, ProvenanceSettings, RunSpec, load_preset, resolve_preset
from tracefl.report.seeds import settings_key

ROOT = Path(__file__).resolve().parents[1]


def test_presets_resolve_and_run_ids_are_unique_and_stable():
    quick = load_preset(ROOT / "config/experiments.yaml", "quick")
    paper = load_preset(ROOT / "config/experiments.yaml", "paper")
    # quick: 4 image panels + the AG News text panel when ../shared/data/ag_news_test.csv is here;
    # every panel is 3 seeds (one panel per setting)
    text_skipped = sum(".figure2[" in note for note in quick.skipped)
    assert len({settings_key(quick.runs[r]) for r in quick.items["figure2"]}) == 5 - text_skipped
    assert len(quick.items["figure2"]) == 15 - 3 * text_skipped
    # ... and 30 ground-truth runs (20 without the text data)
    assert len(quick.items["ground_truth"]) == 30 - 10 * sum(".ground_truth[" in note for note in quick.skipped)
    # every setting of every item but Figure 1 has 3 seeds or more (5 in the ground truth)
    for key, run_ids in quick.items.items():
        seeds: dict[str, int] = {}
        for run_id in run_ids:
            seeds[settings_key(quick.runs[run_id])] = seeds.get(settings_key(quick.runs[run_id]), 0) + 1
        assert min(seeds.values()) >= (1 if key == "figure1" else 5 if key == "ground_truth" else 3), key
    # a faulty Table I run is judged on its fault-free twin, a run of the preset (most of them Figure 2/3's)
    twins = quick.twins("table1")
    assert len(twins) == len(quick.items["table1"]) and set(twins.values()) <= set(quick.runs)
    assert not any(quick.runs[t].faulty_ids for t in twins.values())
    assert len(paper.items["figure2"]) == 13  # the paper's 12 panels and CIFAR-100 (the seed baseline's)
    again = load_preset(ROOT / "config/experiments.yaml", "quick")
    assert quick.items == again.items
    first = quick.runs[quick.items["figure2"][0]]
    assert first.run_id.startswith("mnist-5k-cnn-c10-p10-r15-")


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


# --- the schema checked before any job (generated; workflow/schemas/config.schema.yaml) ----


def _config():
    from tracefl.config import load_config

    return load_config(ROOT / "config/experiments.yaml")


def test_shipped_configs_satisfy_the_schema():
    from tracefl.config import config_schema_error, load_config

    assert config_schema_error(_config()) == ""
    assert config_schema_error(load_config(ROOT / "tests/data/tiny.yaml")) == ""


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("presets", "quick", "defaults", "alpha"), 0, "presets.quick.defaults.alpha = 0 is not allowed; allowed: a number > 0"),
        (("presets", "quick", "defaults", "num_clients"), 0, "presets.quick.defaults.num_clients = 0 is not allowed; allowed: an integer >= 1"),
        (("presets", "quick", "defaults", "optimizer"), "lbfgs", "allowed: one of auto, adam, adamw, hf-trainer, sgd"),
        (("presets", "quick", "defaults", "lr"), "fast", "lr = 'fast' is not allowed; allowed: 'auto' or a number > 0"),
        (("presets", "quick", "defaults", "colour"), "red", "unknown key 'colour' in presets.quick.defaults; allowed: alpha,"),
        (("presets", "quick", "figure4", 0, "dp_noise"), -0.5, "presets.quick.figure4[0].dp_noise = -0.5 is not allowed; allowed: a number >= 0"),
        (("presets", "quick", "table1", 0, "faulty_clients"), [-1], "presets.quick.table1[0].faulty_clients[0] = -1 is not allowed"),
        (("presets", "quick", "figure3", 0, "sweep", "colour"), [1], "unknown key 'colour' in presets.quick.figure3[0].sweep; allowed: one of dataset,"),
        (("presets", "quick", "provenance", "client_weighting"), "uniform", "allowed: one of none, data_size"),
        (("presets", "quick", "provenance", "layer_decay"), 1.5, "layer_decay = 1.5 is not allowed; allowed: null or a number > 0 and <= 1"),
        (("presets", "quick", "simulation", "device"), "tpu", "allowed: one of auto, cpu, cuda"),
        (("local_datasets", "ag-news", "kind"), "audio", "local_datasets.ag-news.kind = 'audio' is not allowed; allowed: one of image, text"),
    ],
)
def test_schema_errors_are_one_line_naming_key_and_allowed(path, value, expected):
    from tracefl.config import config_schema_error

    config = _config()
    node = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    message = config_schema_error(config)
    assert expected in message and "\n" not in message, message


def test_schema_file_is_the_generated_schema():
    """workflow/schemas/config.schema.yaml is written from the settings' declarations."""
    from tracefl.config.schema import schema_text

    shipped = (ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text()
    assert shipped == schema_text(), "run `python -m tracefl schema --write` after changing a setting or an item"


def test_every_run_setting_is_declared_once_with_its_bounds():
    """The schema's run settings, the spec's fields and the partitioner's checks are one list."""
    from dataclasses import fields

    from tracefl.config import config_schema
    from tracefl.config.fields import setting_schemas
    from tracefl.steps.partition import check_partition_settings

    declared = setting_schemas(RunSpec)
    schema = config_schema()["$defs"]
    assert list(schema["run_settings"]["properties"]) == list(declared)
    assert schema["run_setting_name"]["enum"] == list(declared)
    assert [f.name for f in fields(RunSpec) if f.name != "dataset_spec"] == list(declared)
    item_keys = set(schema["item"]["items"]["properties"]) - {"sweep", "optional"}
    assert item_keys == set(declared)
    # the same bound stops a spec, the config and the partition step
    with pytest.raises(ConfigError, match="alpha = 0 is not allowed; allowed: a number > 0"):
        RunSpec.from_mapping({"dataset": "digits", "model": "cnn", "alpha": 0})
    with pytest.raises(ConfigError, match="partition.alpha = 0 is not allowed; allowed: a number > 0"):
        check_partition_settings({"num_clients": 2, "alpha": 0, "seed": 1, "min_label_examples": 0,
                                  "max_client_samples": 4})


def test_a_sweep_value_of_the_wrong_type_names_the_key():
    config = _config()
    config["presets"]["quick"]["figure3"][0]["sweep"]["alpha"] = [0.1, "lots"]
    with pytest.raises(ConfigError, match=r"figure3\[0\]\.alpha = 'lots' is not allowed; allowed: a number > 0"):
        resolve_preset(config, "quick")


def test_reading_the_config_imports_neither_torch_nor_matplotlib():
    import subprocess
    import sys

    code = ("import sys; from tracefl.config import load_preset; "
            "p = load_preset('config/experiments.yaml', 'paper'); "
            "print(len(p.runs), 'torch' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split()[1:] == ["False", "False"], out.stdout + out.stderr


def test_run_ids_are_pinned():
    """A run id is a path on disk: the same settings must keep giving the same id (whatever rounds the
    shipped config gives a panel today: these are settings it once had, spelled out)."""
    base = dict(dataset="mnist-5k", model="cnn", num_clients=10, clients_per_round=10, rounds=15, alpha=0.3,
                local_epochs=2, batch_size=32, lr=0.001, optimizer="adam", pretrained=False, seed=42,
                max_client_samples=2048, min_label_examples=2, max_server_samples=2048)
    assert [RunSpec(**{**base, **change}).run_id for change in (
        {},
        {"model": "resnet18", "rounds": 12, "min_label_examples": 10},
        {"model": "densenet121", "rounds": 10, "min_label_examples": 10},
        {"dataset": "digits", "batch_size": 16},
    )] == [
        "mnist-5k-cnn-c10-p10-r15-a0.3-s42-e47d65da",
        "mnist-5k-resnet18-c10-p10-r12-a0.3-s42-2832255c",
        "mnist-5k-densenet121-c10-p10-r10-a0.3-s42-ec61b6cf",
        "digits-cnn-c10-p10-r15-a0.3-s42-22bea0d4",
    ]
    quick = load_preset(ROOT / "config/experiments.yaml", "quick")
    assert [r for r in quick.items["figure2"] if "-s42-" in r][0] == "mnist-5k-cnn-c10-p10-r15-a0.3-s42-e47d65da"


def test_a_jobs_dataset_description_must_match_its_name():
    spec = RunSpec(dataset="mnist", model="cnn")
    job = spec.to_job_dict()
    job["dataset_spec"] = RunSpec(dataset="cifar10", model="cnn").to_job_dict()["dataset_spec"]
    with pytest.raises(ConfigError, match="dataset_spec describes 'cifar10', not 'mnist'"):
        RunSpec.from_mapping(job)
    job["dataset_spec"] = {"name": "mnist", "colour": "red"}
    with pytest.raises(ConfigError, match="run.dataset_spec"):
        RunSpec.from_mapping(job)


def test_validate_run_checks_every_declared_bound():
    from tracefl.config import validate_run

    with pytest.raises(ConfigError, match="rounds = 0 is not allowed"):
        validate_run(RunSpec(dataset="mnist", model="cnn", rounds=0))
    with pytest.raises(ConfigError, match="num_clients = 10.0 is not allowed"):
        RunSpec.from_mapping({"dataset": "mnist", "model": "cnn", "num_clients": 10.0})


def test_numpy_legacy_seed_is_reproducible_and_restores_the_global_state():
    import numpy as np

    from tracefl.seeding import numpy_legacy_seed

    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    with numpy_legacy_seed(7):
        first = np.random.normal(size=3)
    with numpy_legacy_seed(7):
        assert (np.random.normal(size=3) == first).all()
    assert np.random.random() == expected_next


def test_a_configfile_is_merged_over_the_workflows_config_as_snakemake_does():
    """`--config tests/data/tiny.yaml --preset quick`: the tiny file adds its preset to
    config/experiments.yaml's, so both resolve (and the tiny file's own `preset:` is the default)."""
    from tracefl.config.presets import load_preset

    tiny = Path(__file__).parent / "data" / "tiny.yaml"
    assert load_preset(tiny).name == "tiny"
    assert load_preset(tiny, "quick").name == "quick"


def test_partition_setting_names_itself_in_the_run_and_partition_ids_and_is_checked():
    base = {"dataset": "mnist-5k", "model": "cnn"}
    plain = RunSpec.from_mapping(base)
    neighbouring = RunSpec.from_mapping({**base, "partition": "neighbouring-labels"})
    assert "neighbouring" not in plain.run_id and "partition" not in plain.to_dict()  # old ids kept
    assert neighbouring.run_id.startswith("mnist-5k-cnn-neighbouring-labels-c10-")
    assert neighbouring.partition_id.endswith("-neighbouring-labels") and plain.partition_id != neighbouring.partition_id
    with pytest.raises(ConfigError, match=r"^run\.partition = 'stripes' is not allowed; allowed: one of dirichlet, neighbouring-labels$"):
        RunSpec.from_mapping({**base, "partition": "stripes"})
    with pytest.raises(ConfigError, match=r"^run\.partition = 'neighbouring-labels' is not allowed; a planted scenario"):
        RunSpec.from_mapping({**base, "partition": "neighbouring-labels", "scenario": "backdoor"})
