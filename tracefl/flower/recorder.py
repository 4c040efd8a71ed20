"""Record any Flower strategy's rounds for provenance: the global model and every reply.

``ProvenanceRecorder(strategy, run_dir=...)`` wraps a Message-API strategy (FedAvg,
FedProx, FedAdam, Flower's DP wrappers, ...) and is used in its place, e.g.
``ProvenanceRecorder(FedAvg(), run_dir="runs/a").start(grid, arrays, num_rounds=5)``.
Each round it writes, in the project's run layout (:mod:`tracefl.runs.layout`), the
aggregated global arrays and each participant's reply arrays as safetensors, plus a
``meta.json`` with participants, example counts and, when the clients send them, label
counts. It changes nothing the strategy computes from well-formed replies: every call
is passed through, and the replies' arrays are read only after the strategy has
aggregated them, so that in-place changes (Flower's DP clipping replaces each reply's
arrays) are what gets recorded.

Being a guest in someone's app, it
- takes its own metrics (``partition-id``, ``label-counts``) out of the strategy's
  aggregated metrics, which Flower logs and keeps in its result (an averaged id means
  nothing); the replies keep them, for strategies that read them;
- drops, with one logged warning line each, replies whose client identity cannot be
  trusted (a missing, negative, non-integer or non-finite ``partition-id``, or one that two
  replies claim): they are neither aggregated nor recorded, and ``meta.json`` lists them
  under ``dropped_replies`` (the node id and why);
- never writes over a recorded round: configuring a round that ``run_dir`` already holds
  raises :class:`RecordedRoundsExist` (one line) before any client trains, unless
  ``overwrite=True``;
- keeps every round's client models unless ``keep_every``/``keep_last`` say otherwise
  (long runs): a round without them keeps its global model and ``meta.json`` but cannot be
  traced.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from tracefl.errors import InputError
from tracefl.runs.checkpoint import drop_client_models, write_round
from tracefl.runs.layout import CLIENT_MODELS_DROPPED, client_order, completed_rounds, round_dir

logger = logging.getLogger(__name__)

#: The reply metric that names a client (Flower's examples put the partition id there);
#: when no reply of a round has it, replies are named by their node id.
CLIENT_KEY = "partition-id"
#: The reply metric with the client's training examples per class: a list, index = class.
LABEL_COUNTS_KEY = "label-counts"

#: ``round_hook(server_round, aggregated, replies) -> (global arrays, extra meta)``: lets a
#: caller finish the global model (e.g. evaluate it) before it is recorded and returned.
RoundHook = Callable[[int, ArrayRecord, list["RecordedReply"]], tuple[ArrayRecord, Mapping[str, Any]]]


class RecordedRoundsExist(InputError):
    """The run directory already holds the round the recorder was asked to record."""


def label_counts_metric(labels: Iterable[int], num_classes: int) -> list[int]:
    """A client's label counts in the form the recorder reads (``metrics["label-counts"]``)."""
    counts = [0] * num_classes
    for label in labels:
        counts[int(label)] += 1
    return counts


@dataclass
class RecordedReply:
    """One participant's reply as the strategy aggregated it (``metrics`` as the client sent them)."""

    client_id: str
    node_id: int
    arrays: ArrayRecord
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Identified:
    message: Message
    client_id: str
    metrics: dict[str, Any]


