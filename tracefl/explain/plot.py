"""Explanations as pictures: bars of every client's contribution (one round), or lines across rounds."""

from __future__ import annotations

import math
from pathlib import Path

from tracefl.explain.describe import all_clients, contribution, selection_line
from tracefl.explain.recorded import Explanation

MAX_PANELS = 12  # inputs drawn; the text output covers every input


def _figure(n: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def _subset_note(e: Explanation, drawn: int) -> str:
    """What the chart shows when it is not every input given: a selection, or the first panels only."""
    notes = [selection_line(e)] if selection_line(e) else []
    if drawn < len(e.traced):
        notes.append(f"drawn: the first {drawn} of these {len(e.traced)} (the text output lists all)")
    return ("\n" + "; ".join(notes)) if notes else ""


def _title(e: Explanation, i: int, traced: str) -> str:
    label = "" if e.labels is None else f" (label {int(e.labels[i])})"
    return f"input {e.index[i]}: predicted {int(e.predicted[i])}{label} -> client {traced}"


def plot_round(explanation: Explanation, path: str | Path) -> Path:
    """Per input, a bar per participating client; the traced client's bar is highlighted."""
    n = min(len(explanation.traced), MAX_PANELS)
    fig, axes = _figure(max(n, 1))
    for i, ax in enumerate(axes[:n]):
        values = explanation.scores[i].tolist()
        colours = ["tab:red" if c == explanation.traced[i] else "tab:blue" for c in explanation.client_ids]
        ax.bar(range(len(values)), values, color=colours)
        ax.set_xticks(range(len(values)), explanation.client_ids, rotation=90 if len(values) > 12 else 0)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("client")
        ax.set_ylabel("contribution")
        ax.set_title(_title(explanation, i, explanation.traced[i]), fontsize=9)
    fig.suptitle(f"TraceFL: client contributions to the global model's prediction, round {explanation.round}"
                 + _subset_note(explanation, n), fontsize=10)
    return _save(fig, path)


def plot_rounds(explanations: list[Explanation], path: str | Path) -> Path:
    """Per input, one line per client across rounds (gaps where a client did not take part)."""
    from matplotlib.ticker import MaxNLocator

    clients = all_clients(explanations)
    rounds = [e.round for e in explanations]
    n = min(len(explanations[0].traced), MAX_PANELS)
    fig, axes = _figure(max(n, 1))
    for i, ax in enumerate(axes[:n]):
        ax.axhline(0, color="0.85", linewidth=0.8)
        for client in clients:
            ax.plot(rounds, [contribution(e, i, client) for e in explanations], marker="o", markersize=3,
                    label=f"client {client}")
        ax.set_ylim(-0.03, 1.05)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("round")
        ax.set_ylabel("contribution")
        last = explanations[-1]
        label = "" if last.labels is None else f" (label {int(last.labels[i])})"
        ax.set_title(f"input {last.index[i]}: predicted {int(last.predicted[i])}{label} in round {last.round}",
                     fontsize=9)
    if n:
        axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle("TraceFL: each client's contribution to the prediction, per round"
                 + _subset_note(explanations[-1], n), fontsize=10)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    from tracefl.atomic import replacing

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=150)
    plt.close(fig)
    return path
