"""Audit every round of a recorded run: the global model's predictions on labelled inputs,
each traced to the participant responsible (the provenance engine, as ``explain`` uses it),
counted per client and round, then tested per client (:mod:`tracefl.audit.statistics`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from tracefl.atomic import write_csv
from tracefl.audit.statistics import ALPHA, flag_clients
from tracefl.errors import InputError
from tracefl.models.inputs import Inputs, num_rows
from tracefl.runs.layout import client_order

if TYPE_CHECKING:
    from tracefl.explain.recorded import RecordedRun

#: Per (client, round) columns of ``Audit.counts``.
COUNT_COLUMNS = ["round", "client", "participated", "traced_mispredictions", "traced_correct"]


@dataclass
class Audit:
    """A run's audit: counts per (client, round), the per-client test, per-round accuracy."""

    counts: pd.DataFrame  # COUNT_COLUMNS
    clients: pd.DataFrame  # tracefl.audit.statistics.CLIENT_COLUMNS
    rounds: pd.DataFrame  # round, accuracy, mispredictions, inputs
    alpha: float = ALPHA
    traces: pd.DataFrame | None = None  # statistics.TRACE_COLUMNS: every traced input

    @property
    def flagged(self) -> list[str]:
        return self.clients.loc[self.clients["flagged"], "client"].tolist()

    def verdict(self) -> str:
        """What a person reads at one glance: who is flagged, on what evidence."""
        n_mis = int(self.counts["traced_mispredictions"].sum())
        n_cor = int(self.counts["traced_correct"].sum())
        head = (f"audit of {len(self.rounds)} rounds, {len(self.clients)} clients: {n_mis} mispredictions and "
                f"{n_cor} correct predictions traced (per client: one-sided Mantel-Haenszel over rounds, Holm, alpha {self.alpha})")
        lines = [head]
        if not self.flagged:
            lines.append("VERDICT: no client is behind the mistakes more than behind the correct predictions")
        else:
            lines.append(f"VERDICT: flagged {', '.join(self.flagged)}")
        for _, r in self.clients.iterrows():
            mark = "FLAGGED" if r["flagged"] else "       "
            lines.append(f"  {mark} client {r['client']:>6}: {r['misprediction_share']:6.1%} of mistakes, "
                         f"{r['correct_share']:6.1%} of correct (reward share), chance {r['chance_share']:6.1%}, "
                         f"z {r['cmh_z']:5.1f}, p_holm {r['p_holm']:.2g}")
        return "\n".join(lines)

    def write(self, out_csv: str | Path) -> Path:
        write_csv(self.clients, out_csv)
        return Path(out_csv)


def audit_run(
    run: RecordedRun,
    inputs: Inputs,
    labels: torch.Tensor | np.ndarray,
    *,
    rounds: list[int] | None = None,
    device: str = "auto",
    alpha: float = ALPHA,
    **trace_options: Any,
) -> Audit:
    """Trace ``inputs`` in every round of ``run`` (or ``rounds``) and test each client.

    ``labels``: the inputs' true classes. ``trace_options`` go to the provenance engine
    (``layer_decay``, ``client_weighting``, ``chunk_size``).
    """
    y = torch.as_tensor(np.asarray(labels)).long().reshape(-1)
    if num_rows(inputs) != len(y):
        raise InputError(f"{num_rows(inputs)} inputs but {len(y)} labels: give one label per input")
    if len(y) == 0:
        raise InputError("no inputs to audit")
    traces, participation, per_round = [], [], []
    for rnd in rounds or run.rounds:
        explanation = run.explain(inputs, rnd, device=device, **trace_options)
        predicted = explanation.predicted.cpu()
        correct = (predicted == y).numpy()
        traces.append(pd.DataFrame({"round": rnd, "label": y.numpy(), "predicted": predicted.numpy(), "correct": correct,
                                    "client": explanation.traced}))
        participation.extend({"round": rnd, "client": c} for c in explanation.client_ids)
        per_round.append({"round": rnd, "accuracy": float(correct.mean()), "mispredictions": int((~correct).sum()),
                          "inputs": len(y)})
    return audit_from_traces(pd.concat(traces, ignore_index=True), pd.DataFrame(participation),
                             pd.DataFrame(per_round), alpha)


def audit_from_traces(traces: pd.DataFrame, participation: pd.DataFrame, rounds: pd.DataFrame,
                      alpha: float = ALPHA, strata: list[str] | None = None) -> Audit:
    """The audit of traced inputs (``statistics.TRACE_COLUMNS``) and who took part in each round
    (``strata``: see :func:`tracefl.audit.statistics.flag_clients`)."""
    clients = flag_clients(traces, participation, alpha, strata)
    order = sorted(clients["client"], key=client_order)
    clients = clients.set_index("client").loc[order].reset_index()
    grid = pd.MultiIndex.from_product([sorted(rounds["round"]), order], names=["round", "client"])
    t = traces.assign(client=traces["client"].astype(str))
    counts = pd.DataFrame(index=grid)
    counts["participated"] = participation.assign(client=participation["client"].astype(str), one=1) \
        .set_index(["round", "client"])["one"].reindex(grid, fill_value=0)
    counts["traced_mispredictions"] = t[~t["correct"]].groupby(["round", "client"]).size().reindex(grid, fill_value=0)
    counts["traced_correct"] = t[t["correct"]].groupby(["round", "client"]).size().reindex(grid, fill_value=0)
    return Audit(counts.reset_index().reindex(columns=COUNT_COLUMNS), clients, rounds, alpha, traces)