class ProvenanceRecorder(Strategy):
    """A strategy that behaves as ``strategy`` and records every round in ``run_dir``.

    ``client_key`` names the reply metric that identifies a client (default
    ``"partition-id"``; when no reply of a round has it, replies are named by node id).
    ``examples_key`` is the metric with the client's example count (default: the wrapped
    strategy's ``weighted_by_key``, else ``"num-examples"``). ``overwrite=True`` lets a run
    that starts at round ``r`` replace the rounds >= ``r`` already in ``run_dir``; without
    it the recorder refuses. ``keep_every=k`` keeps the client models of every k-th round
    only, ``keep_last=n`` those of the last n rounds too (``keep_every=None, keep_last=n``:
    only the last n); the default keeps every round's.
    """

    def __init__(
        self,
        strategy: Strategy,
        run_dir: str | Path,
        *,
        client_key: str = CLIENT_KEY,
        examples_key: str | None = None,
        label_counts_key: str = LABEL_COUNTS_KEY,
        round_hook: RoundHook | None = None,
        overwrite: bool = False,
        keep_every: int | None = 1,
        keep_last: int = 0,
    ) -> None:
        if keep_every is not None and (isinstance(keep_every, bool) or not isinstance(keep_every, int) or keep_every < 1):
            raise ValueError(f"keep_every={keep_every!r}: a whole number >= 1, or None")
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0:
            raise ValueError(f"keep_last={keep_last!r}: a whole number >= 0")
        if keep_every is None and keep_last == 0:
            raise ValueError("keep_every=None with keep_last=0 keeps no client model: nothing could be traced")
        self.strategy = strategy
        self.run_dir = Path(run_dir)
        self.client_key = client_key
        self.examples_key = examples_key or _weighted_by_key(strategy)
        self.label_counts_key = label_counts_key
        self.round_hook = round_hook
        self.overwrite = overwrite
        self.keep_every = keep_every
        self.keep_last = keep_last
        self.replies: list[RecordedReply] = []  # the last round's, sorted by client id
        self.dropped: list[dict[str, Any]] = []  # the last round's dropped replies: node id and why
        self.meta: dict[str, Any] = {}  # the last round's record (its meta.json)
        self._started: dict[int, float] = {}

    def __getattr__(self, name: str) -> Any:
        # Attributes the recorder does not have (e.g. FedAvg's ``arrayrecord_key``) are the strategy's.
        if name == "strategy":
            raise AttributeError(name)
        return getattr(self.strategy, name)

    def __repr__(self) -> str:
        return f"ProvenanceRecorder({self.strategy!r}, run_dir={str(self.run_dir)!r})"

    def summary(self) -> None:
        logger.info("recording every round for provenance in %s", self.run_dir)
        self.strategy.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._claim_round(server_round)
        self._started[server_round] = time.time()
        return self.strategy.configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        identified, self.dropped = self._identify(server_round, replies)
        passed = [m for m in replies if m.has_error()] + [r.message for r in identified]
        arrays, metrics = self.strategy.aggregate_train(server_round, passed)
        if metrics is not None:  # an averaged id or label count means nothing: Flower must not log or keep it
            for key in (self.client_key, self.label_counts_key):
                metrics.pop(key, None)
        if arrays is None:  # the strategy aggregated nothing: nothing to explain this round
            return arrays, metrics
        self.replies = sorted(
            (RecordedReply(r.client_id, int(r.message.metadata.src_node_id),
                           next(iter(r.message.content.array_records.values())), r.metrics) for r in identified),
            key=lambda r: client_order(r.client_id),
        )
        extra: Mapping[str, Any] = {}
        if self.round_hook is not None:
            arrays, extra = self.round_hook(server_round, arrays, self.replies)
        self._write(server_round, arrays, metrics, extra)
        return arrays, metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round, replies)

    def _claim_round(self, server_round: int) -> None:
        """Refuse (or, with ``overwrite``, clear) recorded rounds >= ``server_round``, before clients train."""
        later = [r for r in completed_rounds(self.run_dir) if r >= server_round]
        if not later:
            return
        if not self.overwrite:
            raise RecordedRoundsExist(
                f"{self.run_dir}: already holds recorded round(s) {later[0]}-{later[-1]}; the recorder does not write "
                f"over them: give a new run_dir, move the old one away, or pass overwrite=True to replace them"
            )
        logger.warning("overwrite=True: replacing recorded rounds %d-%d in %s", later[0], later[-1], self.run_dir)
        for r in later:
            shutil.rmtree(round_dir(self.run_dir, r))

    def _identify(self, server_round: int, replies: list[Message]) -> tuple[list[_Identified], list[dict[str, Any]]]:
        """Name every reply by its client id; replies whose identity cannot be trusted are dropped."""
        candidates: list[tuple[Message, dict[str, Any]]] = []
        dropped: list[dict[str, Any]] = []

        def drop(message: Message, reason: str) -> None:
            node = int(message.metadata.src_node_id)
            logger.warning("round %d: dropped the reply of node %d (not aggregated, not recorded): %s",
                           server_round, node, reason)
            dropped.append({"node_id": node, "reason": reason})

        for message in replies:
            if message.has_error():
                continue
            content = message.content
            if len(content.array_records) != 1:
                drop(message, f"it holds {len(content.array_records)} ArrayRecords; the recorder needs exactly one")
                continue
            metrics: dict[str, Any] = {}
            for record in content.metric_records.values():
                metrics.update({k: _plain(v) for k, v in record.items()})
            candidates.append((message, metrics))
        by_node = not any(self.client_key in metrics for _, metrics in candidates)
        named: list[_Identified] = []
        for message, metrics in candidates:
            if by_node:
                client_id: str | None = str(int(message.metadata.src_node_id))
                problem = None
            else:
                client_id, problem = _client_id(metrics.get(self.client_key), self.client_key)
            if problem is None and self.label_counts_key in metrics:
                problem = _label_counts_problem(metrics[self.label_counts_key], self.label_counts_key)
            if problem is not None:
                drop(message, problem)
                continue
            named.append(_Identified(message, str(client_id), metrics))
        claims = Counter(r.client_id for r in named)
        for reply in [r for r in named if claims[r.client_id] > 1]:
            nodes = sorted(int(r.message.metadata.src_node_id) for r in named if r.client_id == reply.client_id)
            drop(reply.message, f"{self.client_key} {reply.client_id} is claimed by {len(nodes)} replies (nodes {nodes})")
        return [r for r in named if claims[r.client_id] == 1], dropped

    def _keeps_client_models(self, server_round: int) -> bool:
        return self.keep_every is not None and server_round % self.keep_every == 0

    def _write(
        self, server_round: int, arrays: ArrayRecord, metrics: MetricRecord | None, extra: Mapping[str, Any]
    ) -> None:
        replies = self.replies
        meta: dict[str, Any] = {
            "round": server_round,
            "strategy": type(self.strategy).__name__,
            "participants": [r.client_id for r in replies],
            "node_ids": {r.client_id: r.node_id for r in replies},
            "num_examples": {r.client_id: int(r.metrics.get(self.examples_key, 0)) for r in replies},
            "client_metrics": {r.client_id: _plain_metrics(r.metrics, self.label_counts_key) for r in replies},
            "train_metrics": {} if metrics is None else {k: _plain(v) for k, v in metrics.items()},
        }
        if self.dropped:
            meta["dropped_replies"] = self.dropped
        if replies and all(self.label_counts_key in r.metrics for r in replies):
            meta["label_counts"] = {
                r.client_id: {str(label): int(n) for label, n in enumerate(r.metrics[self.label_counts_key])}
                for r in replies
            }
        meta["seconds"] = time.time() - self._started.pop(server_round, time.time())
        meta.update(extra)
        keep_now = self._keeps_client_models(server_round) or self.keep_last > 0
        if not keep_now:
            meta[CLIENT_MODELS_DROPPED] = self._dropped_note()
        self.meta = meta
        write_round(
            self.run_dir,
            server_round,
            arrays.to_torch_state_dict(),
            {r.client_id: r.arrays.to_torch_state_dict() for r in replies} if keep_now else {},
            meta,
        )
        if self.keep_last > 0:
            self._drop_client_models_before(server_round - self.keep_last + 1)

    def _dropped_note(self) -> str:
        return f"not kept (keep_every={self.keep_every}, keep_last={self.keep_last}): this round cannot be traced"

    def _drop_client_models_before(self, first_kept: int) -> None:
        """Remove the client models of rounds before ``first_kept`` that ``keep_every`` does not keep."""
        for rnd in completed_rounds(self.run_dir):
            if rnd < first_kept and not self._keeps_client_models(rnd):
                drop_client_models(self.run_dir, rnd, self._dropped_note())


