"""Tables I-III and Figures 3-6 of the paper, built from finished runs.

Every item shows TraceFL's accuracy beside its chance level, the strict "top holder"
metric (for correct predictions), the global model accuracy and how many inputs
were traced, so no number stands without what it must be compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tracefl.config import RunSpec  # noqa: E402
from tracefl.data.registry import get_dataset_spec  # noqa: E402
from tracefl.report.figure2 import MODEL_NAMES, Panel, plot_rounds  # noqa: E402
from tracefl.report.summary import per_round, per_run  # noqa: E402


@dataclass
class RunResult:
    """A finished run: its settings, rounds, provenance rows and (faulty runs) FedDebug rows."""

    spec: RunSpec
    rounds: pd.DataFrame
    provenance: pd.DataFrame
    feddebug: pd.DataFrame | None = None

    @classmethod
    def load(cls, spec: RunSpec, runs_dir: str | Path) -> "RunResult":
        run = Path(runs_dir) / spec.run_id
        feddebug = pd.read_csv(run / "feddebug.csv") if (run / "feddebug.csv").exists() else None
        return cls(spec, pd.read_csv(run / "rounds.csv"), pd.read_csv(run / "provenance.csv"), feddebug)

    def summary(self) -> dict:
        """Averages over rounds, as the paper reports them."""
        row = {
            "dataset": get_dataset_spec(self.spec.dataset).display,
            "model": MODEL_NAMES.get(self.spec.model, self.spec.model),
            "alpha": self.spec.alpha,
            "clients": self.spec.num_clients,
            "per_round": self.spec.clients_per_round,
            "rounds": self.spec.rounds,
        }
        correct = per_run(per_round(self.provenance, self.rounds, "correct"))
        row.update(
            traced_correct=correct["inputs_traced"],
            tracefl_pct=correct["label_held_pct"],
            chance_pct=correct["label_held_chance_pct"],
            top_holder_pct=correct["top_holder_pct"],
            top_holder_chance_pct=correct["top_holder_chance_pct"],
            best_global_acc_pct=correct["best_global_accuracy_pct"],
            last_global_acc_pct=correct["last_global_accuracy_pct"],
            tracefl_s_per_input=correct["seconds_per_input"],
            run_id=self.spec.run_id,
        )
        return row

    def faulty_summary(self) -> dict:
        """Faulty-client localization on mispredictions, TraceFL beside FedDebug and chance."""
        mis = self.provenance[self.provenance["kind"] == "misprediction"]
        by_round = mis.groupby("round")
        row = {
            "traced_mispredictions": int(len(mis)),
            "rounds_with_mispredictions": int(by_round.ngroups),
            "tracefl_faulty_pct": float(by_round["faulty_traced"].mean().mean() * 100) if len(mis) else float("nan"),
            "faulty_chance_pct": float(by_round["faulty_chance"].mean().mean() * 100) if len(mis) else float("nan"),
            # per round, then over rounds, like every other number here
            "tracefl_mis_s_per_input": float(by_round["seconds"].mean().mean()) if len(mis) else float("nan"),
        }
        if self.feddebug is not None and len(self.feddebug):
            fd = self.feddebug.groupby("round")
            row["feddebug_pct"] = float(fd["score"].mean().mean() * 100)
            row["feddebug_s_per_input"] = float(self.feddebug["seconds"].mean())
        else:
            row["feddebug_pct"] = float("nan")
            row["feddebug_s_per_input"] = float("nan")
        return row


def write_table(table: pd.DataFrame, prefix: str | Path, caption: str) -> None:
    """The same table as CSV (full precision), Markdown and LaTeX (rounded)."""
    prefix = Path(prefix)
    table.to_csv(prefix.with_suffix(".csv"), index=False)
    shown = table.drop(columns=[c for c in table.columns if c == "run_id"])
    shown = shown.round({c: 1 for c in shown.columns if c.endswith("_pct")} | {c: 4 for c in shown.columns if "_s_" in c})
    prefix.with_suffix(".md").write_text(f"{caption}\n\n{shown.to_markdown(index=False)}\n")
    prefix.with_suffix(".tex").write_text(
        shown.to_latex(index=False, caption=caption, label=f"tab:{prefix.name}", float_format="%g", na_rep="NA")
    )


def table1(results: list[RunResult], prefix: str | Path) -> pd.DataFrame:
    """Table I: faulty-client localization, TraceFL vs FedDebug vs chance, per dataset and alpha."""
    rows = [{**r.summary(), **r.faulty_summary()} for r in results]
    cols = [
        "dataset", "model", "alpha", "clients", "rounds", "traced_mispredictions", "tracefl_faulty_pct",
        "faulty_chance_pct", "feddebug_pct", "traced_correct", "tracefl_pct", "chance_pct", "top_holder_pct",
        "top_holder_chance_pct", "best_global_acc_pct", "tracefl_mis_s_per_input", "feddebug_s_per_input", "run_id",
    ]
    table = pd.DataFrame(rows)[cols]
    write_table(
        table,
        prefix,
        "Table I: faulty-client localization (label-flipping client 0, all clients every round). "
        "tracefl_faulty_pct: mispredictions traced to the faulty client; faulty_chance_pct: a random participant; "
        "feddebug_pct: FedDebug on generated inputs. Correct predictions: label held / top holder beside chance.",
    )
    return table


def table2(results: list[RunResult], prefix: str | Path) -> pd.DataFrame:
    """Table II: TraceFL under server-side differential privacy (noise multiplier, clipping norm)."""
    rows = [{"dp_noise": r.spec.dp_noise, "dp_clip": r.spec.dp_clip, **r.summary()} for r in results]
    table = pd.DataFrame(rows)
    write_table(table, prefix, "Table II: differential privacy (Flower server-side fixed clipping + Gaussian noise).")
    return table


def table3(results: list[RunResult], prefix: str | Path) -> pd.DataFrame:
    """Table III: scalability in the number of clients."""
    table = pd.DataFrame([r.summary() for r in results]).sort_values(["dataset", "model", "clients"])
    write_table(table, prefix, "Table III: scalability in the total number of clients.")
    return table


ABLATION_METRICS = ["label_held", "label_held_data_size", "label_held_chance",
                    "top_holder", "top_holder_data_size", "top_holder_chance"]


def ablation_weighting(results: list[RunResult], prefix: str | Path) -> pd.DataFrame:
    """Ablation of client weighting: each trace scored without (the artifact's default) and
    with data-size weighting p_k = n_k / sum n (paper Eq. 5-6), beside the chance levels."""
    rows = []
    for r in results:
        summary = per_run(per_round(r.provenance, r.rounds, "correct", ABLATION_METRICS), ABLATION_METRICS)
        rows.append({
            "dataset": get_dataset_spec(r.spec.dataset).display,
            "model": MODEL_NAMES.get(r.spec.model, r.spec.model),
            "alpha": r.spec.alpha,
            "clients": r.spec.num_clients,
            "per_round": r.spec.clients_per_round,
            "rounds": r.spec.rounds,
            "traced_correct": summary["inputs_traced"],
            "label_held_pct": summary["label_held_pct"],
            "label_held_data_size_pct": summary["label_held_data_size_pct"],
            "label_held_chance_pct": summary["label_held_chance_pct"],
            "top_holder_pct": summary["top_holder_pct"],
            "top_holder_data_size_pct": summary["top_holder_data_size_pct"],
            "top_holder_chance_pct": summary["top_holder_chance_pct"],
            "run_id": r.spec.run_id,
        })
    table = pd.DataFrame(rows)
    write_table(
        table,
        prefix,
        "Ablation: client weighting in TraceFL (Figure 2 runs). label_held / top_holder: as configured "
        "(provenance.client_weighting; default none, as the paper's artifact); *_data_size: each client's score "
        "times its share of the round's examples (paper Eq. 5-6), from the same traces. Averages over rounds.",
    )
    return table


def _sweep_plot(table: pd.DataFrame, x: str, xlabel: str, out_pdf, out_png, title: str) -> None:
    """One panel per (dataset, model): localization metrics, chance levels and model accuracy against ``x``."""
    groups = list(table.groupby(["dataset", "model"], sort=False))
    cols = min(3, len(groups))
    rows = int(np.ceil(len(groups) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.4 * rows + 0.8), squeeze=False)
    for i, ((dataset, model), group) in enumerate(groups):
        ax = axes[i // cols][i % cols]
        group = group.sort_values(x)
        ax.plot(group[x], group["tracefl_pct"], "o-", color="tab:blue", label="TraceFL accuracy (avg over rounds)")
        ax.plot(group[x], group["chance_pct"], ":", color="tab:blue", label="chance (TraceFL)")
        ax.plot(group[x], group["top_holder_pct"], "s-", color="tab:green", label="strict: top holder")
        ax.plot(group[x], group["top_holder_chance_pct"], ":", color="tab:green", label="chance (top holder)")
        ax.plot(group[x], group["best_global_acc_pct"], "^-", color="tab:orange", label="best global model accuracy")
        ax.set_title(f"{dataset} - {model}\n{int(group['traced_correct'].sum())} inputs traced", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Accuracy (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    for j in range(len(groups), rows * cols):
        axes[j // cols][j % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title, y=0.0, va="bottom", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 0.9))
    fig.savefig(out_pdf)
    fig.savefig(out_png, dpi=150)
    plt.close(fig)


def figure3(results: list[RunResult], out_pdf, out_png, out_csv) -> pd.DataFrame:
    """Figure 3: average localization accuracy and best global accuracy against Dirichlet alpha."""
    table = pd.DataFrame([r.summary() for r in results])
    table.to_csv(out_csv, index=False)
    _sweep_plot(table, "alpha", "Dirichlet alpha (smaller = more non-IID)", out_pdf, out_png,
                "Figure 3: TraceFL under data heterogeneity")
    return table


def figure4(results: list[RunResult], out_pdf, out_png, out_csv) -> pd.DataFrame:
    """Figure 4: localization and model accuracy against the DP noise multiplier."""
    table = pd.DataFrame([{"dp_noise": r.spec.dp_noise, "dp_clip": r.spec.dp_clip, **r.summary()} for r in results])
    table.to_csv(out_csv, index=False)
    clip = ", ".join(f"{c:g}" for c in sorted(table["dp_clip"].unique()))
    _sweep_plot(table, "dp_noise", f"DP noise multiplier (clipping norm {clip})", out_pdf, out_png,
                "Figure 4: TraceFL under differential privacy")
    return table


def figure5(results: list[RunResult], out_pdf, out_png, out_csv) -> pd.DataFrame:
    """Figure 5: scalability in rounds: per-round localization and model accuracy of long runs."""
    return plot_rounds([Panel(r.spec, r.rounds, r.provenance) for r in results], out_pdf, out_png, out_csv)


def figure6(results: list[RunResult], out_pdf, out_png, out_csv) -> pd.DataFrame:
    """Figure 6: measured localization time per input, TraceFL vs FedDebug, per dataset (Table I runs)."""
    rows = []
    for r in results:
        summary = {**r.summary(), **r.faulty_summary()}
        # The faulty-client task that FedDebug also does: TraceFL's time on mispredictions
        # (correct predictions where a run has none).
        mispredictions = summary["traced_mispredictions"] > 0
        rows.append(
            {
                "dataset": summary["dataset"],
                "model": summary["model"],
                "alpha": r.spec.alpha,
                "traced": "mispredictions" if mispredictions else "correct predictions",
                "tracefl_s_per_input": summary["tracefl_mis_s_per_input" if mispredictions else "tracefl_s_per_input"],
                "feddebug_s_per_input": summary["feddebug_s_per_input"],
                "inputs_traced": summary["traced_mispredictions"] if mispredictions else summary["traced_correct"],
            }
        )
    table = pd.DataFrame(rows)
    table.to_csv(out_csv, index=False)
    per_dataset = table.groupby("dataset", sort=False)[["tracefl_s_per_input", "feddebug_s_per_input"]].mean()
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(per_dataset), 3.4))
    pos = np.arange(len(per_dataset))
    ax.bar(pos - 0.2, per_dataset["tracefl_s_per_input"], 0.4, label="TraceFL")
    ax.bar(pos + 0.2, per_dataset["feddebug_s_per_input"], 0.4, label="FedDebug")
    ax.set_xticks(pos, per_dataset.index, fontsize=8)
    ax.set_ylabel("Localization time per input (s)")
    ax.set_title(f"Figure 6: time per input ({int(table['inputs_traced'].sum())} inputs traced)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_pdf)
    fig.savefig(out_png, dpi=150)
    plt.close(fig)
    return table
