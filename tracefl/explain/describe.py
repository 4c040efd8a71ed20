"""Explanations as text: per input, the predicted class, every client's contribution, the traced client."""

from __future__ import annotations

import math

from tracefl.explain.recorded import Explanation
from tracefl.runs.layout import client_order


def describe(explanation: Explanation) -> str:
    """One block per input of a single round."""
    lines = []
    for i, traced in enumerate(explanation.traced):
        lines.append(f"round {explanation.round}, input {i}: predicted class {int(explanation.predicted[i])}, "
                     f"traced to client {traced}")
        for k, client in enumerate(explanation.client_ids):
            mark = "  <- traced" if client == traced else ""
            lines.append(f"  client {client:>6}  contribution {float(explanation.scores[i, k]):.3f}{mark}")
    return "\n".join(lines)


def describe_rounds(explanations: list[Explanation]) -> str:
    """Per input, a table of every client's contribution in every round (blank: not a participant)."""
    clients = all_clients(explanations)
    n_inputs = len(explanations[0].traced) if explanations else 0
    lines = []
    for i in range(n_inputs):
        lines.append(f"input {i}: contribution per round (blank: not a participant that round)")
        lines.append("  round  predicted  traced  " + "  ".join(f"{c:>6}" for c in clients))
        for e in explanations:
            share = dict(zip(e.client_ids, e.scores[i].tolist()))
            cells = "  ".join(f"{share[c]:6.3f}" if c in share else " " * 6 for c in clients)
            lines.append(f"  {e.round:>5}  {int(e.predicted[i]):>9}  {e.traced[i]:>6}  {cells}")
    return "\n".join(lines)


def contribution(explanation: Explanation, input_index: int, client: str) -> float:
    """A client's contribution to one input (NaN where it did not take part in the round)."""
    if client not in explanation.client_ids:
        return math.nan
    return float(explanation.scores[input_index, explanation.client_ids.index(client)])


def all_clients(explanations: list[Explanation]) -> list[str]:
    """Every client that took part in any of the rounds, in client-id order."""
    return sorted({c for e in explanations for c in e.client_ids}, key=client_order)
