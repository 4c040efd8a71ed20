"""The SLURM profile: checked statically always, and proven on a live cluster with `-m slurm`.

The live test starts a real single-node SLURM cluster on this machine (munge, MariaDB,
slurmdbd, slurmctld, slurmd; tests/slurm/start-cluster.sh), runs the tiny configuration
of the workflow through `snakemake --profile` with a test overlay of profiles/slurm, checks
in the accounting database that the non-local rules ran as SLURM jobs, and stops the
cluster again. It needs root and apt-get (it installs the Debian packages; skipped without
them) and takes about 3 minutes on 2 cores, most of it in Snakemake's status polling. A second
live test pushes a slice of the paper preset at smoke scale (an image and a text run) through it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
TINY = ROOT / "tests" / "data" / "tiny.yaml"
CLUSTER = ROOT / "tests" / "slurm"
GPU_RULES = ("train_fl", "provenance")
SUBMITTED_RULES = ("partition", "train_fl", "provenance")
LOCAL_RULES = ("download_dataset", "figure", "figure2", "table")  # run by Snakemake itself


def load_profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


# ----------------------------------------------------------------------------- static checks


def test_profile_keys():
    profile = load_profile()
    assert profile["executor"] == "slurm"
    for key in ("jobs", "latency-wait", "retries"):
        assert isinstance(profile[key], int), key
    defaults = profile["default-resources"]
    assert {"slurm_partition", "runtime", "mem_mb", "cpus_per_task"} <= set(defaults)
    for rule in GPU_RULES:
        resources = profile["set-resources"][rule]
        assert resources.get("gpu") == 1 or "gpu" in str(resources.get("gres", "")), rule
        assert resources["mem_mb"] > 0 and resources["runtime"] > 0, rule
        # Ray gets `threads` CPUs; SLURM must grant as many.
        assert resources.get("cpus_per_task", profile["set-threads"][rule]) == profile["set-threads"][rule], rule


def test_profile_every_key_commented():
    lines = [line for line in PROFILE.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    uncommented = [line for line in lines if "#" not in line]
    assert not uncommented, uncommented


def test_paper_dry_run_with_slurm_profile(tmp_path):
    """The profile parses and the paper preset's DAG resolves with it (no cluster needed)."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--profile", str(PROFILE.parent),
         "--config", "preset=paper", "-n"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "train_fl" in proc.stdout and "provenance" in proc.stdout


# ----------------------------------------------------------------------------- live cluster


def slurm_test_overlay(profile: dict, logdir: Path) -> dict:
    """The real profile, shrunk to one 2-core test node: same keys, small numbers, fast polling.

    GPU requests stay: the test node advertises one (fake) GPU, so `gpu: 1` is scheduled
    as on a real cluster, and training falls back to the CPU because CUDA is not visible.
    """
    overlay = dict(profile)
    overlay.update(
        {
            "jobs": 2,
            "latency-wait": 5,
            "retries": 0,
            "keep-going": False,
            "slurm-init-seconds-before-status-checks": 2,
            "seconds-between-status-checks": 2,
            "slurm-logdir": str(logdir),
            "slurm-keep-successful-logs": True,
        }
    )
    defaults = {k: v for k, v in profile["default-resources"].items() if k != "slurm_account"}
    defaults.update(slurm_partition="debug", runtime=10, mem_mb=1000)
    overlay["default-resources"] = defaults
    overlay["set-threads"] = {rule: 2 for rule in profile.get("set-threads", {})}
    overlay["set-resources"] = {
        rule: {**{k: v for k, v in res.items() if k != "slurm_account"},
               "slurm_partition": "debug", "cpus_per_task": 2, "mem_mb": 3000, "runtime": 15}
        for rule, res in profile["set-resources"].items()
    }
    return overlay


def _run(cmd: list[str], timeout: int, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)


@pytest.fixture(scope="module")
def slurm_cluster():
    if os.geteuid() != 0:
        pytest.skip("the live SLURM test installs and starts daemons: it needs root")
    if shutil.which("apt-get") is None:
        pytest.skip("the live SLURM test installs Debian's SLURM packages: apt-get is not available")
    started = time.monotonic()
    try:
        proc = _run(["bash", str(CLUSTER / "start-cluster.sh")], timeout=900)
        if proc.returncode == 3:
            pytest.skip(f"SLURM packages could not be installed with apt-get: {proc.stderr.strip()[-500:]}")
        assert proc.returncode == 0, f"start-cluster.sh failed:\n{proc.stdout}\n{proc.stderr}"
        print(proc.stdout)
        print(f"cluster up in {time.monotonic() - started:.0f}s")
        yield
    finally:
        stop = _run(["bash", str(CLUSTER / "stop-cluster.sh")], timeout=120)
        print(stop.stdout + stop.stderr)


