"""A job file: everything a workflow job needs to run one step of one run.

The workflow writes ``results/runs/{run}/job.json`` (the run's settings with its
dataset's description, and the preset's provenance and simulation settings); the CLI's
``--job`` reads it. Jobs thus get everything from a file named on their command line:
no JSON on the terminal, no environment variable, no config lookup on a compute node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracefl.errors import InputError, reading
from tracefl.config.run_spec import RunSpec
from tracefl.config.settings import ProvenanceSettings, SimulationSettings


@dataclass(frozen=True)
class Job:
    spec: RunSpec
    provenance: ProvenanceSettings
    simulation: SimulationSettings

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.spec.to_job_dict(), "provenance": self.provenance.to_dict(),
                "simulation": self.simulation.to_dict()}

    def to_json(self) -> str:
        """The job file's text (the workflow's rule and ``flwr run`` write the same bytes)."""
        import json

        return json.dumps(self.to_dict(), sort_keys=True, indent=1)


def read_job(path: str | Path) -> Job:
    """The job written by the workflow at ``path`` (checked like the config it came from)."""
    import json

    fix = "delete it and run the workflow again"
    with reading(path, fix):
        data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or "run" not in data:
        raise InputError(f"{path}: not a job file (no 'run'); {fix}")
    where = f"{path}"
    return Job(
        RunSpec.from_mapping(data["run"], where=f"{where}: run"),
        ProvenanceSettings.from_mapping(data.get("provenance") or {}, f"{where}: provenance"),
        SimulationSettings.from_mapping(data.get("simulation") or {}, f"{where}: simulation"),
    )
