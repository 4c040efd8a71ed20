"""How long the rest of a build will take, from the measured times of its finished jobs.

Each unfinished job (a training, provenance or FedDebug step of one run) is estimated from
the Snakemake benchmark files of finished jobs of the same step and model
(:mod:`tracefl.report.job_times`), the closest ones first: same dataset and sizes, else same
dataset, else any dataset. A job's seconds are taken to grow with its client-rounds (rounds x
clients a round): the estimate is the median seconds per client-round of the comparable jobs
times the job's client-rounds (times the share of rounds still to train, for a training that
stopped part way). Jobs with nothing comparable measured are counted, not guessed. The wall
time spreads the jobs' core-seconds over the cores, and is never below the longest job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import pandas as pd

from tracefl.config import RunSpec
from tracefl.report.job_times import SIZE_SETTINGS

#: Which finished jobs an unfinished one is compared with, the closest first.
_TIERS = (("model", "scale", "dataset", *SIZE_SETTINGS[2:]), ("model", "scale", "dataset"), ("model", "scale"))


@dataclass(frozen=True)
class PendingJob:
    """One job still to run: its step, its run, and the share of its work left."""

    step: str
    spec: RunSpec
    left: float = 1.0


@dataclass(frozen=True)
class TimeLeft:
    """The estimate: wall seconds of the estimated jobs, and what it stands on."""

    seconds: float
    estimated: int  # pending jobs with an estimate
    unknown: int  # pending jobs with no comparable finished job
    measured: int  # finished jobs the estimate draws on
    cores: int

    def sentence(self) -> str:
        """``about 23 min left on 2 cores (from 85 measured jobs)``, or why there is none."""
        if self.estimated == 0 and self.unknown == 0:
            return "nothing left to run"
        if self.estimated == 0:
            return "no estimate yet (no finished job of the same step and model measured)"
        jobs = "job" if self.measured == 1 else "jobs"
        text = f"about {_duration(self.seconds)} left on {self.cores} core{'s' if self.cores != 1 else ''} " \
               f"(from {self.measured} measured {jobs})"
        if self.unknown:
            text += f", plus {self.unknown} step(s) with nothing comparable measured yet"
        return text


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def _client_rounds(rounds: float, clients_per_round: float) -> float:
    return float(rounds) * float(clients_per_round)


def job_seconds(job: PendingJob, measured: pd.DataFrame) -> tuple[float, list[str]] | None:
    """One job's estimated seconds and the runs it was estimated from; None: nothing comparable."""
    same_step = measured[(measured["step"] == job.step) & measured["rounds"].notna()]
    for keys in _TIERS:
        match = same_step
        for key in keys:
            match = match[match[key] == getattr(job.spec, key)]
        if not match.empty:
            per_unit = match["seconds"] / [_client_rounds(r, p) for r, p in zip(match["rounds"],
                                                                               match["clients_per_round"])]
            units = _client_rounds(job.spec.rounds, job.spec.clients_per_round)
            return float(per_unit.median()) * units * job.left, list(match["run"])
    return None


def estimate(pending: Iterable[PendingJob], measured: pd.DataFrame, cores: int,
             threads: Mapping[str, int] | None = None) -> TimeLeft:
    """The wall time of ``pending`` on ``cores``, each step's jobs keeping ``threads[step]`` busy (1)."""
    threads = threads or {}
    measured = measured.dropna(subset=["seconds"])
    total_core_seconds, longest, estimated, unknown = 0.0, 0.0, 0, 0
    used: set[tuple[str, str]] = set()
    for job in pending:
        found = job_seconds(job, measured)
        if found is None:
            unknown += 1
            continue
        seconds, runs = found
        estimated += 1
        used.update((job.step, run) for run in runs)
        total_core_seconds += seconds * min(threads.get(job.step, 1), cores)
        longest = max(longest, seconds)
    wall = max(total_core_seconds / max(cores, 1), longest)
    return TimeLeft(wall, estimated, unknown, len(used), cores)
