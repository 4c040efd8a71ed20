"""Where a build's time went: the Snakemake benchmark files of its jobs, summed by step and model.

(:mod:`tracefl.report.projection` replays them on N cores: how long the same build would take.)

Every computing rule (``train_fl``, ``provenance``, ``contributions``, ``feddebug``) writes
``results/benchmarks/STEP/RUN.tsv`` (Snakemake's ``benchmark:``). This module reads back each
job's wall seconds and peak resident memory (Snakemake samples memory, and CPU time, every
second, then every 30 s: the peak is a lower bound, and the sampled CPU time misses up to
30 s of a long job, so it is not used), names each job's model and dataset from the run's job
file, and sums them, so that "what should be made faster" is answered from a real build, not
guessed. Job seconds add up to more than the build's wall time when jobs ran side by side.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tracefl.config.job import read_job
from tracefl.errors import InputError
from tracefl.runs import layout

#: Snakemake's benchmark columns this profile reads, and their names here.
_COLUMNS = {"s": "seconds", "max_rss": "max_rss_mib"}
#: The run settings a job's row carries besides its dataset and model (what a job's time
#: scales with: ``status`` compares unfinished jobs with finished ones by them).
SIZE_SETTINGS = ("scale", "rounds", "clients_per_round", "local_epochs", "max_client_samples", "batch_size")
_ROW = ("step", "run", "dataset", "model", *SIZE_SETTINGS, "threads", *_COLUMNS.values())
#: The step whose jobs keep more than one core busy (its rule's ``threads:``, from the run's
#: simulation settings); every other benchmarked rule declares one thread.
_MULTI_THREADED = "train"


def read_benchmarks(results: str | Path = "results", missing_ok: bool = False) -> pd.DataFrame:
    """One row per benchmarked job under ``results``: step, run, dataset, model, the run's
    :data:`SIZE_SETTINGS`, seconds, max_rss_mib. A job whose run has no job file (deleted
    since) keeps its run id and an empty model. No benchmark file: an error, or with
    ``missing_ok`` (a build that finished no job yet) an empty table.
    """
    root = Path(layout.benchmark_path("STEP", "RUN", str(results))).parents[1]
    files = sorted(root.glob("*/*.tsv"))
    if not files:
        if missing_ok:
            return pd.DataFrame(columns=list(_ROW))
        raise InputError(f"{root}: no benchmark files (STEP/RUN.tsv); build something with the workflow first")
    rows = []
    for path in files:
        table = pd.read_csv(path, sep="\t")
        if table.empty or not set(_COLUMNS) <= set(table.columns):
            raise InputError(f"{path}: not a Snakemake benchmark file (needs columns {', '.join(_COLUMNS)})")
        last = table.iloc[-1]  # one row per repeat; the workflow's rules repeat nothing
        run = path.stem
        job = Path(layout.job_path(run, str(results)))
        parsed = read_job(job) if job.is_file() else None
        spec = parsed.spec if parsed else None
        threads = parsed.simulation.train_threads if parsed and path.parent.name == _MULTI_THREADED else 1
        rows.append(
            {
                "step": path.parent.name,
                "run": run,
                "dataset": spec.dataset if spec else "",
                "model": spec.model if spec else "",
                **{key: getattr(spec, key) if spec else None for key in SIZE_SETTINGS},
                "threads": threads,
                **{name: _number(last[column]) for column, name in _COLUMNS.items()},
            }
        )
    return pd.DataFrame(rows, columns=list(_ROW))


def _number(value: object) -> float:
    """Snakemake writes ``NA`` for what it could not sample (a job shorter than its first sample)."""
    number = pd.to_numeric(value, errors="coerce")
    return float(number) if pd.notna(number) else float("nan")


def summarize(jobs: pd.DataFrame, by: tuple[str, ...] = ("step", "model")) -> pd.DataFrame:
    """Jobs, total and largest wall seconds, and the peak memory per group, the costliest first."""
    grouped = jobs.groupby(list(by), sort=False)
    table = grouped.agg(
        jobs=("run", "size"),
        seconds=("seconds", "sum"),
        max_seconds=("seconds", "max"),
        max_rss_mib=("max_rss_mib", "max"),
    ).reset_index()
    table["share_pct"] = 100 * table["seconds"] / table["seconds"].sum()
    return table.sort_values("seconds", ascending=False, ignore_index=True)


def to_markdown(table: pd.DataFrame) -> str:
    """The summary as a Markdown table (seconds rounded to 0.1 s, shares to 0.1%)."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [header, rule]
    for row in table.itertuples(index=False):
        cells = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