def _sacct(since: datetime) -> list[dict[str, str]]:
    fields = ["JobID", "JobName", "State", "ExitCode", "AllocTRES", "Comment", "Elapsed"]
    proc = _run(
        ["sacct", "-X", "--parsable2", "--noheader", f"--starttime={since:%Y-%m-%dT%H:%M:%S}",
         f"--format={','.join(fields)}"],
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return [dict(zip(fields, line.split("|"))) for line in proc.stdout.splitlines() if line.strip()]


def _test_profile(tmp_path: Path) -> Path:
    profile_dir = tmp_path / "profile"
    profile_dir.mkdir()
    (profile_dir / "config.yaml").write_text(
        yaml.safe_dump(slurm_test_overlay(load_profile(), tmp_path / "slurm-logs"), sort_keys=False)
    )
    return profile_dir


def _snakemake_through_slurm(tmp_path: Path, work: Path, *args: str) -> float:
    started = time.monotonic()
    proc = _run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--profile",
         str(_test_profile(tmp_path)), *args],
        timeout=900, cwd=work,
    )
    elapsed = time.monotonic() - started
    (tmp_path / "snakemake.out").write_text(proc.stdout + proc.stderr)
    logs = "\n".join(f"== {p}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(tmp_path.rglob("*.log")))
    assert proc.returncode == 0, f"{logs}\n== snakemake\n{(proc.stdout + proc.stderr)[-6000:]}"
    print(f"snakemake through SLURM: {elapsed:.0f}s")
    return elapsed


def _check_accounting(since: datetime) -> dict[str, list[dict[str, str]]]:
    """One completed SLURM job per submitted rule, none for localrules, GPU requests as asked."""
    jobs = [job for job in _sacct(since) if job["Comment"].startswith("rule_")]
    print("\n".join(" | ".join(job.values()) for job in jobs))
    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in jobs:
        rule = job["Comment"][len("rule_"):].split("_wildcards_")[0]
        by_rule.setdefault(rule, []).append(job)
    assert set(SUBMITTED_RULES) <= set(by_rule), jobs
    assert not set(LOCAL_RULES) & set(by_rule), jobs
    for rule, entries in by_rule.items():
        assert {job["State"] for job in entries} == {"COMPLETED"}, (rule, entries)
        for job in entries:
            tres = job["AllocTRES"]
            if rule in GPU_RULES:
                assert "gres/gpu=1" in tres and "cpu=2" in tres, (rule, tres)
            else:
                assert "gres/gpu" not in tres, (rule, tres)
    return by_rule


@pytest.mark.slurm
def test_tiny_workflow_through_slurm(slurm_cluster, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(ROOT / "config", work / "config")
    since = datetime.now() - timedelta(seconds=5)
    _snakemake_through_slurm(tmp_path, work, "--configfile", str(TINY), "--", "results/figure2.pdf")

    # Outputs of every step, local and submitted.
    assert (work / "results" / "figure2.pdf").stat().st_size > 0
    (run_dir,) = (work / "results" / "runs").iterdir()
    for name in ("rounds.csv", "provenance.csv", "rounds/0002/meta.json"):
        assert (run_dir / name).is_file(), name
    by_rule = _check_accounting(since)
    assert all(len(entries) == 1 for entries in by_rule.values()), by_rule


@pytest.mark.slurm
def test_paper_smoke_slice_through_slurm(slurm_cluster, tmp_path):
    """The paper preset at smoke scale on fixtures: an image run (PathMNIST, ResNet-18) and the
    text run of Figure 5 (DBpedia-14, GPT's architecture), both traced, and Figure 5 built."""
    from tracefl.config import load_config, resolve_preset
    from tracefl.data.fixtures import write_fixtures

    work = tmp_path / "work"
    shutil.copytree(ROOT / "config", work / "config")
    write_fixtures(work / "fixtures", ["pathmnist", "dbpedia-14"])
    config = {**load_config(work / "config" / "experiments.yaml"), "scale": "smoke", "fixtures": str(work / "fixtures")}
    preset = resolve_preset(config, "paper")
    image_run = next(r for r in preset.item_runs("figure2") if r.startswith("smoke-pathmnist-resnet18"))
    since = datetime.now() - timedelta(seconds=5)
    _snakemake_through_slurm(
        tmp_path, work, "--config", "preset=paper", "scale=smoke", f"fixtures={work / 'fixtures'}", "--",
        "results/figure5.pdf", f"results/runs/{image_run}/provenance.csv",
    )
    assert (work / "results" / "figure5.pdf").stat().st_size > 0
    runs = sorted(p.name for p in (work / "results" / "runs").iterdir())
    assert len(runs) == 2 and image_run in runs and any("tiny-gpt" in r for r in runs), runs
    for run in runs:
        assert (work / "results" / "runs" / run / "provenance.csv").is_file(), run
    by_rule = _check_accounting(since)
    assert len(by_rule["train_fl"]) == 2 and len(by_rule["provenance"]) == 2, by_rule