def _client_id(value: Any, key: str) -> tuple[str | None, str | None]:
    """(the client id ``value`` names, None) or (None, why it names none)."""
    if value is None:
        return None, f"no {key} (other replies of the round have one)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"{key} {value!r} is not a whole number"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"{key} {value!r} is not finite"
    if isinstance(value, float) and not value.is_integer():
        return None, f"{key} {value!r} is not a whole number"
    if value < 0:
        return None, f"{key} {value!r} is negative"
    return str(int(value)), None


def _label_counts_problem(value: Any, key: str) -> str | None:
    if not isinstance(value, list) or not all(
        not isinstance(n, bool) and isinstance(n, (int, float)) and math.isfinite(n) and n >= 0 and float(n).is_integer()
        for n in value
    ):
        return f"{key} must be a list of whole numbers >= 0 (one per class)"
    return None


def _weighted_by_key(strategy: Strategy) -> str:
    """The example-count key of ``strategy`` or of the strategy a wrapper (DP) holds."""
    while strategy is not None:
        key = getattr(strategy, "weighted_by_key", None)
        if isinstance(key, str):
            return key
        strategy = getattr(strategy, "strategy", None)
    return "num-examples"


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _plain_metrics(metrics: Mapping[str, Any], skip: str) -> dict[str, Any]:
    return {k: _plain(v) for k, v in metrics.items() if k != skip}
