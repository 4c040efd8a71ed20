"""This workflow's training as a Flower app: ``flwr run .`` from the project folder.

``pyproject.toml`` names ``server_app`` and ``client_app`` here as the app's components
and gives the run-config defaults. The server reads the run from the run config (a
config file, a preset, a run id), fetches and partitions its dataset where the workflow
would (``resources/datasets/``, ``results/partitions/``), writes its job file and trains
it into ``results/runs/{run}/`` with the provenance recorder inside, as the ``train``
step does under Snakemake: same settings, same models. Afterwards the workflow's
``provenance`` step and ``tracefl explain --run-dir results/runs/{run}`` read it.

Run-config keys: ``config`` (the experiments file), ``preset`` (empty: the file's
default), ``run`` (a run id as ``python -m tracefl status`` lists them; empty: the
preset's first run), ``root`` (the folder that relative paths start from; empty: the
ServerApp's working directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from tracefl.config import ConfigError, RunSpec, SimulationSettings, load_preset
from tracefl.config.job import Job
from tracefl.runs import layout

RUN_CONFIG_KEYS = ("config", "preset", "run", "root")


@dataclass(frozen=True)
class AppRun:
    """One run of the workflow as a Flower app runs it: its settings and where its files are."""

    job: Job
    dataset_dir: Path
    partition_path: Path
    run_dir: Path
    dataset_source: str | None

    @property
    def spec(self) -> RunSpec:
        return self.job.spec

    @property
    def simulation(self) -> SimulationSettings:
        return self.job.simulation


def resolve_app_run(run_config: dict) -> AppRun:
    """The run that ``run_config`` names (unknown keys and runs fail with one line)."""
    unknown = sorted(set(run_config) - set(RUN_CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"run config: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(RUN_CONFIG_KEYS)}")
    return _resolve(tuple(sorted((k, str(run_config.get(k, ""))) for k in RUN_CONFIG_KEYS)))


@lru_cache(maxsize=4)
def _resolve(items: tuple[tuple[str, str], ...]) -> AppRun:
    values = dict(items)
    root = Path(values["root"] or ".").resolve()
    config = Path(values["config"] or "config/experiments.yaml")
    config = config if config.is_absolute() else root / config
    if not config.is_file():
        raise ConfigError(f"run config: config = {str(config)!r} is not a file; give root= the project folder "
                          "or config= an absolute path")
    preset = load_preset(config, values["preset"] or None)
    run_id = values["run"] or next(iter(preset.runs))
    if run_id not in preset.runs:
        raise ConfigError(f"run config: run {run_id!r} is not in preset '{preset.name}' "
                          "(python -m tracefl status lists its runs)")
    spec = preset.runs[run_id]
    results = root / "results"
    return AppRun(
        job=Job(spec, preset.provenance, preset.simulation),
        dataset_dir=root / preset.data_dir / spec.dataset,
        partition_path=Path(layout.partition_path(spec.dataset, spec.partition_id, str(results))),
        run_dir=Path(layout.run_path(run_id, str(results))),
        dataset_source=preset.dataset_sources.get(spec.dataset),
    )


def prepare_inputs(run: AppRun) -> None:
    """Dataset, partition and job file where the workflow keeps them (each made once)."""
    from tracefl.atomic import write_text
    from tracefl.steps.download import download_dataset
    from tracefl.steps.partition import partition_run

    if not run.dataset_dir.is_dir():
        download_dataset(run.spec.data, run.dataset_dir, source_path=run.dataset_source)
    if not run.partition_path.is_file():
        partition_run(run.spec, run.dataset_dir, run.partition_path)
    write_text(run.run_dir / layout.JOB, run.job.to_json() + "\n")


server_app = ServerApp()
client_app = ClientApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    from tracefl.flower.server_app import run_rounds
    from tracefl.steps.train import finish_training, start_or_resume

    run = resolve_app_run(dict(context.run_config))
    prepare_inputs(run)
    fingerprint = start_or_resume(run.spec, run.dataset_dir, run.partition_path, run.run_dir)
    run_rounds(grid, run.spec, run.dataset_dir, run.partition_path, run.run_dir, run.simulation.device, fingerprint,
               run.simulation.client_threads)
    table = finish_training(run.spec, run.run_dir)
    print(f"tracefl: {run.spec.run_id}: {len(table)} rounds in {run.run_dir}", flush=True)


@client_app.query()
def query(msg: Message, context: Context) -> Message:
    from tracefl.flower.client_app import partition_query

    return partition_query(msg, context)


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    from tracefl.flower.client_app import train_partition

    run = resolve_app_run(dict(context.run_config))
    threads = run.simulation.client_threads
    return train_partition(msg, context, run.spec, run.dataset_dir, run.partition_path, run.simulation.device, threads)
