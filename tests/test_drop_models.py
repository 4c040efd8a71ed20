"""Freeing a finished run's disk: its client models go, what its figures and tables stand on stays."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tracefl.cli import main
from tracefl.config import load_preset
from tracefl.errors import InputError
from tracefl.runs.checkpoint import completed_rounds, read_client, read_global, read_meta, write_round
from tracefl.steps.drop_models import drop_run_client_models
from tracefl.steps.status import model_reader_outputs

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, rounds: int = 2) -> Path:
    run_dir = tmp_path / "run"
    for rnd in range(1, rounds + 1):
        state = {"w": torch.full((256,), float(rnd))}
        write_round(run_dir, rnd, state, {"0": {"w": torch.zeros(256)}, "1": {"w": torch.ones(256)}},
                    {"round": rnd, "global_accuracy": 0.5})
    return run_dir


def test_drop_keeps_global_models_and_facts_and_says_how_to_get_clients_back(tmp_path):
    run_dir = _run(tmp_path)
    summary = drop_run_client_models(run_dir, tmp_path / "dropped.json")
    assert summary["rounds"] == [1, 2] and summary["rounds_freed"] == [1, 2]
    assert summary["bytes_freed"] >= 4 * 256 * 4  # two clients' float32 tensors a round
    assert json.loads((tmp_path / "dropped.json").read_text()) == summary
    assert not list(run_dir.glob("rounds/*/clients/*")) and completed_rounds(run_dir) == [1, 2]
    assert read_meta(run_dir, 2)["global_accuracy"] == 0.5
    assert torch.equal(read_global(run_dir, 2)["w"], torch.full((256,), 2.0))
    with pytest.raises(InputError, match=r"client models were deleted .*keep_client_models: true and delete .*rounds\.csv"):
        read_client(run_dir, 1, "0")
    again = drop_run_client_models(run_dir, tmp_path / "again.json")  # twice: harmless
    assert again["bytes_freed"] == 0 and again["rounds_freed"] == []


def test_a_folder_without_rounds_is_refused(tmp_path):
    with pytest.raises(InputError, match="no complete round"):
        drop_run_client_models(tmp_path, tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_cli_verb_prints_what_it_freed(tmp_path, capsys):
    run_dir = _run(tmp_path, rounds=1)
    main(["drop-client-models", "--run-dir", str(run_dir), "--out", str(tmp_path / "d.json")])
    assert "deleted the client models of 1 of 1 rounds" in capsys.readouterr().out


def test_the_drop_waits_for_every_step_that_reads_the_models():
    preset = load_preset(ROOT / "config/experiments.yaml", "quick")
    table1 = preset.item_runs("table1")
    faulty_image = next(r for r in table1 if preset.runs[r].faulty_ids and preset.runs[r].data.kind == "image")
    assert {"provenance.csv", "feddebug.csv"} <= set(model_reader_outputs(preset, faulty_image))
    figure1 = preset.item_runs("figure1")[0]
    assert "contributions.csv" in model_reader_outputs(preset, figure1)
    twins = set(preset.twins("table1").values()) - {r for runs in preset.items.values() for r in runs}
    for twin in twins:  # trained only, to judge a faulty run: nothing reads its client models
        assert model_reader_outputs(preset, twin) == []


@pytest.mark.parametrize("keep, drops", [("True", 0), ("False", 1)])
def test_all_frees_the_disk_only_when_asked(tmp_path, keep, drops):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "all", "-n", "--cores", "2", "--snakefile", str(ROOT / "Snakefile"),
         "--configfile", str(ROOT / "tests/data/tiny.yaml"), "--config", f"keep_client_models={keep}"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines() if line.startswith("drop_client_models ")]
    assert bool(lines) == bool(drops), proc.stdout
    if drops:
        assert int(lines[0][1]) == len(load_preset(ROOT / "tests/data/tiny.yaml").runs)
