"""Expected failures end in one line that names the file (or key) and what to do, with a
non-zero exit, before any expensive work; incomplete inputs are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from tracefl.config import ConfigError, RunSpec, load_config, resolve_preset
from tracefl.errors import InputError
from tracefl.runs.checkpoint import read_global, write_round

ROOT = Path(__file__).resolve().parents[1]
SPEC = RunSpec(dataset="digits", model="tiny-cnn", num_clients=2, clients_per_round=2, rounds=2, batch_size=16)


def tracefl(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracefl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_feddebug_on_a_missing_run_fails_and_writes_nothing(tmp_path):
    spec = {**SPEC.to_dict(), "faulty_clients": [0], "label_flip": {"1": 0}}
    proc = tracefl("feddebug", "--spec", json.dumps(spec), "--run-dir", str(tmp_path / "nope"),
                   "--out", str(tmp_path / "fd.csv"))
    assert proc.returncode == 1
    assert str(tmp_path / "nope") in one_line(proc) and "0 of 2 rounds" in one_line(proc)
    assert not (tmp_path / "fd.csv").exists()


def test_a_corrupt_partition_fails_before_ray_starts(tmp_path):
    data = tmp_path / "digits"
    assert tracefl("download", "--dataset", "digits", "--out", str(data)).returncode == 0
    from tracefl.data.registry import get_dataset_spec
    from tracefl.data.store import load_meta

    assert load_meta(data)["n_train"] == get_dataset_spec("digits").train_examples  # the early check's number
    (tmp_path / "part.json").write_text('{"num_clients": 2, "clie')
    proc = tracefl("train", "--spec", json.dumps(SPEC.to_dict()), "--data-dir", str(data),
                   "--partition", str(tmp_path / "part.json"), "--run-dir", str(tmp_path / "run"))
    line = one_line(proc)
    assert proc.returncode == 1 and str(tmp_path / "part.json") in line and "partition step again" in line
    assert "ray" not in proc.stdout.lower()


def test_bad_json_and_debug_traceback(tmp_path):
    proc = tracefl("partition", "--spec", "{not json", "--data-dir", str(tmp_path), "--out", str(tmp_path / "p.json"))
    assert proc.returncode == 2 and "--spec is not valid JSON" in one_line(proc)
    proc = tracefl("--debug", "partition", "--spec", "{not json", "--data-dir", str(tmp_path), "--out", "p.json")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_a_truncated_model_file_names_the_file(tmp_path):
    write_round(tmp_path, 1, {"w": torch.ones(64)}, {"0": {"w": torch.zeros(64)}}, {"round": 1})
    path = tmp_path / "rounds" / "0001" / "global.safetensors"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match=f"{path}: unreadable .*train it again"):
        read_global(tmp_path, 1)


def _finished_run(runs: Path, rows: int) -> None:
    run = runs / SPEC.run_id
    run.mkdir(parents=True)
    pd.DataFrame({"round": [1, 2], "global_accuracy": [0.5, 0.6], "global_loss": [1.0, 0.9],
                  "participants": ["0 1", "0 1"]}).to_csv(run / "rounds.csv", index=False)
    table = pd.DataFrame({"round": [1, 1, 2, 2], "kind": "correct", "input_id": [0, 1, 0, 1], "true_label": 0,
                          "predicted_label": 0, "traced_client": 0, "label_held": 1, "label_held_chance": 0.5,
                          "top_holder": 1, "top_holder_chance": 0.5, "seconds": 0.01})
    table.to_csv(run / "provenance.csv", index=False)
    (run / "provenance.csv.json").write_text(json.dumps({"rounds": [1, 2], "rows": rows}))


@pytest.mark.parametrize("rows, ok", [(4, True), (6, False)])
def test_report_refuses_a_provenance_table_with_rows_missing(tmp_path, rows, ok):
    _finished_run(tmp_path / "runs", rows)
    proc = tracefl("report", "--item", "figure2", "--specs", json.dumps([SPEC.to_job_dict()]),
                   "--runs-dir", str(tmp_path / "runs"), "--out-prefix", str(tmp_path / "out" / "figure2"))
    if ok:
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "out" / "figure2.pdf").exists()
    else:
        assert proc.returncode == 1 and "4 complete rows of 6 written" in one_line(proc)
        assert not (tmp_path / "out" / "figure2.pdf").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p["figure2"][0].pop("dataset"), "presets.quick.figure2[0].dataset is required"),
        (lambda p: p["figure2"][0].update(pretrained=True), "model 'cnn' has no pretrained weights"),
        (lambda p: p["figure2"][0].update(batch_size=4096), "figure2[0].batch_size = 4096 is not allowed"),
        (lambda p: p["table1"][0].update(label_flip={"x": 0}), "table1[0].label_flip: key 'x' is not a label"),
        (lambda p: p["figure3"][0]["sweep"].update(alpha=[0.1, "a"]), "figure3[0].alpha = 'a' is not allowed"),
        (lambda p: p["table3"][0]["sweep"].update(num_clients=[5000]),
         "table3[0].num_clients = 5000 is not allowed; dataset 'mnist-5k' has 4000 training examples"),
    ],
)
def test_config_mistakes_stop_with_one_line_naming_the_key(change, message):
    config = load_config(ROOT / "config" / "experiments.yaml")
    change(config["presets"]["quick"])
    with pytest.raises(ConfigError) as err:
        resolve_preset(config, "quick")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_local_dataset_name_must_be_an_identifier():
    config = load_config(ROOT / "config" / "experiments.yaml")
    config["local_datasets"][".."] = config["local_datasets"]["ag-news"]
    with pytest.raises(ConfigError, match=r"local_datasets: name '\.\.' is not allowed"):
        resolve_preset(config, "quick")


def test_bench_takes_its_own_options():
    proc = tracefl("bench", "--help")
    assert proc.returncode == 0 and "--full-reference" in proc.stdout, proc.stderr


def test_status_shows_every_run_and_what_is_left(tmp_path):
    _finished_run(tmp_path / "results" / "runs", 4)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "experiments.yaml").write_text(json.dumps(
        {"presets": {"p": {"figure2": [{"dataset": "digits", "model": "tiny-cnn", "num_clients": 2,
                                        "clients_per_round": 2, "rounds": 2, "batch_size": 16}]}}}))
    proc = tracefl("status", "--preset", "p", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert SPEC.run_id in proc.stdout and " done " in proc.stdout  # rounds.csv and provenance are there
    assert ("to build: 0 training(s), 0 provenance run(s), 0 FedDebug run(s), 2 figure(s)/table(s): "
            "figure2, ablation_weighting") in proc.stdout
    (tmp_path / "results" / "runs" / SPEC.run_id / "provenance.csv").unlink()
    proc = tracefl("status", "--preset", "p", cwd=tmp_path)
    assert "provenance" in proc.stdout.splitlines()[2] and "1 provenance run(s)" in proc.stdout
