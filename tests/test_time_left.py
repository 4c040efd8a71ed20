"""Time left: unfinished jobs estimated from the benchmark files of finished ones of the same step and model."""

from pathlib import Path

import re
import shutil
import subprocess
import sys

import pytest

from tracefl.cli import main
from tracefl.config import ProvenanceSettings, RunSpec, SimulationSettings, load_preset
from tracefl.config.job import Job
from tracefl.report.job_times import read_benchmarks
from tracefl.report.time_left import PendingJob, estimate
from tracefl.runs import layout
from tracefl.steps.status import status_lines

ROOT = Path(__file__).resolve().parents[1]
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
CNN = {"dataset": "digits", "model": "cnn", "num_clients": 10, "clients_per_round": 5}


def _finished(results: Path, step: str, spec: RunSpec, seconds: float) -> None:
    """A finished job as the workflow leaves it: the run's job file and the step's benchmark file."""
    job = Path(layout.job_path(spec.run_id, str(results)))
    job.parent.mkdir(parents=True, exist_ok=True)
    job.write_text(Job(spec, ProvenanceSettings(), SimulationSettings()).to_json())
    bench = Path(layout.benchmark_path(step, spec.run_id, str(results)))
    bench.parent.mkdir(parents=True, exist_ok=True)
    bench.write_text(HEADER + f"{seconds}\t0:00:00\t900\t1\t1\t1\t0\t0\t50\t1\n")


def test_a_job_is_estimated_per_client_round_from_its_own_kind(tmp_path):
    _finished(tmp_path, "train", RunSpec(**CNN, rounds=2, seed=1), 100.0)  # 10 client-rounds: 10 s each
    _finished(tmp_path, "train", RunSpec(**CNN, rounds=4, seed=2), 240.0)  # 20 client-rounds: 12 s each
    _finished(tmp_path, "train", RunSpec(**{**CNN, "model": "resnet18"}, rounds=2), 900.0)
    _finished(tmp_path, "provenance", RunSpec(**CNN, rounds=2, seed=1), 30.0)
    measured = read_benchmarks(tmp_path)
    pending = [PendingJob("train", RunSpec(**CNN, rounds=10, seed=3))]  # 50 client-rounds at the median 11 s
    left = estimate(pending, measured, cores=1)
    assert left.seconds == pytest.approx(550.0) and left.measured == 2 and left.unknown == 0
    assert left.sentence() == "about 9 min left on 1 core (from 2 measured jobs)"
    # a training stopped after 6 of its 10 rounds has 40% left
    assert estimate([PendingJob("train", RunSpec(**CNN, rounds=10, seed=3), 0.4)], measured, 1).seconds \
        == pytest.approx(220.0)
    # provenance is estimated from provenance jobs only: 3 s a client-round
    assert estimate([PendingJob("provenance", RunSpec(**CNN, rounds=10))], measured, 1).seconds == pytest.approx(150)


def test_the_closest_finished_jobs_are_used_first(tmp_path):
    _finished(tmp_path, "train", RunSpec(**CNN, rounds=2), 100.0)  # digits: 10 s a client-round
    _finished(tmp_path, "train", RunSpec(**{**CNN, "dataset": "mnist-5k"}, rounds=2), 300.0)  # 30 s
    _finished(tmp_path, "train", RunSpec(**{**CNN, "dataset": "mnist-5k", "local_epochs": 4}, rounds=2), 600.0)
    measured = read_benchmarks(tmp_path)
    mnist = estimate([PendingJob("train", RunSpec(**{**CNN, "dataset": "mnist-5k"}, rounds=2, seed=5))], measured, 1)
    assert mnist.seconds == pytest.approx(300.0) and mnist.measured == 1  # same dataset and sizes
    longer = {**CNN, "dataset": "mnist-5k", "local_epochs": 3}
    assert estimate([PendingJob("train", RunSpec(**longer, rounds=2))], measured, 1).seconds == pytest.approx(450.0)
    cifar = estimate([PendingJob("train", RunSpec(**{**CNN, "dataset": "cifar10"}, rounds=2))], measured, 1)
    assert cifar.seconds == pytest.approx(300.0) and cifar.measured == 3  # any dataset: median of 10, 30, 60 s x 10


