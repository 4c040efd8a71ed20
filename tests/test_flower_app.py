"""This project as a Flower app (`flwr run .`): its components, run-config defaults and checks.

The run itself is in tests/test_deployment.py; these are the fast checks."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from flwr.common.config import validate_config

from tracefl.config import ConfigError, load_preset
from tracefl.flower.app import RUN_CONFIG_KEYS, resolve_app_run

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def test_pyproject_is_a_valid_flower_app_with_a_default_for_every_run_config_key():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    valid, errors, _ = validate_config(config, check_module=True, project_dir=ROOT)
    assert valid, errors
    assert set(config["tool"]["flwr"]["app"]["config"]) == set(RUN_CONFIG_KEYS)


def test_run_config_names_the_same_run_and_paths_as_the_workflow(tmp_path):
    run = resolve_app_run({"config": str(TINY), "root": str(tmp_path), "preset": "", "run": ""})
    spec = next(iter(load_preset(TINY).runs.values()))
    assert run.spec == spec
    assert run.run_dir == tmp_path / "results" / "runs" / spec.run_id
    assert run.partition_path == tmp_path / "results" / "partitions" / spec.dataset / f"{spec.partition_id}.json"
    assert run.dataset_dir == tmp_path / "resources" / "datasets" / spec.dataset


@pytest.mark.parametrize(
    "run_config, message",
    [
        ({"config": str(TINY), "epochs": "3"}, "unknown key(s) epochs"),
        ({"config": "nowhere.yaml"}, "is not a file"),
        ({"config": str(TINY), "run": "no-such-run"}, "run 'no-such-run' is not in preset 'tiny'"),
    ],
)
def test_bad_run_config_fails_in_one_line(tmp_path, run_config, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_app_run({"root": str(tmp_path), **run_config})


def test_run_config_overrides_run_settings_in_kebab_case_and_the_run_trains_with_them(tmp_path):
    import json

    from tracefl.flower.app import prepare_inputs
    from tracefl.steps.train import train_run

    base = resolve_app_run({"config": str(TINY), "root": str(tmp_path)})
    run = resolve_app_run({"config": str(TINY), "root": str(tmp_path), "rounds": 1, "dirichlet-alpha": 0.5,
                           "local-epochs": 2})
    assert (run.spec.rounds, run.spec.alpha, run.spec.local_epochs) == (1, 0.5, 2)
    assert (base.spec.rounds, base.spec.alpha, base.spec.local_epochs) == (2, 1.0, 1)
    assert run.spec.run_id != base.spec.run_id and run.run_dir.name == run.spec.run_id
    prepare_inputs(run)
    table = train_run(run.spec, run.dataset_dir, run.partition_path, run.run_dir, run.simulation)
    assert list(table["round"]) == [1]  # one round, as overridden
    job = json.loads((run.run_dir / "job.json").read_text())
    assert job["run"]["alpha"] == 0.5 and job["run"]["local_epochs"] == 2
    assert json.loads(run.partition_path.read_text())["alpha"] == 0.5  # partitioned with the override
    assert (run.run_dir / "final_model.safetensors").is_file() and (run.run_dir / "final_model.pt").is_file()


@pytest.mark.parametrize(
    "override, message",
    [({"dirichlet-alpha": -1.0}, "alpha"), ({"num-clients": "many"}, "num_clients"), ({"rounds-total": 3}, "rounds-total")],
)
def test_a_bad_override_stops_with_one_line_naming_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError) as err:
        resolve_app_run({"config": str(TINY), "root": str(tmp_path), **override})
    assert message in str(err.value) and "\n" not in str(err.value)
