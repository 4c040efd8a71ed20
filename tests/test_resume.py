"""Interrupted training resumes to the same result, and runs are reproducible from scratch.

Real Flower/Ray simulations of the tiny preset through Snakemake (each start costs about
15 s on 2 cores), so the tests share one uninterrupted reference build of Figure 2.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
PROFILE = ROOT / "profiles" / "default"  # cores: 2, rerun-incomplete: true

# Loaded through PYTHONPATH as `sitecustomize` into every Python process of the interrupted
# run. When the training process has written the first file of round 2 (into
# rounds/0002.tmp/), it writes "pid pgid" to $TRACEFL_TEST_PAUSE_FILE and sleeps, so the
# test's SIGKILL lands at a known point: round 1 complete, round 2 half-written.
PAUSE_HOOK = '''
import os
import sys

_FLAG = os.environ.get("TRACEFL_TEST_PAUSE_FILE")


class _PauseInRound2:
    """Import hook: wrap save_file of tracefl.runs.checkpoint once that module loads."""

    def find_spec(self, name, path=None, target=None):
        if name != "tracefl.runs.checkpoint":
            return None
        import importlib.util
        import time

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            save = module.save_file

            def save_then_pause(tensors, filename, *args, **kwargs):
                save(tensors, filename, *args, **kwargs)
                if os.sep + "0002.tmp" + os.sep in str(filename):
                    with open(_FLAG + ".part", "w") as handle:
                        handle.write(f"{os.getpid()} {os.getpgid(0)}")
                    os.replace(_FLAG + ".part", _FLAG)
                    time.sleep(3600)

            module.save_file = save_then_pause

        spec.loader.exec_module = exec_module
        return spec


if _FLAG:
    sys.meta_path.insert(0, _PauseInRound2())
'''


def _workdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "config", path / "config")
    return path


def _snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--profile", str(PROFILE),
            "--configfile", str(TINY), *args]


def _snakemake(work: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(_snakemake_cmd(*args), cwd=work, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, _explain(work, proc.stdout + proc.stderr)
    return proc


def _explain(work: Path, output: str) -> str:
    log_dir = work / "results" / "logs"
    files = sorted(log_dir.rglob("*.log")) if log_dir.is_dir() else []
    logs = "\n".join(f"== {p}\n{p.read_text(errors='replace')[-3000:]}" for p in files)
    return f"{logs}\n== snakemake\n{output[-6000:]}"


def _run_dir(work: Path) -> Path:
    (run,) = (work / "results" / "runs").iterdir()
    return run


def _weights(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in (run / "rounds").rglob("*.safetensors"))


def assert_same_training(expected: Path, actual: Path) -> None:
    """rounds.csv and every saved model (global and clients, every round) bit for bit."""
    assert (actual / "rounds.csv").read_bytes() == (expected / "rounds.csv").read_bytes()
    names = _weights(expected)
    assert names and _weights(actual) == names
    different = [n for n in names if (actual / n).read_bytes() != (expected / n).read_bytes()]
    assert not different, f"weights differ from the reference run: {different}"
    # The exported final model is the last round's global model, resumed or not.
    last = sorted(p for p in (actual / "rounds").iterdir() if p.name.isdigit())[-1] / "global.safetensors"
    assert (actual / "final_model.safetensors").read_bytes() == last.read_bytes()
    assert (actual / "final_model.pt").read_bytes() == (expected / "final_model.pt").read_bytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The tiny Figure 2, built once from scratch without interruption."""
    work = _workdir(tmp_path_factory.mktemp("reference"))
    _snakemake(work, "--", "results/figure2.pdf")
    return work


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_result(reference, tmp_path):
    ref_run = _run_dir(reference)
    target = f"results/runs/{ref_run.name}/rounds.csv"
    work = _workdir(tmp_path / "work")
    run = work / "results" / "runs" / ref_run.name
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PAUSE_HOOK)
    flag = tmp_path / "paused"
    env = dict(os.environ, TRACEFL_TEST_PAUSE_FILE=str(flag),
               PYTHONPATH=os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])))

    # 1. Snakemake trains the run; the process group (Snakemake, the training job, Ray) is
    #    SIGKILLed while round 2 is being written: nobody gets to clean up.
    out = tmp_path / "killed.out"
    with open(out, "w") as handle:
        proc = subprocess.Popen(_snakemake_cmd("--", target), cwd=work, env=env, stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not flag.exists():
            assert proc.poll() is None, "training ended before round 2:\n" + _explain(work, out.read_text())
            assert time.monotonic() < deadline, "round 2 never started:\n" + _explain(work, out.read_text())
            time.sleep(0.2)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # What the kill left: round 1 complete, round 2 half-written, no rounds.csv.
    assert (run / "rounds" / "0001" / "meta.json").is_file()
    assert (run / "rounds" / "0002.tmp" / "global.safetensors").is_file()
    assert not (run / "rounds" / "0002").exists()
    assert not (run / "rounds.csv").exists()

    # Provenance refuses a half-trained run instead of reading round 2's partial files.
    (data_dir,) = (work / "resources" / "datasets").iterdir()
    prov = subprocess.run(
        [sys.executable, "-m", "tracefl", "provenance", "--run", ref_run.name, "--config", str(TINY),
         "--data-dir", str(data_dir), "--run-dir", str(run), "--out", str(tmp_path / "prov.csv")],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert prov.returncode != 0 and not (tmp_path / "prov.csv").exists(), prov.stdout + prov.stderr

    # 2. Re-run the rule as a user would after a crash: unlock, then run again
    #    (the profile says rerun-incomplete). Round 1 must be kept, not redone.
    round1 = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (run / "rounds" / "0001").rglob("*") if p.is_file()}
    _snakemake(work, "--unlock")
    _snakemake(work, "--", target)
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in round1} == round1, "round 1 was rewritten"
    assert not (run / "rounds" / "0002.tmp").exists()

    # 3. Same result as the uninterrupted run with the same seed, bit for bit.
    assert_same_training(ref_run, run)


