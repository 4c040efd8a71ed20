"""The build profile: Snakemake benchmark files read back, named by run and summed by step and model."""

from pathlib import Path

import pandas as pd
import pytest

from tracefl.report.job_times import read_benchmarks, summarize, to_markdown
from tracefl.cli import main
from tracefl.config import ProvenanceSettings, RunSpec, SimulationSettings
from tracefl.config.job import Job
from tracefl.errors import InputError
from tracefl.runs import layout

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _benchmark(results: Path, step: str, run: str, seconds: float, rss: str) -> None:
    path = Path(layout.benchmark_path(step, run, str(results)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t1\n")


def _job(results: Path, spec: RunSpec) -> str:
    path = Path(layout.job_path(spec.run_id, str(results)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(Job(spec, ProvenanceSettings(), SimulationSettings()).to_json())
    return spec.run_id


def test_jobs_are_named_by_their_run_and_summed(tmp_path):
    cnn = _job(tmp_path, RunSpec(dataset="digits", model="cnn", rounds=2))
    resnet = _job(tmp_path, RunSpec(dataset="mnist-5k", model="resnet18", rounds=2))
    _benchmark(tmp_path, "train", cnn, 10.0, "900")
    _benchmark(tmp_path, "provenance", cnn, 4.0, "NA")  # too short for Snakemake's first sample
    _benchmark(tmp_path, "train", resnet, 30.0, "2000")
    _benchmark(tmp_path, "train", "gone-run", 6.0, "800")  # its run folder was deleted
    jobs = read_benchmarks(tmp_path)
    assert len(jobs) == 4
    assert jobs.set_index("run").loc[resnet, "model"] == "resnet18"
    assert jobs.set_index("run").loc["gone-run", "model"] == ""

    by_step = summarize(jobs, ("step",)).set_index("step")
    assert by_step.loc["train", "jobs"] == 3 and by_step.loc["train", "seconds"] == 46.0
    assert by_step.loc["train", "max_seconds"] == 30.0 and by_step.loc["train", "max_rss_mib"] == 2000
    assert by_step.loc["provenance", "seconds"] == 4.0 and pd.isna(by_step.loc["provenance", "max_rss_mib"])
    assert by_step["share_pct"].sum() == pytest.approx(100)
    by_model = summarize(jobs)
    assert list(by_model["model"])[:2] == ["resnet18", "cnn"]  # costliest first
    assert to_markdown(by_model).splitlines()[0].startswith("| step | model | jobs | seconds")


def test_no_benchmarks_or_a_foreign_file_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(InputError, match="no benchmark files"):
        read_benchmarks(tmp_path)
    assert main(["profile", "--results", str(tmp_path)]) != 0
    assert "no benchmark files" in capsys.readouterr().err
    bad = Path(layout.benchmark_path("train", "r", str(tmp_path)))
    bad.parent.mkdir(parents=True)
    bad.write_text("a\tb\n1\t2\n")
    with pytest.raises(InputError, match="not a Snakemake benchmark file"):
        read_benchmarks(tmp_path)


def test_profile_counts_only_the_runs_the_config_asks_for(tmp_path, capsys):
    """A results folder keeps the benchmarks of runs a changed config dropped: --preset/--item leave them out."""
    tiny = Path(__file__).parent / "data" / "tiny.yaml"
    from tracefl.config import load_preset

    preset = load_preset(tiny)
    figure2 = preset.item_runs("figure2")
    table1_faulty = preset.item_runs("table1")
    twins = list(preset.twins("table1").values())
    for run in [*figure2, *table1_faulty, *twins, "stale-run-of-an-old-config"]:
        _benchmark(tmp_path, "train", run, 10.0, "900")
    wanted = len(set(preset.runs) & {*figure2, *table1_faulty, *twins})
    assert main(["profile", "--results", str(tmp_path), "--config", str(tiny), "--preset", "tiny", "--by", "step"]) == 0
    assert f"{wanted} jobs, {10 * wanted} job seconds" in capsys.readouterr().out
    assert main(["profile", "--results", str(tmp_path), "--config", str(tiny), "--item", "table1", "--by", "step"]) == 0
    assert f"{len(set(table1_faulty) | set(twins))} jobs," in capsys.readouterr().out
    empty = tmp_path / "empty"
    _benchmark(empty, "train", "stale-run-of-an-old-config", 1.0, "1")
    assert main(["profile", "--results", str(empty), "--config", str(tiny), "--item", "figure2"]) != 0
    assert "no benchmarked job of the 1 run(s) of preset 'tiny' item figure2" in capsys.readouterr().err
