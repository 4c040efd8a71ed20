# Resolve the selected preset into runs; the same code serves the CLI, so a run id means one thing.

import json
import shlex

from tracefl.config import resolve_preset

PRESET = resolve_preset(config, config.get("preset"))
DATA_DIR = PRESET.data_dir
RUNS = PRESET.runs


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
TABLE_RUNS = {"table1": "table1", "table2": "table2", "table3": "table3"}
FEDDEBUG_ITEMS = ("figure6", "table1")


def item_inputs(item, source):
    files = {"rounds": item_files(source, "rounds.csv"), "provenance": item_files(source, "provenance.csv")}
    if item in FEDDEBUG_ITEMS:
        files["feddebug"] = [
            f"results/runs/{r}/feddebug.csv" for r in PRESET.items[source] if RUNS[r].faulty_clients
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
