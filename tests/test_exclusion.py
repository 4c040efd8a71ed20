"""Retraining without clients (run settings exclude_clients / exclude_from_round), against the
counterfactual re-aggregation of the recorded round (tracefl.audit.repair)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from flwr.app import ArrayRecord, ConfigRecord
from flwr.supercore.task_identity import TaskIdentity

from tracefl.config import ConfigError, RunSpec, load_preset
from tracefl.flower.strategy import SeededFedAvg

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
BASE = {"dataset": "digits", "model": "tiny-cnn", "num_clients": 4, "clients_per_round": 4, "rounds": 2}


def test_the_settings_at_their_defaults_keep_run_ids():
    plain = RunSpec.from_mapping(BASE)
    assert RunSpec.from_mapping({**BASE, "exclude_clients": [], "exclude_from_round": 1}).run_id == plain.run_id
    assert RunSpec.from_mapping({**BASE, "exclude_clients": [0], "exclude_from_round": 2}).run_id != plain.run_id


@pytest.mark.parametrize("change, message", [
    ({"exclude_clients": [4]}, "exclude_clients = \\(4,\\) is not allowed; client ids must be between 0 and 3"),
    ({"exclude_clients": [0, 1, 2, 3]}, "excludes every client"),
    ({"exclude_clients": [0], "exclude_from_round": 3}, "exclude_from_round = 3 is not allowed; must be <= rounds"),
    ({"exclude_clients": [0], "dp_clip": 1.0, "dp_noise": 0.1}, "noise is sized for clients_per_round"),
])
def test_bad_exclusions_fail_in_one_line_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        RunSpec.from_mapping({**BASE, **change})


class _Grid:
    def get_node_ids(self):
        return [101, 102, 103, 104, 105, 106]


def test_excluded_clients_are_never_sampled_from_their_round_on():
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    nodes = {str(i): 101 + i for i in range(6)}
    strategy = SeededFedAvg(nodes, 3, seed=5, excluded=(2, 4), exclude_from_round=3)
    reference = SeededFedAvg(nodes, 3, seed=5)
    arrays = ArrayRecord({"w": torch.zeros(1)})
    for rnd in range(1, 30):
        sent = {m.metadata.dst_node_id for m in strategy.configure_train(rnd, arrays, ConfigRecord(), _Grid())}
        same = {m.metadata.dst_node_id for m in reference.configure_train(rnd, arrays, ConfigRecord(), _Grid())}
        if rnd < 3:
            assert sent == same  # earlier rounds are the original run's
        else:
            assert len(sent) == 3 and not sent & {103, 105}


def _cli(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "tracefl", *args], cwd=ROOT, capture_output=True, text=True,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_retraining_without_a_client_equals_the_counterfactual_round(tmp_path):
    """Table I's tiny run (client 0 flips labels, all 4 clients every round), retrained without
    client 0 from round 2: round 1 is the original bit for bit, round 2 is the original round 2
    re-aggregated without client 0 (the same local training of clients 1-3)."""
    from safetensors.torch import load_file

    from tracefl.audit import repair

    preset = load_preset(TINY)
    spec = next(s for s in preset.runs.values() if s.faulty_clients)
    simulation = json.dumps(preset.simulation.to_dict())
    data, part = tmp_path / "digits", tmp_path / "part.json"
    _cli("download", "--dataset", "digits", "--out", str(data))
    _cli("partition", "--spec", json.dumps(spec.to_job_dict()), "--data-dir", str(data), "--out", str(part))
    retrain = {**spec.to_job_dict(), "exclude_clients": [0], "exclude_from_round": 2}
    for name, settings in (("original", spec.to_job_dict()), ("retrain", retrain)):
        _cli("train", "--spec", json.dumps(settings), "--simulation", simulation, "--data-dir", str(data),
             "--partition", str(part), "--run-dir", str(tmp_path / name), "--cpus", "1")
    original, retrained = tmp_path / "original" / "rounds", tmp_path / "retrain" / "rounds"
    first_a, first_b = load_file(original / "0001/global.safetensors"), load_file(retrained / "0001/global.safetensors")
    assert all(torch.equal(first_a[k], first_b[k]) for k in first_a)
    meta = yaml.safe_load((retrained / "0002/meta.json").read_text())
    assert meta["participants"] == ["1", "2", "3"]
    counterfactual = repair.aggregate(repair.recorded_replies(tmp_path / "original", 2), 2, exclude=["0"])
    real = load_file(retrained / "0002/global.safetensors")
    for key in real:
        torch.testing.assert_close(counterfactual[key], real[key], atol=1e-5, rtol=0)

    # The audit of the original run on its server test set (the model from its job.json) names
    # the flipper, and the counterfactual rows know it as the oracle.
    from tracefl.config.job import Job

    job = Job(spec, preset.provenance, preset.simulation)
    (tmp_path / "original" / "job.json").write_text(job.to_json())  # as the workflow's job_file rule writes it
    out = tmp_path / "audit" / "audit.png"
    _cli("audit", "--run-dir", str(tmp_path / "original"), "--data-dir", str(data), "--out", str(out), "--repair")
    audit = pd.read_csv(out.with_name("audit.csv"), dtype={"client": str})
    assert audit.loc[audit["flagged"], "client"].tolist() == ["0"]
    repaired = pd.read_csv(out.with_name("repair.csv"), dtype={"excluded": str}).set_index("method")
    assert repaired.loc["oracle", "excluded"] == "0" and repaired.loc["oracle", "recall"] == 1.0
