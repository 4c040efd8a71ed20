"""Explanations as text, CSV or JSON: per input, its prediction and true label, every client's
contribution beside its training examples of that label, and the traced client."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from tracefl.runs.layout import client_order

if TYPE_CHECKING:
    from tracefl.explain.recorded import Explanation

FORMATS = ("text", "csv", "json")


def _label_note(e: Explanation, row: int) -> str:
    if e.labels is None:
        return ""
    true = int(e.labels[row])
    return f", true label {true}" + (" (mispredicted)" if int(e.predicted[row]) != true else "")


def _count_cell(e: Explanation, row: int, client: str) -> str:
    n = e.label_count(row, client)
    return "" if n is None else f"  examples of {e.label_of(row)}: {n:>5}"


def selection_line(e: Explanation) -> str:
    """What the rows are, when they are not every input given ("" otherwise)."""
    if len(e.traced) == e.of and not e.selection:
        return ""
    return f"{len(e.traced)} of {e.of} inputs ({e.selection})"


def describe(explanation: Explanation) -> str:
    """One block per input of a single round."""
    e = explanation
    lines = [f"# {selection_line(e)}"] if selection_line(e) else []
    for i, traced in enumerate(e.traced):
        lines.append(f"round {e.round}, input {e.index[i]}: predicted class {int(e.predicted[i])}{_label_note(e, i)}, "
                     f"traced to client {traced}")
        for k, client in enumerate(e.client_ids):
            mark = "  <- traced" if client == traced else ""
            lines.append(f"  client {client:>6}  contribution {float(e.scores[i, k]):.3f}"
                         f"{_count_cell(e, i, client)}{mark}")
    if not e.traced:
        lines.append(f"round {e.round}: no input to explain")
    return "\n".join(lines)


def describe_rounds(explanations: list[Explanation]) -> str:
    """Per input, a table of every client's contribution in every round (blank: not a participant)."""
    clients = all_clients(explanations)
    last = explanations[-1]
    lines = [f"# {selection_line(last)}"] if selection_line(last) else []
    for i in range(len(last.traced)):
        lines.append(f"input {last.index[i]}{_label_note(last, i)}: contribution per round "
                     "(blank: not a participant that round)")
        if last.label_counts is not None:
            counts = "  ".join(f"{c}: {last.label_count(i, c)}" for c in clients if last.label_count(i, c) is not None)
            lines.append(f"  training examples of class {last.label_of(i)} per client: {counts}")
        lines.append("  round  predicted  traced  " + "  ".join(f"{c:>6}" for c in clients))
        for e in explanations:
            share = dict(zip(e.client_ids, e.scores[i].tolist()))
            cells = "  ".join(f"{share[c]:6.3f}" if c in share else " " * 6 for c in clients)
            lines.append(f"  {e.round:>5}  {int(e.predicted[i]):>9}  {e.traced[i]:>6}  {cells}")
    if not last.traced:
        lines.append("no input to explain")
    return "\n".join(lines)


def to_csv(explanations: list[Explanation]) -> str:
    """One row per (round, input, client): :meth:`Explanation.table`'s columns."""
    import pandas as pd

    return pd.concat([e.table() for e in explanations], ignore_index=True).to_csv(index=False)


def to_json(explanations: list[Explanation]) -> str:
    """One object per (round, input): prediction, label, traced client, and per client its
    contribution and training examples of the label."""
    records = []
    for e in explanations:
        for i, traced in enumerate(e.traced):
            records.append({
                "round": e.round, "input": e.index[i], "predicted": int(e.predicted[i]),
                "label": None if e.labels is None else int(e.labels[i]),
                "mispredicted": None if e.labels is None else int(e.predicted[i]) != int(e.labels[i]),
                "traced": traced,
                "clients": [{"client": c, "contribution": float(e.scores[i, k]), "label_examples": e.label_count(i, c)}
                            for k, c in enumerate(e.client_ids)],
            })
    return json.dumps(records, indent=1)


def contribution(explanation: Explanation, input_index: int, client: str) -> float:
    """A client's contribution to one input (NaN where it did not take part in the round)."""
    if client not in explanation.client_ids:
        return math.nan
    return float(explanation.scores[input_index, explanation.client_ids.index(client)])


def all_clients(explanations: list[Explanation]) -> list[str]:
    """Every client that took part in any of the rounds, in client-id order."""
    return sorted({c for e in explanations for c in e.client_ids}, key=client_order)
