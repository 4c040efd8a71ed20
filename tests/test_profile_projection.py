"""`profile --cores N`: a build's jobs replayed on N cores, checked against schedules worked out by hand."""

import pandas as pd
import pytest

from tracefl.cli import main
from tracefl.report.projection import clock, project
from tests.test_build_profile import _benchmark, _job
from tracefl.config import RunSpec


def _jobs(*rows):
    return pd.DataFrame(rows, columns=["step", "run", "seconds", "threads"])


def test_one_core_is_the_sum_and_many_cores_the_longest_chain():
    jobs = _jobs(("train", "a", 100.0, 1), ("provenance", "a", 20.0, 1), ("train", "b", 30.0, 1),
                 ("provenance", "b", 10.0, 1), ("feddebug", "b", 5.0, 1))
    assert project(jobs, 1).wall_seconds == 165.0
    many = project(jobs, 16)
    assert many.wall_seconds == 120.0 and many.critical_seconds == 120.0 and many.critical_run == "a"
    assert many.work_seconds == pytest.approx(165 / 16)


def test_a_dependency_can_leave_a_core_idle():
    # 2 cores: train a (10 s) and train b (10 s) side by side; then a's provenance (50 s) and b's (1 s):
    # the second core idles after 11 s, so the build ends at 60 s, above its work bound of 35.5 s.
    jobs = _jobs(("train", "a", 10.0, 1), ("provenance", "a", 50.0, 1), ("train", "b", 10.0, 1),
                 ("provenance", "b", 1.0, 1))
    two = project(jobs, 2)
    assert two.wall_seconds == 60.0 and two.work_seconds == 35.5 and two.critical_seconds == 60.0


def test_longest_chain_first_and_a_two_thread_job_holds_two_cores():
    # the 2-thread training fills both cores; the chain-first order starts it before the short ones
    jobs = _jobs(("train", "big", 40.0, 2), ("train", "s1", 10.0, 1), ("train", "s2", 10.0, 1))
    assert project(jobs, 2).wall_seconds == 50.0
    assert project(jobs, 1).wall_seconds == 60.0  # a job asking for more cores than exist gets them all
    with pytest.raises(ValueError, match="cores = 0 is not allowed"):
        project(jobs, 0)
    assert clock(3725) == "1:02:05"


def test_the_cli_prints_a_projection_per_core_count_and_refuses_a_bad_one(tmp_path, capsys):
    run = _job(tmp_path, RunSpec(dataset="digits", model="cnn", rounds=2))
    _benchmark(tmp_path, "train", run, 100.0, "900")
    _benchmark(tmp_path, "provenance", run, 20.0, "500")
    assert main(["profile", "--results", str(tmp_path), "--cores", "1,8", "--cores", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 core: 0:02:00 projected" in out and "8 cores: 0:02:00 projected" in out and "2 cores:" in out
    for bad in ("0", "2,x", "2,,8"):
        with pytest.raises(SystemExit) as exit_:
            main(["profile", "--results", str(tmp_path), "--cores", bad])
        assert exit_.value.code != 0
        assert "--cores" in capsys.readouterr().err
