# Resolve the selected preset into runs; the same code serves the CLI, so a run id means one thing.
# resolve_preset checks the config against its schema (generated from the settings'
# declarations) and across keys, before any job: one line naming the key on failure.

import functools
import json
import shlex
import sys
from pathlib import Path

from tracefl.atomic import write_text
from tracefl.config import resolve_preset
from tracefl.config.job import Job
from tracefl.data.registry import get_dataset_spec
from tracefl.models.catalog import QUICK_MODELS
from tracefl.models.prefetch import CACHE_VARIABLES, needs_prefetch, prefetch_key
from tracefl.config import items
from tracefl.runs import layout
from tracefl.steps.drop_models import KEEP_KEY, MARKER as DROPPED_MARKER

PRESET = resolve_preset(config, config.get("preset"))
DATA_DIR = PRESET.data_dir
RUNS = PRESET.runs
for _line in PRESET.notes + PRESET.skipped:
    print(f"tracefl: {_line}", file=sys.stderr)


CACHE_DIR = str(config.get("cache_dir", "resources/cache"))


def offline_job_environment():
    """Exports of every job: the model caches (TORCH_HOME, HF_HOME) and the hub offline.
    The two rules that fetch (download_dataset, prefetch_model) turn the hub back on."""
    cache = Path(CACHE_DIR).expanduser().resolve()
    exports = [f"export {name}={shlex.quote(str(cache / sub))};" for name, sub in CACHE_VARIABLES.items()]
    return " ".join([*exports, "export HF_HUB_OFFLINE=1;", ""])


ONLINE = "HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0"
# What each run's model needs from the network, by key (see tracefl.models.prefetch).
PREFETCH = {
    prefetch_key(spec.model, spec.pretrained): (spec.model, spec.pretrained)
    for spec in RUNS.values()
    if needs_prefetch(spec.model, spec.pretrained)
}


def model_files(run_id):
    """The prefetch marker of a run's model (nothing for models built locally)."""
    spec = RUNS[run_id]
    if not needs_prefetch(spec.model, spec.pretrained):
        return []
    return [f"{CACHE_DIR}/models/{prefetch_key(spec.model, spec.pretrained)}.json"]


def dataset_spec(dataset):
    """The description of a dataset: the config's local_datasets, or a built-in one."""
    return PRESET.local_datasets.get(dataset) or get_dataset_spec(dataset)


def local_dataset_file(dataset):
    """The user's file behind a local dataset (an input of its download job), else nothing."""
    spec = dataset_spec(dataset)
    return [spec.local_path] if spec.local_path and dataset not in PRESET.dataset_sources else []


def run_spec(run_id):
    return RUNS[run_id]


def job_file(run_id):
    """The file that tells a job everything about its run (written by rule job_file)."""
    return layout.job_path(run_id)


def write_job_file(text, path, log):
    """Write a job file atomically (a half-written one never looks complete)."""
    write_text(path, f"{text}\n")
    Path(log).write_text(f"wrote {path}\n")


def job_json(run_id):
    return Job(RUNS[run_id], PRESET.provenance, PRESET.simulation).to_json()


def train_threads():
    """Cores a training job keeps busy (SimulationSettings.train_threads)."""
    return PRESET.simulation.train_threads


def train_priority(run_id):
    """Long trainings first (1), the quick models' after (0): the many short jobs then fill
    the cores at the end of a build instead of one long job running beside idle ones."""
    return 0 if RUNS[run_id].model in QUICK_MODELS else 1


def reader_priority(run_id):
    """A step reading a run's client models goes before the next training of its kind: the models
    are then freed (keep_client_models: false) before more pile up on disk."""
    return train_priority(run_id) + 1


def upstream_priority(dataset, partition=None):
    """A download's or partition's priority: its most urgent training's (Snakemake does not
    pass a job's priority on to the jobs it waits for)."""
    return max(
        (train_priority(run_id) for run_id, spec in RUNS.items()
         if spec.dataset == dataset and partition in (None, spec.partition_id)),
        default=0,
    )


def partition_path(run_id):
    spec = RUNS[run_id]
    return layout.partition_path(spec.dataset, spec.partition_id)


def partition_run(dataset, partition):
    """Any run that uses this partition: they all agree on the settings that shape it."""
    for run_id, spec in RUNS.items():
        if spec.dataset == dataset and spec.partition_id == partition:
            return run_id
    raise ValueError(f"no run in preset '{PRESET.name}' uses partition {dataset}/{partition}")


def item_jobs(item):
    return [job_file(r) for r in PRESET.item_runs(item)]


def item_inputs(item):
    """Each run's rounds and provenance tables (FedDebug's where the item needs it)."""
    runs = PRESET.item_runs(item)
    files = {
        "jobs": [job_file(r) for r in runs],
        "rounds": [f"results/runs/{r}/rounds.csv" for r in runs],
        "provenance": [f"results/runs/{r}/provenance.csv" for r in runs],
    }
    if items.get_item(item).feddebug:  # FedDebug is image-only: text rows show NA for it
        files["feddebug"] = [
            f"results/runs/{r}/feddebug.csv" for r in runs if RUNS[r].faulty_ids and RUNS[r].data.kind == "image"
        ]
    if items.get_item(item).contributions:
        files["contributions"] = [f"results/runs/{r}/contributions.csv" for r in runs]
    if items.get_item(item).repair:
        files["repair"] = [f"results/runs/{r}/repair.csv" for r in runs]
    if items.get_item(item).judged_by_twin:  # the fault-free twins' rounds judge the faulty runs
        files["twins"] = sorted({f"results/runs/{t}/rounds.csv" for t in PRESET.twins(item).values()})
    return files


KEEP_CLIENT_MODELS = bool(config.get(KEEP_KEY, True))


@functools.cache
def _item_files_by_run():
    files = {}
    for item in PRESET.built_items():
        for paths in item_inputs(item.name).values():
            for path in paths:
                parts = Path(path).parts
                if parts[:2] == ("results", "runs") and len(parts) == 4:
                    files.setdefault(parts[2], set()).add(path)
    return {run: sorted(paths) for run, paths in files.items()}


def run_item_files(run_id):
    """Every file of a run's folder that an item reads (provenance, FedDebug, repair, Figure 1's
    contributions, rounds), from item_inputs: the drop of its client models waits for all of them."""
    return _item_files_by_run().get(run_id, [])


def client_model_drops():
    """What `all` adds to free the disk (keep_client_models: false): one marker a run, after its last reader."""
    return [] if KEEP_CLIENT_MODELS else [f"results/runs/{run}/{DROPPED_MARKER}" for run in RUNS]


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.\-]+",
    run=r"[A-Za-z0-9_.\-]+",
    model_key=r"[A-Za-z0-9_.\-]+",


def report_label(name):
    """The name the paper gives an item ("Figure 2", "Table I"), from its title."""
    return items.get_item(name).title.split(":")[0]


def rst_text(text):
    """Caption text with reStructuredText's markup characters escaped (no docutils warnings)."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_").replace("`", "\\`").replace("|", "\\|")
