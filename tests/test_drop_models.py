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


def _dry_run(work: Path, *args: str) -> subprocess.CompletedProcess:
    shutil.copytree(ROOT / "config", work / "config", dirs_exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "-n", "--cores", "2", "--snakefile", str(ROOT / "Snakefile"),
         "--configfile", str(ROOT / "tests/data/tiny.yaml")],
        capture_output=True, text=True, cwd=work,
    )


def test_the_drop_waits_for_every_step_that_reads_the_models(tmp_path):
    preset = load_preset(ROOT / "tests/data/tiny.yaml")
    faulty = next(r for r in preset.item_runs("table1") if preset.runs[r].faulty_ids)
    proc = _dry_run(tmp_path, f"results/runs/{faulty}/client_models_dropped.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = {line.split()[0] for line in proc.stdout.splitlines() if line.split()[-1:] == ["1"]}
    assert {"train_fl", "provenance", "feddebug", "repair", "drop_client_models"} <= steps, proc.stdout
    twin = preset.twins("table1")[faulty]  # trained only, to judge the faulty run: nothing traces it
    proc = _dry_run(tmp_path, f"results/runs/{twin}/client_models_dropped.json")
    assert proc.returncode == 0 and "provenance " not in proc.stdout and "drop_client_models " in proc.stdout, proc.stdout


def test_a_step_on_a_dropped_run_says_what_happened(tmp_path):
    from tracefl.runs.load import check_participants

    run_dir = _run(tmp_path)
    for rnd in (1, 2):  # what a workflow round's meta lists
        meta = read_meta(run_dir, rnd)
        meta["participants"] = ["0", "1"]
        (run_dir / "rounds" / f"{rnd:04d}" / "meta.json").write_text(json.dumps(meta))
    check_participants(run_dir, 1, read_meta(run_dir, 1))
    drop_run_client_models(run_dir, tmp_path / "d.json")
    with pytest.raises(InputError, match=r"round 1's client models were deleted once every step .*/rounds/ \(the run"):
        check_participants(run_dir, 1, read_meta(run_dir, 1))


@pytest.mark.parametrize("keep, drops", [("True", 0), ("False", 1)])
def test_all_frees_the_disk_only_when_asked(tmp_path, keep, drops):
    proc = _dry_run(tmp_path, "all", "--config", f"keep_client_models={keep}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines() if line.startswith("drop_client_models ")]
    assert bool(lines) == bool(drops), proc.stdout
    if drops:
        assert int(lines[0][1]) == len(load_preset(ROOT / "tests/data/tiny.yaml").runs)
