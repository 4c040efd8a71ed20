"""Every paper item (figure or table) the workflow builds, defined once.

An entry names the item's outputs (by kind), the runs it is drawn from, whether it
needs FedDebug, its builder and its caption. The CLI's ``report`` verb, the Snakemake
targets and wildcard constraints, the config schema's item keys and the report captions
all derive from :data:`ITEMS`. Adding an item is one entry here plus one builder
function ``builder(results, prefix, item) -> DataFrame``.

This module imports neither torch nor matplotlib: the Snakemake controller reads it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracefl.data.registry import learned_thresholds

if TYPE_CHECKING:
    import pandas as pd

EXTENSIONS = {"figure": ("pdf", "png", "csv"), "table": ("csv", "md", "tex")}


@dataclass(frozen=True)
class Item:
    """One figure or table of the paper."""

    name: str
    kind: str  # "figure" or "table"
    title: str
    caption: str
    builder: str  # "module:function"
    # The config key whose runs this item is drawn from; None: its own runs (key = name).
    runs_from: str | None = None
    # Also needs FedDebug's results on the (image, faulty-client) runs.
    feddebug: bool = False
    # Also needs each run's per-client contributions to a few test inputs (the contributions step).
    contributions: bool = False
    # Also needs every run's repair.csv (the audit and its counterfactual repairs, tracefl.steps.repair).
    repair: bool = False
    # Its faulty runs are judged learned on their fault-free twins (RunSpec.fault_free_twin), trained too.
    judged_by_twin: bool = False

    def __post_init__(self) -> None:
        if self.kind not in EXTENSIONS:
            raise ValueError(f"item {self.name!r}: kind must be one of {', '.join(EXTENSIONS)}")

    @property
    def run_key(self) -> str:
        """The config key (under a preset) that lists this item's runs."""
        return self.runs_from or self.name

    @property
    def extensions(self) -> tuple[str, ...]:
        return EXTENSIONS[self.kind]

    def outputs(self, results_dir: str = "results") -> list[str]:
        return [f"{results_dir}/{self.name}.{ext}" for ext in self.extensions]

    def build(self, results: list[Any], prefix: str | Path) -> "pd.DataFrame":
        """Write this item's files at ``prefix`` (+ extensions) from finished runs."""
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)(results, Path(prefix), self)


_FIGURES = "tracefl.report.figures"
_TABLES = "tracefl.report.tables"

ITEMS: dict[str, Item] = {}
# Said by every item whose runs are checked against a learned accuracy (tracefl.report.learned;
# the thresholds are on the datasets' specs).
_INCONCLUSIVE = (" A run whose global model ends below its dataset's learned accuracy ("
                 + ", ".join(f"{name} {pct:g}%" for name, pct in learned_thresholds().items())
                 + ") is marked inconclusive (column conclusive; a red note or circle in figures).")
# Said by every item that reads a setting's seeds together (tracefl.report.seeds).
_SEEDS = (" Runs that differ only in their seed are one setting: the mean over its conclusive seeds with a 95% "
          "Student-t interval (a band, error bars, or 'mean [low, high]'; *_ci95_low/high in the CSV; none for one "
          "seed); inconclusive seeds are counted (conclusive_seeds of seeds), not averaged in.")


def register(item: Item) -> Item:
    """Add (or replace) an item; its name becomes a target and, if it owns runs, a config key."""
    if item.runs_from is not None and (item.runs_from not in ITEMS or ITEMS[item.runs_from].runs_from):
        raise ValueError(f"item {item.name!r}: runs_from={item.runs_from!r} must name an item with runs of its own")
    ITEMS[item.name] = item
    return item