@pytest.mark.slow
def test_figure2_twice_from_scratch_is_identical(reference, tmp_path):
    work = _workdir(tmp_path / "again")
    _snakemake(work, "--", "results/figure2.pdf")
    first, second = _run_dir(reference), _run_dir(work)
    assert first.name == second.name
    assert_same_training(first, second)

    # provenance.csv: every column but the wall-clock `seconds`, compared as text.
    a = pd.read_csv(first / "provenance.csv", dtype=str, keep_default_na=False)
    b = pd.read_csv(second / "provenance.csv", dtype=str, keep_default_na=False)
    assert list(a.columns) == list(b.columns) and "seconds" in a.columns
    assert len(a) > 0
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"), check_exact=True)


@pytest.mark.slow
def test_provenance_from_recorded_predictions_equals_predicting_again(reference, tmp_path):
    """Training records the global model's predicted class of each server test input with the
    round; provenance selects from them. Without them (a round recorded elsewhere) it predicts
    the test set itself: the table must be the same."""
    import json

    run = _run_dir(reference)
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    for meta_path in sorted((copy / "rounds").glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        predicted = meta.pop("test_predictions")
        assert len(predicted) > 0 and all(isinstance(c, int) for c in predicted)
        meta_path.write_text(json.dumps(meta))
    (dataset,) = (reference / "resources" / "datasets").iterdir()
    out = tmp_path / "provenance.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "tracefl", "provenance", "--job", str(copy / "job.json"), "--threads", "1",
         "--data-dir", str(dataset), "--run-dir", str(copy), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    a = pd.read_csv(run / "provenance.csv", dtype=str, keep_default_na=False).drop(columns="seconds")
    b = pd.read_csv(out, dtype=str, keep_default_na=False).drop(columns="seconds")
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.slow
def test_forcerun_retrains_and_rounds_from_other_settings_start_over(reference, tmp_path):
    """Rounds carry a fingerprint (settings, partition, code): `--forcerun train_fl` trains again,
    and rounds with another fingerprint are not continued but trained again from round 1."""
    import json

    work = tmp_path / "work"
    shutil.copytree(reference, work)
    run = _run_dir(work)
    log = work / "results" / "logs" / "train" / f"{run.name}.log"
    meta = run / "rounds" / "0001" / "meta.json"
    assert json.loads(meta.read_text())["fingerprint"]
    before = (run / "rounds" / "0001" / "global.safetensors").stat().st_mtime_ns

    _snakemake(work, "--forcerun", "train_fl", "--", "results/figure2.pdf")
    assert "(a forced rerun); training again from round 1" in log.read_text()
    assert (run / "rounds" / "0001" / "global.safetensors").stat().st_mtime_ns > before, "not retrained"
    assert_same_training(_run_dir(reference), run)

    # Round 1 made "with other settings", round 2 lost: no resume from round 1.
    record = json.loads(meta.read_text())
    meta.write_text(json.dumps({**record, "fingerprint": "something-else"}))
    shutil.rmtree(run / "rounds" / "0002")
    (run / "rounds.csv").unlink()
    _snakemake(work, "--", f"results/runs/{run.name}/rounds.csv")  # a missing intermediate is not rebuilt for figure2
    assert "round(s) 1 on disk were trained with other settings" in log.read_text()
    assert json.loads(meta.read_text())["fingerprint"] == record["fingerprint"]
    assert_same_training(_run_dir(reference), run)


class _Reply:
    """The part of a Flower reply Message that FedAvg's aggregation reads."""

    def __init__(self, content):
        self.content = content

    def has_error(self) -> bool:
        return False


def test_aggregation_does_not_depend_on_reply_order():
    """With 3+ clients per round (quick: 4, paper: 10) arrival order must not change the bits."""
    from flwr.app import ArrayRecord, MetricRecord, RecordDict

    from tracefl.flower.strategy import SeededFedAvg

    def replies():
        out = []
        for cid, examples in enumerate((300, 512, 411, 97)):
            weights = torch.randn(4096, generator=torch.Generator().manual_seed(cid))
            metrics = MetricRecord({"num-examples": examples, "partition-id": cid, "train-loss": 0.0})
            out.append(_Reply(RecordDict({"arrays": ArrayRecord({"w": weights}), "metrics": metrics})))
        return out

    results = []
    for order in ([0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]):
        strategy = SeededFedAvg({str(c): 100 + c for c in range(4)}, 4, seed=1)
        batch = replies()
        aggregated, _ = strategy.aggregate_train(1, [batch[i] for i in order])
        results.append(aggregated.to_torch_state_dict()["w"])
    assert all(torch.equal(results[0], r) for r in results[1:])


def test_a_dp_run_resumes_from_its_checkpoint_to_the_same_models(tmp_path):
    """A checkpoint's tensors load in name order; the DP wrapper pairs the global model's and the
    replies' arrays by position, so a resumed DP run must hand them over in the model's order."""
    import json

    from safetensors.torch import load_file

    from tracefl.config import RunSpec

    spec = RunSpec(dataset="digits", model="tiny-cnn", num_clients=2, clients_per_round=2, rounds=3,
                   batch_size=16, max_client_samples=64, max_server_samples=64, dp_clip=10.0, dp_noise=0.001)

    def tracefl(*args):
        proc = subprocess.run([sys.executable, "-m", "tracefl", *args], capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    data, partition, whole = tmp_path / "digits", tmp_path / "part.json", tmp_path / "whole"
    tracefl("download", "--dataset", "digits", "--out", str(data))
    tracefl("partition", "--spec", json.dumps(spec.to_dict()), "--data-dir", str(data), "--out", str(partition))
    train = ["train", "--spec", json.dumps(spec.to_dict()), "--data-dir", str(data), "--partition", str(partition)]
    tracefl(*train, "--run-dir", str(whole))
    resumed = tmp_path / "resumed"
    shutil.copytree(whole, resumed)
    shutil.rmtree(resumed / "rounds" / "0003")  # as if killed in round 3
    (resumed / "rounds.csv").unlink()
    kept = {p: p.stat().st_mtime_ns for p in (resumed / "rounds").glob("000[12]/**/*.safetensors")}
    proc = tracefl(*train, "--run-dir", str(resumed))
    assert "training again from round 1" not in proc.stdout + proc.stderr
    assert len(kept) == 6 and all(p.stat().st_mtime_ns == t for p, t in kept.items()), "rounds 1-2 trained again"
    for name in ("global.safetensors", "clients/0.safetensors", "clients/1.safetensors"):
        a, b = load_file(whole / "rounds" / "0003" / name), load_file(resumed / "rounds" / "0003" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