def test_cores_share_the_work_but_never_below_the_longest_job(tmp_path):
    _finished(tmp_path, "train", RunSpec(**CNN, rounds=2), 60.0)
    measured = read_benchmarks(tmp_path)
    four = [PendingJob("train", RunSpec(**CNN, rounds=2, seed=s)) for s in range(4)]
    assert estimate(four, measured, cores=2).seconds == pytest.approx(120.0)
    assert estimate(four, measured, cores=2, threads={"train": 2}).seconds == pytest.approx(240.0)
    assert estimate(four, measured, cores=16).seconds == pytest.approx(60.0)


def test_nothing_comparable_is_said_not_guessed(tmp_path):
    none = estimate([PendingJob("train", RunSpec(**CNN))], read_benchmarks(tmp_path, missing_ok=True), 2)
    assert none.sentence() == "no estimate yet (no finished job of the same step and model measured)"
    _finished(tmp_path, "train", RunSpec(**CNN, rounds=2), 60.0)
    measured = read_benchmarks(tmp_path)
    mixed = estimate([PendingJob("train", RunSpec(**CNN, rounds=2, seed=9)),
                      PendingJob("train", RunSpec(**{**CNN, "model": "resnet18"}))], measured, 2)
    assert mixed.estimated == 1 and mixed.unknown == 1
    assert mixed.sentence().endswith("plus 1 step(s) with nothing comparable measured yet")
    assert estimate([], measured, 2).sentence() == "nothing left to run"


def _dry_run_jobs(rules: tuple[str, ...], workdir: Path) -> dict[str, int]:
    """Jobs of these rules that Snakemake plans for the tiny config's ``all`` in an empty folder."""
    shutil.copytree(ROOT / "config", workdir / "config")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "all", "--snakefile", str(ROOT / "Snakefile"),
                           f"--configfile={ROOT / 'tests/data/tiny.yaml'}"], cwd=workdir, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    return {rule: int(counts.get(rule, 0)) for rule in rules}


def test_status_counts_steps_and_estimates_the_rest(tmp_path, capsys):
    preset = load_preset(ROOT / "tests/data/tiny.yaml")
    results = tmp_path / "results"
    runs = list(preset.runs.values())
    lines = status_lines(preset, results, cores=2)
    steps = sum(_dry_run_jobs(("train_fl", "provenance", "feddebug", "repair", "contributions"), tmp_path / "dag").values())
    assert lines[-1] == (f"0 of {steps} steps done (training, provenance, FedDebug, repair, contributions); "
                         "no estimate yet (no finished job of the same step and model measured)")
    # one run trained and traced, each in 20 s: every other tiny run is the same model on the same data
    first = runs[0]
    run_dir = results / "runs" / first.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "rounds.csv").write_text("round\n1\n2\n")
    (run_dir / "provenance.csv").write_text("round\n")
    layout.coverage_path(run_dir / "provenance.csv").write_text("{}")
    _finished(results, "train", first, 20.0)
    _finished(results, "provenance", first, 20.0)
    line = status_lines(preset, results, cores=2)[-1]
    assert line.startswith(f"2 of {steps} steps done (training, provenance, FedDebug, repair, contributions); about ")
    # no FedDebug, repair or contributions job finished: not guessed (a fault-free twin is trained, not traced)
    twins_only = set(preset.twins("table1").values()) - {r for runs_of in preset.items.values() for r in runs_of}
    assert len(twins_only) == 1
    others = steps - 2 * len(runs) + len(twins_only)
    assert line.endswith(f" left on 2 cores (from 2 measured jobs), plus {others} step(s) with nothing "
                         "comparable measured yet")
    assert main(["status", "--config", str(ROOT / "tests/data/tiny.yaml"), "--results", str(results),
                 "--cores", "3"]) == 0
    assert "left on 3 cores" in capsys.readouterr().out