for _item in (
    Item("figure1", "figure", "Figure 1: TraceFL on neighbouring labels",
         "Figure 1 of the TraceFL paper, from a real run (the paper draws it from hard-coded numbers): 10 clients, "
         "all every round, client i holding the labels i, i+1 and i+2 (mod the labels; flwr-datasets' "
         "PathologicalPartitioner). Left: each client's training examples per label. Right: TraceFL's contribution "
         "of each client (softmax over clients, last round) to two test inputs of each of two labels (correctly "
         "predicted ones first); a box marks the clients that hold the input's label, the true responsible "
         "clients. CSV: the contributions (part=contribution: input, label, predicted, client, contribution, "
         "holds_label, traced) and the label counts (part=label_count: client, label, examples).",
         "tracefl.report.figure1:figure1", contributions=True),
    Item("figure2", "figure", "Figure 2: localization accuracy per round",
         "Figure 2 of the TraceFL paper: TraceFL's localization accuracy per communication round beside its "
         "chance level, the strict 'top holder' metric and its chance level, two baselines on the same inputs "
         "(top holder): the last provenance layer alone, and the label-count rule (the participant with the most "
         "training examples of the predicted label), which never looks at a model and is perfect on both metrics "
         "by construction; and the global model's accuracy; one panel per dataset and model." + _INCONCLUSIVE + _SEEDS, f"{_FIGURES}:figure2"),
    Item("table1", "table", "Table I: faulty-client localization",
         "Table I: faulty-client localization (client 0 is faulty, all clients every round). fault: it flips "
         "every label to 0 (the artifact's fault), flips one label, or plants a backdoor (the ground_truth item's "
         "runs: a trigger relabelled to a label every client holds, fewer poisoned examples than the top holder "
         "has; its faulty predictions are triggered inputs predicted as the target). "
         "tracefl_faulty_pct: mispredictions traced to the faulty client; faulty_chance_pct: a random participant; "
         "feddebug_pct: FedDebug on generated inputs; label_count_faulty_pct: the participant with the most post-flip "
         "examples of the predicted label (finds a client that flips every label to 0 by construction); "
         "last_layer_faulty_pct: the last provenance layer alone. Correct predictions: label held / top holder "
         "beside chance and the same two baselines (top holder; the label-count rule is the top holder by "
         "construction where no client flips labels)." + _INCONCLUSIVE + " A faulty run is judged on its fault-free "
         "twin (the same settings without the fault, trained too; twin_final_global_acc_pct): the fault lowers its own "
         "model's accuracy by design (final_global_acc_pct says by how much)." + _SEEDS,
         f"{_TABLES}:table1", feddebug=True, judged_by_twin=True),
    Item("figure3", "figure", "Figure 3: TraceFL under data heterogeneity",
         "Figure 3 of the TraceFL paper: average localization accuracy (beside chance, the strict metric, the last "
         "layer alone and the label-count rule, perfect by construction) and best global model accuracy against "
         "the Dirichlet alpha of the partition." + _INCONCLUSIVE + _SEEDS, f"{_FIGURES}:figure3"),
    Item("figure4", "figure", "Figure 4: TraceFL under differential privacy",
         "Figure 4 of the TraceFL paper: localization and model accuracy against the DP noise multiplier "
         "(Flower's server-side fixed clipping)." + _INCONCLUSIVE + _SEEDS, f"{_FIGURES}:figure4"),
    Item("table2", "table", "Table II: differential privacy",
         "Table II: differential privacy (Flower server-side fixed clipping + Gaussian noise)." + _INCONCLUSIVE + _SEEDS, f"{_TABLES}:table2"),
    Item("table3", "table", "Table III: scalability in clients",
         "Table III: scalability in the total number of clients." + _INCONCLUSIVE + _SEEDS, f"{_TABLES}:table3"),
    Item("figure5", "figure", "Figure 5: scalability in rounds",
         "Figure 5 of the TraceFL paper: long runs, localization and model accuracy per round." + _INCONCLUSIVE + _SEEDS,
         f"{_FIGURES}:figure5"),
    Item("figure6", "figure", "Figure 6: localization time per input",
         "Figure 6 of the TraceFL paper: measured localization time per input, TraceFL against FedDebug, "
         "per dataset (Table I's runs): mean over the dataset's runs with a 95% interval.", f"{_FIGURES}:figure6", runs_from="table1", feddebug=True),
    Item("ground_truth", "figure", "Ground truth: planted provenance",
         "Ground-truth provenance benchmark (not in the paper): runs in which the client that caused a prediction "
         "is planted (tracefl.data.scenarios). style: clients 0 and 1 hold the same number of examples of one "
         "label, each in its own style, no other client holds it; a styled test input predicted as that label "
         "should trace to the client of its style. backdoor: client 0 stamps a trigger on some examples and "
         "relabels them to a label every client holds, fewer than the top holder of that label; a triggered test "
         "input predicted as the target should trace to client 0. Bars: the share of planted inputs each method "
         "traces to the planting client (%; per round, then over rounds), mean over seeds with a 95% Student-t interval (clipped to 0-100); dotted: a random "
         "participant. The label-count rule (most training examples of the predicted label, ties to the first "
         "participant) gets 50% on style and 0% on backdoor by construction. FedDebug (backdoor, images): share "
         "of its generated inputs that single out client 0. CSV: one row per dataset, scenario, seed and method "
         "(accuracy, chance in %; n_inputs traced; planted_rate_pct: the share of planted test inputs predicted "
         "as planted, the backdoor's attack success, per round then over rounds; final_planted_rate_pct: the same "
         "over the last three traced rounds; runs with fewer than 20 planted inputs are inconclusive "
         "and not averaged in).",
         "tracefl.report.ground_truth:figure", feddebug=True),
    Item("ground_truth_table", "table", "Ground truth: planted provenance (table)",
         "Ground-truth provenance benchmark (the runs of the ground_truth figure): per dataset, scenario and "
         "method, the share of planted test inputs traced to the planting client, mean over the conclusive seeds "
         "with a 95% Student-t interval clipped to 0-100 (NA with one seed), a random participant's chance, planted inputs "
         "traced, the planted rate (backdoor: attack success) and the global model's last-round accuracy.",
         "tracefl.report.ground_truth:table", runs_from="ground_truth", feddebug=True),
    Item("ablation_weighting", "table", "Ablation: client weighting",
         "Ablation: client weighting in TraceFL (Figure 2 runs). label_held / top_holder: as configured "
         "(provenance.client_weighting; default none, as the paper's artifact); the data_size columns: each client's score "
         "times its share of the round's examples (paper Eq. 5-6), from the same traces. Averages over rounds." + _SEEDS,
         f"{_TABLES}:ablation_weighting", runs_from="figure2"),
    Item("repair", "figure", "Repair: exclude the responsible clients, or aggregate robustly",
         "Repair (not in the paper): localize, then act. Each run is audited over every round (TraceFL traces the "
         "server test set's first 500 inputs to participants; per client a one-sided Mantel-Haenszel test of its share "
         "of traced mispredictions against its share of traced correct predictions, Holm at 0.05), then its last round "
         "is re-aggregated from the recorded replies: FedAvg without the audit's flagged clients (TraceFL audit), "
         "without FedDebug's pick, the label-count rule's pick or a random pick of the same size, without the truly "
         "faulty clients (oracle) or without nobody (the recorded model); and with Flower's robust strategies (Krum, "
         "MultiKrum, Bulyan where K >= 4f+3, FedMedian, FedTrimmedAvg beta 0.2; f = the number of faulty clients, at "
         "least 1) on the same replies. Bars: accuracy on the server test set after the repair (%; for a backdoor also "
         "its attack success: triggered test inputs predicted as the target), dashed: before (nobody excluded). CSV: one "
         "row per run and method with precision and recall at naming the faulty clients. Scenarios: Table I's label "
         "flip (client 0 flips 1-9 to 0), the ground truth's backdoor, two and three flippers, a client whose labels "
         "are random, and fault-free runs (precision/recall NA: nobody is faulty)." + _SEEDS,
         "tracefl.report.repair:figure", repair=True),
    Item("repair_table", "table", "Repair: exclude the responsible clients, or aggregate robustly (table)",
         "Repair (the runs of the repair figure): per scenario and method, accuracy after the counterfactual repair of "
         "the last round and its change from the recorded model (percentage points), a backdoor's attack success "
         "after it, how many clients the method excluded, and precision / recall at naming the truly faulty clients "
         "(%), each the mean over seeds with a 95% Student-t interval (NA with one seed).",
         "tracefl.report.repair:table", runs_from="repair", repair=True),
):
    register(_item)


def get_item(name: str) -> Item:
    try:
        return ITEMS[name]
    except KeyError:
        raise ValueError(f"unknown item {name!r}; allowed: {', '.join(ITEMS)}") from None


def names(kind: str | None = None) -> list[str]:
    """Item names, in catalog order (of one kind if given)."""
    return [i.name for i in ITEMS.values() if kind is None or i.kind == kind]


def run_keys() -> list[str]:
    """The config keys that list runs (items drawn from other items' runs add none)."""
    keys: list[str] = []
    for item in ITEMS.values():
        if item.run_key not in keys:
            keys.append(item.run_key)
    return keys


def wildcard_pattern(kind: str) -> str:
    """A regular expression matching exactly the item names of ``kind`` (for Snakemake)."""
    return "|".join(re.escape(name) for name in names(kind))
