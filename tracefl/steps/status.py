"""Where a build stands: every run of a preset with its rounds done, last accuracy and what is
still to build, read from the files alone (no torch), so a second terminal can watch a build;
and about how long the rest takes, from the benchmark files of the jobs that finished."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tracefl.config import Preset, RunSpec
from tracefl.config.items import ITEMS
from tracefl.errors import TraceflError
from tracefl.report.job_times import read_benchmarks
from tracefl.report.time_left import PendingJob, estimate
from tracefl.runs.layout import completed_rounds, coverage_path, read_meta

BAR = 20


#: The steps a run needs only for some items: the item flag that asks for each, and its output.
OPTIONAL_STEPS = {"feddebug": "feddebug.csv", "contributions": "contributions.csv", "repair": "repair.csv"}


@dataclass
class RunStatus:
    run_id: str
    spec: RunSpec
    rounds_done: int
    last_accuracy: float | None
    trained: bool
    traced: bool
    optional: dict[str, bool]  # the optional steps this run's items ask for -> done
    # False for a fault-free twin that is no item's run: it is trained (to judge a faulty run), not traced
    needs_trace: bool = True

    def todo(self) -> list[str]:
        steps = [] if self.trained else ["train"]
        steps += [] if self.traced or not self.needs_trace else ["provenance"]
        return steps + [step for step, done in self.optional.items() if not done]

    def steps(self) -> int:
        """The run's computing jobs: training, provenance and the optional steps its items ask for."""
        return 1 + self.needs_trace + len(self.optional)

    def pending(self) -> list[PendingJob]:
        """The jobs still to run; a training that stopped part way has only its last rounds left."""
        rounds_left = 1 - min(self.rounds_done, self.spec.rounds) / self.spec.rounds
        return [PendingJob(step, self.spec, rounds_left if step == "train" else 1.0) for step in self.todo()]


def optional_steps(preset: Preset, run_id: str) -> list[str]:
    """The optional steps the workflow builds for a run: those its items ask for (FedDebug only
    on a faulty image run, as ``workflow/rules/common.smk`` asks for it)."""
    spec = preset.runs[run_id]
    wanted = []
    for item in preset.built_items():
        if run_id not in preset.item_runs(item.name):
            continue
        if item.feddebug and spec.faulty_ids and spec.data.kind == "image":
            wanted.append("feddebug")
        wanted += [step for step in ("contributions", "repair") if getattr(item, step)]
    return [step for step in OPTIONAL_STEPS if step in wanted]


def run_status(preset: Preset, run_id: str, results: Path, needs_trace: bool = True) -> RunStatus:
    spec = preset.runs[run_id]
    run_dir = results / "runs" / run_id
    done = completed_rounds(run_dir)
    accuracy = read_meta(run_dir, done[-1]).get("global_accuracy") if done else None
    return RunStatus(
        run_id, spec, len(done), accuracy,
        trained=(run_dir / "rounds.csv").is_file(),
        traced=(run_dir / "provenance.csv").is_file() and coverage_path(run_dir / "provenance.csv").is_file(),
        optional={step: (run_dir / OPTIONAL_STEPS[step]).is_file() for step in optional_steps(preset, run_id)},
        needs_trace=needs_trace,
    )


def bar(done: int, total: int) -> str:
    filled = BAR * done // max(total, 1)
    return "[" + "#" * filled + "." * (BAR - filled) + "]"


def time_left_line(preset: Preset, runs: list[RunStatus], results: Path, cores: int | None = None) -> str:
    """``85 of 224 steps done; about 23 min left on 2 cores (from 85 measured jobs)``."""
    cores = cores or os.cpu_count() or 1
    total = sum(run.steps() for run in runs)
    pending = [job for run in runs for job in run.pending()]
    done = f"{total - len(pending)} of {total} steps done (training, provenance, FedDebug, repair, contributions)"
    try:
        measured = read_benchmarks(results, missing_ok=True)
    except TraceflError as exc:
        return f"{done}; no estimate: {exc}"
    threads = {"train": preset.simulation.train_threads}
    return f"{done}; {estimate(pending, measured, cores, threads).sentence()}"


def status_lines(preset: Preset, results: str | Path = "results", cores: int | None = None) -> list[str]:
    """One line per run (grouped by item), then what is still to build and about how long it takes
    on ``cores`` (default: this machine's)."""
    results = Path(results)
    lines = [f"preset {preset.name}: {len(preset.runs)} runs"]
    seen: dict[str, RunStatus] = {}
    missing_items = []
    item_runs = {item.name: preset.item_runs(item.name) for item in preset.built_items()}
    twins = [t for item in preset.built_items() for t in preset.twins(item.name).values()
             if not any(t in runs for runs in item_runs.values())]
    if twins:  # trained only, to judge the faulty runs (tracefl.report.learned)
        item_runs["fault-free twins (trained, not traced)"] = list(dict.fromkeys(twins))
    for name, run_ids in item_runs.items():
        lines.append(f"{name}:")
        for run_id in run_ids:
            status = seen.get(run_id) or run_status(preset, run_id, results, needs_trace=run_id not in twins)
            seen[run_id] = status
            accuracy = "" if status.last_accuracy is None else f"  acc {100 * status.last_accuracy:5.1f}%"
            todo = ", ".join(status.todo()) or "done"
            lines.append(f"  {bar(status.rounds_done, status.spec.rounds)} {status.rounds_done:>3}/{status.spec.rounds:<3}"
                         f"{accuracy}  {todo:<28} {run_id}")
        if name in ITEMS and not all(Path(path).is_file() for path in ITEMS[name].outputs(str(results))):
            missing_items.append(name)
    trainings = sum(not s.trained for s in seen.values())
    traces = sum(not s.traced and s.needs_trace for s in seen.values())
    left = {step: sum(not s.optional.get(step, True) for s in seen.values()) for step in OPTIONAL_STEPS}
    # FedDebug always; the repair and contributions steps where an item of the preset asks for them
    others = "".join(f"{left[step]} {step} run(s), " for step in ("repair", "contributions")
                     if any(step in s.optional for s in seen.values()))
    lines.append(f"to build: {trainings} training(s), {traces} provenance run(s), {left['feddebug']} FedDebug run(s), "
                 f"{others}"
                 f"{len(missing_items)} figure(s)/table(s){': ' + ', '.join(missing_items) if missing_items else ''}")
    lines.append(time_left_line(preset, list(seen.values()), results, cores))
    return lines

