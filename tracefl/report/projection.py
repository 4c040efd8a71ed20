"""How long a finished build would take on N cores: its jobs replayed with their measured seconds.

A user sizing a machine (a laptop's 2 cores, the design card's 8, a SLURM node's 32) wants the
wall time of the same build there. This replays the build's job graph: every benchmarked job
(``results/benchmarks/STEP/RUN.tsv``, :func:`tracefl.report.job_times.read_benchmarks`) with the
seconds it took and the cores its rule declares, a run's training before the steps that read its
rounds (:data:`NEEDS`, as in ``workflow/rules/provenance.smk``). Jobs are list-scheduled: whenever
cores are free, the ready job with the longest remaining chain (its own seconds plus its longest
follower's) starts first, a critical-path order close to Snakemake's (which starts long trainings
first by priority). A job never splits over cores and never runs faster than it was measured: the
projection ignores what more threads per job would win, and keeps whatever contention the measured
build had (two jobs sharing 2 cores measure slower than one alone), so it is an estimate, not a
promise. The cheap jobs without a benchmark (job files, partitions, figures) are left out.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import pandas as pd

#: The step each benchmarked step waits for (of the same run); a training needs nothing benchmarked.
NEEDS: dict[str, str] = {"provenance": "train", "contributions": "train", "feddebug": "train", "repair": "train"}


@dataclass(frozen=True)
class Projection:
    """The projected wall time on ``cores`` and its two lower bounds."""

    cores: int
    wall_seconds: float
    #: the longest chain of jobs that must run one after another (no core count beats it)
    critical_seconds: float
    critical_run: str
    #: the core-seconds of all jobs divided by the cores (no schedule beats it)
    work_seconds: float


def project(jobs: pd.DataFrame, cores: int) -> Projection:
    """Replay ``jobs`` (rows of step, run, seconds, threads) on ``cores`` cores."""
    if cores < 1:
        raise ValueError(f"cores = {cores} is not allowed; allowed: an integer >= 1")
    rows = [
        # a job Snakemake could not time counts 0 s; it holds at most the cores there are, as Snakemake caps it
        (str(r.step), str(r.run), 0.0 if pd.isna(r.seconds) else float(r.seconds), max(1, min(int(r.threads), cores)))
        for r in jobs.itertuples(index=False)
    ]
    present = {(step, run) for step, run, _, _ in rows}
    followers: dict[tuple[str, str], list[int]] = {}
    needs: dict[int, tuple[str, str] | None] = {}
    for i, (step, run, _, _) in enumerate(rows):
        need = (NEEDS[step], run) if step in NEEDS and (NEEDS[step], run) in present else None
        needs[i] = need
        if need:
            followers.setdefault(need, []).append(i)
    # the longest chain from each job on (a job waits for at most one other, so one level deep)
    tail = {i: rows[i][2] + max((rows[j][2] for j in followers.get(rows[i][:2], [])), default=0.0)
            for i in range(len(rows))}
    critical = max(tail, key=tail.get, default=None)  # a training's chain is never shorter than its followers'
    work = sum(seconds * threads for _, _, seconds, threads in rows) / cores

    ready = [(-tail[i], i) for i in range(len(rows)) if needs[i] is None]
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []  # (finish time, job)
    free, now = cores, 0.0
    while ready or running:
        # start every ready job that fits, longest remaining chain first
        skipped = []
        while ready:
            item = heapq.heappop(ready)
            threads = rows[item[1]][3]
            if threads <= free:
                free -= threads
                heapq.heappush(running, (now + rows[item[1]][2], item[1]))
            else:
                skipped.append(item)
        ready = skipped
        heapq.heapify(ready)
        if not running:
            break
        now, done = heapq.heappop(running)
        free += rows[done][3]
        for j in followers.get(rows[done][:2], []):
            heapq.heappush(ready, (-tail[j], j))
    return Projection(
        cores=cores,
        wall_seconds=now,
        critical_seconds=tail[critical] if critical is not None else 0.0,
        critical_run=rows[critical][1] if critical is not None else "",
        work_seconds=work,
    )


def clock(seconds: float) -> str:
    """Seconds as h:mm:ss."""
    total = int(round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def describe(projection: Projection) -> str:
    """One line a person reads: the projected wall time and what bounds it."""
    cores = f"{projection.cores} core{'s' if projection.cores > 1 else ''}"
    return (f"{cores}: {clock(projection.wall_seconds)} projected "
            f"(at least {clock(projection.critical_seconds)}, the longest chain: run {projection.critical_run}; "
            f"at least {clock(projection.work_seconds)}, the job seconds spread over {cores})")
