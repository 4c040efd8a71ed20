"""A strategy wrapper that audits every round on the server's validation data, and when asked
keeps a flagged client's update out of the published global model and out of later rounds.

``AuditGuard(FedAvg(), model=Net, inputs=x_val, labels=y_val, exclude=True)`` is used in the
strategy's place. After the wrapped strategy aggregates a round, the guard traces the
validation inputs through the new global model and the round's replies (the provenance
engine), adds the round to its running audit (:mod:`tracefl.audit.statistics`: each client's
share of the traced mistakes against its share of the traced correct predictions, one-sided,
Holm) and logs the verdict. With ``exclude=True`` a client flagged for the first time is
dropped: the round is aggregated again without it, and later rounds neither send it
instructions nor aggregate its replies. Every decision is in ``decisions`` and the log.

On non-IID data the audit also flags honest clients (docs/audit.md), so by default
(``confirm=True``) a flag is acted on only where it is confirmed by exclusion: the round
aggregated without that client fixes more validation inputs than it breaks, beyond chance (an
exact one-sided McNemar test at ``alpha``), against the round as aggregated. An unconfirmed flag is logged and the client kept; it is checked again in
a later round where it is still flagged.

Re-aggregating calls the strategy's ``aggregate_train`` a second time for the round, so
``exclude=True`` refuses strategies whose aggregation keeps state or draws noise (server
momentum: FedAvgM, FedAdam, FedYogi, FedAdagrad, QFedAvg; DP wrappers: a second noisy release):
wrap those with ``exclude=False`` to audit and log only.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy
from torch import nn

from tracefl.audit.statistics import ALPHA, exclusion_helps, flag_clients
from tracefl.flower.recorder import CLIENT_KEY
from tracefl.runs.load import load_state

logger = logging.getLogger(__name__)


class AuditGuard(Strategy):
    """``strategy``, audited each round on (``inputs``, ``labels``); ``exclude``: act on the flags."""

    def __init__(self, strategy: Strategy, model: Callable[[], nn.Module], inputs: torch.Tensor, labels: torch.Tensor,
                 *, exclude: bool = False, confirm: bool = True, alpha: float = ALPHA,
                 client_key: str = CLIENT_KEY, **trace_options: Any) -> None:
        if exclude and (stateful := _stateful(strategy)):
            raise ValueError(f"AuditGuard(exclude=True) would aggregate a round twice; {stateful} keeps state or "
                             "draws noise when it aggregates. Use exclude=False (audit and log only)")
        self.strategy = strategy
        self.factory = model
        self.inputs, self.labels = inputs, torch.as_tensor(labels).long()
        self.exclude, self.confirm, self.alpha, self.client_key = exclude, confirm, alpha, client_key
        self.trace_options = trace_options
        self.excluded: dict[str, int] = {}  # client id -> node id
        self.decisions: list[dict[str, Any]] = []
        self.seconds: list[float] = []  # what the guard added to each round
        self._traces: list[pd.DataFrame] = []
        self._participation: list[dict] = []
        self._template: nn.Module | None = None

    def __getattr__(self, name: str) -> Any:
        if name == "strategy":
            raise AttributeError(name)
        return getattr(self.strategy, name)

    def summary(self) -> None:
        logger.info("auditing every round (exclude=%s, alpha %s)", self.exclude, self.alpha)
        self.strategy.summary()

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        messages = list(self.strategy.configure_train(server_round, arrays, config, grid))
        dropped = set(self.excluded.values())
        return [m for m in messages if m.metadata.dst_node_id not in dropped]

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = [m for m in replies if m.has_error() or self._client(m) not in self.excluded]
        kept = copy.deepcopy(replies)  # a second aggregation must see them untouched
        arrays, metrics = self.strategy.aggregate_train(server_round, replies)
        if arrays is None:
            return arrays, metrics
        started = time.perf_counter()
        ok = [m for m in kept if not m.has_error()]
        flagged = self._audit(server_round, arrays, ok)
        present = {self._client(m) for m in ok}
        new = [c for c in flagged if c not in self.excluded and c in present]
        decision = {"round": server_round, "flagged": flagged, "unconfirmed": [], "excluded_now": [],
                    "excluded": sorted(self.excluded)}
        if self.exclude and new and self.confirm:
            confirmed = self._confirmed(server_round, arrays, kept, new)
            decision["unconfirmed"] = [c for c in new if c not in confirmed]
            new = confirmed
        if self.exclude and new:
            rest = [m for m in kept if m.has_error() or self._client(m) not in new]
            if any(not m.has_error() for m in rest):
                for m in ok:
                    if self._client(m) in new:
                        self.excluded[self._client(m)] = int(m.metadata.src_node_id)
                arrays, metrics = self.strategy.aggregate_train(server_round, copy.deepcopy(rest))
                decision.update(excluded_now=new, excluded=sorted(self.excluded))
        self.decisions.append(decision)
        self.seconds.append(time.perf_counter() - started)
        logger.warning("round %d audit: flagged %s; not confirmed by exclusion %s; excluded now %s; excluded so far %s",
                       server_round, flagged or "nobody", decision["unconfirmed"] or "nobody",
                       decision["excluded_now"] or "nobody", decision["excluded"] or "nobody")
        return arrays, metrics

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round, replies)

    def _correct(self, arrays: ArrayRecord, what: str) -> np.ndarray:
        with torch.no_grad():
            return (self._model(arrays, what)(self.inputs).argmax(1) == self.labels).numpy()

    def _confirmed(self, server_round: int, arrays: ArrayRecord, kept: list[Message], flagged: list[str]) -> list[str]:
        """The flagged clients whose exclusion from this round fixes more validation inputs than it
        breaks, beyond chance (:func:`tracefl.audit.statistics.exclusion_helps`)."""
        base = self._correct(arrays, "global model")
        confirmed = []
        for client in flagged:
            rest = [m for m in kept if m.has_error() or self._client(m) != client]
            if not any(not m.has_error() for m in rest):
                continue
            without, _ = self.strategy.aggregate_train(server_round, copy.deepcopy(rest))
            if without is not None and exclusion_helps(base, self._correct(without, f"round without {client}"), self.alpha):
                confirmed.append(client)
        return confirmed

    def _client(self, message: Message) -> str:
        for record in message.content.metric_records.values():
            if self.client_key in record:
                return str(int(record[self.client_key]))
        return str(message.metadata.src_node_id)

    def _model(self, arrays: ArrayRecord, what: str) -> nn.Module:
        if self._template is None:
            self._template = self.factory()
        model = copy.deepcopy(self._template)
        load_state(model, arrays.to_torch_state_dict(), what)
        return model.eval()

    def _audit(self, server_round: int, arrays: ArrayRecord, replies: list[Message]) -> list[str]:
        """Trace the validation inputs in this round; the clients the run's audit flags so far."""
        from tracefl.provenance import trace

        clients = {self._client(m): self._model(next(iter(m.content.array_records.values())), f"reply {self._client(m)}")
                   for m in replies}
        result = trace(self._model(arrays, "global model"), clients, self.inputs, device="cpu", **self.trace_options)
        predicted = result.predicted.cpu()
        self._traces.append(pd.DataFrame({"round": server_round, "predicted": predicted.numpy(),
                                          "correct": (predicted == self.labels).numpy(), "client": result.traced}))
        self._participation.extend({"round": server_round, "client": c} for c in clients)
        table = flag_clients(pd.concat(self._traces, ignore_index=True), pd.DataFrame(self._participation), self.alpha)
        return table.loc[table["flagged"], "client"].tolist()


#: Strategies whose ``aggregate_train`` changes their state or draws noise.
_STATEFUL = ("FedAvgM", "FedAdam", "FedYogi", "FedAdagrad", "FedOpt", "QFedAvg", "DifferentialPrivacy")


def _stateful(strategy: Strategy) -> str | None:
    """The name of a stateful strategy in ``strategy`` or the strategies it wraps, else None."""
    while strategy is not None:
        for cls in type(strategy).__mro__:
            if cls.__name__.startswith(_STATEFUL):
                return type(strategy).__name__
        strategy = getattr(strategy, "strategy", None)
    return None
