"""Where a build stands: every run of a preset with its rounds done, last accuracy and what is
still to build, read from the files alone (no torch), so a second terminal can watch a build."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracefl.config import Preset, RunSpec
from tracefl.runs.layout import completed_rounds, coverage_path, read_meta

BAR = 20


@dataclass
class RunStatus:
    run_id: str
    spec: RunSpec
    rounds_done: int
    last_accuracy: float | None
    trained: bool
    traced: bool
    feddebug: bool | None  # None: the run needs no FedDebug

    def todo(self) -> list[str]:
        steps = [] if self.trained else ["train"]
        steps += [] if self.traced else ["provenance"]
        steps += ["feddebug"] if self.feddebug is False else []
        return steps


def run_status(preset: Preset, run_id: str, results: Path) -> RunStatus:
    spec = preset.runs[run_id]
    run_dir = results / "runs" / run_id
    done = completed_rounds(run_dir)
    accuracy = read_meta(run_dir, done[-1]).get("global_accuracy") if done else None
    needs_feddebug = bool(spec.faulty_ids) and spec.data.kind == "image"
    return RunStatus(
        run_id, spec, len(done), accuracy,
        trained=(run_dir / "rounds.csv").is_file(),
        traced=(run_dir / "provenance.csv").is_file() and coverage_path(run_dir / "provenance.csv").is_file(),
        feddebug=(run_dir / "feddebug.csv").is_file() if needs_feddebug else None,
    )


def bar(done: int, total: int) -> str:
    filled = BAR * done // max(total, 1)
    return "[" + "#" * filled + "." * (BAR - filled) + "]"


def status_lines(preset: Preset, results: str | Path = "results") -> list[str]:
    """One line per run (grouped by item), then what is still to build."""
    results = Path(results)
    lines = [f"preset {preset.name}: {len(preset.runs)} runs"]
    seen: dict[str, RunStatus] = {}
    missing_items = []
    for item in preset.built_items():
        lines.append(f"{item.name}:")
        for run_id in preset.item_runs(item.name):
            status = seen.get(run_id) or run_status(preset, run_id, results)
            seen[run_id] = status
            accuracy = "" if status.last_accuracy is None else f"  acc {100 * status.last_accuracy:5.1f}%"
            todo = ", ".join(status.todo()) or "done"
            lines.append(f"  {bar(status.rounds_done, status.spec.rounds)} {status.rounds_done:>3}/{status.spec.rounds:<3}"
                         f"{accuracy}  {todo:<28} {run_id}")
        if not all(Path(path).is_file() for path in item.outputs(str(results))):
            missing_items.append(item.name)
    trainings = sum(not s.trained for s in seen.values())
    traces = sum(not s.traced for s in seen.values())
    feddebugs = sum(s.feddebug is False for s in seen.values())
    lines.append(f"to build: {trainings} training(s), {traces} provenance run(s), {feddebugs} FedDebug run(s), "
                 f"{len(missing_items)} figure(s)/table(s){': ' + ', '.join(missing_items) if missing_items else ''}")
    return lines

