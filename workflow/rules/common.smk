# Resolve the selected preset into runs; the same code serves the CLI, so a run id means one thing.

import json
import shlex
import sys

from tracefl.config import resolve_preset
from tracefl.data.registry import get_dataset_spec

# Also registers the config's local_datasets, here and (through the environment) in every job.
PRESET = resolve_preset(config, config.get("preset"))
DATA_DIR = PRESET.data_dir
RUNS = PRESET.runs
for _line in PRESET.skipped:
    print(f"tracefl: {_line}", file=sys.stderr)


def local_dataset_file(dataset):
    """The user's file behind a local dataset (an input of its download job), else nothing."""
    spec = get_dataset_spec(dataset)
    return [spec.local_path] if spec.local_path and dataset not in PRESET.dataset_sources else []


def is_image_run(run_id):
    return get_dataset_spec(RUNS[run_id].dataset).kind == "image"


def run_spec(run_id):
    return RUNS[run_id]


def spec_json(run_id):
    return json.dumps(RUNS[run_id].to_dict(), sort_keys=True)


def partition_path(run_id):
    spec = RUNS[run_id]
    return f"results/partitions/{spec.dataset}/{spec.partition_id}.json"


def partition_spec(dataset, partition):
    """Any run that uses this partition: they all agree on the settings that shape it."""
    for spec in RUNS.values():
        if spec.dataset == dataset and spec.partition_id == partition:
            return spec
    raise ValueError(f"no run in preset '{PRESET.name}' uses partition {dataset}/{partition}")


def item_specs_json(item):
    return json.dumps([RUNS[r].to_dict() for r in PRESET.items[item]], sort_keys=True)


def item_files(item, name):
    return [f"results/runs/{r}/{name}" for r in PRESET.items[item]]


# Which runs each item is drawn from (Figure 6 is measured on Table I's runs).
FIGURE_RUNS = {"figure2": "figure2", "figure3": "figure3", "figure4": "figure4", "figure5": "figure5", "figure6": "table1"}
# The client-weighting ablation (TRACEFL.md section 1.7) re-scores Figure 2's traces.
TABLE_RUNS = {"table1": "table1", "table2": "table2", "table3": "table3", "ablation_weighting": "figure2"}
FEDDEBUG_ITEMS = ("figure6", "table1")


def item_inputs(item, source):
    files = {"rounds": item_files(source, "rounds.csv"), "provenance": item_files(source, "provenance.csv")}
    if item in FEDDEBUG_ITEMS:  # FedDebug is image-only: text rows show NA for it
        files["feddebug"] = [
            f"results/runs/{r}/feddebug.csv"
            for r in PRESET.items[source]
            if RUNS[r].faulty_clients and is_image_run(r)
        ]
    return files


def built_items():
    """Items the selected preset defines runs for."""
    figures = [f for f, src in FIGURE_RUNS.items() if PRESET.items.get(src)]
    tables = [t for t, src in TABLE_RUNS.items() if PRESET.items.get(src)]
    return figures, tables


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.\-]+",
    run=r"[A-Za-z0-9_.\-]+",
