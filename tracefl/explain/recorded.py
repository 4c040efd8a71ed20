"""A recorded run read back for explanation: its rounds, their models, and traces of inputs.

``load_run(DIR, model=...)`` then ``.explain(inputs, round=R)`` is the Python side of
``python -m tracefl explain``; both give exactly what :func:`tracefl.provenance.trace`
gives on the same models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from tracefl.errors import ConfigError, InputError
from tracefl.explain.factory import load_factory
from tracefl.models.device import resolve_device
from tracefl.models.inputs import Inputs, logits_of, num_rows, take
from tracefl.provenance import trace
from tracefl.runs.layout import JOB as JOB_FILE
from tracefl.runs.layout import completed_rounds, dropped_note, read_meta
from tracefl.runs.load import models_of_round


@dataclass
class Explanation:
    """Which client is responsible for the global model's prediction on each input, in one round.

    Row ``i`` is input ``index[i]`` of the batch given (``of`` inputs before any selection);
    ``labels`` are the true labels when given; ``label_counts`` each client's training
    examples per class as its ``meta.json`` recorded them (None when the clients sent none).
    """

    round: int
    client_ids: list[str]  # column order of ``scores``
    scores: Tensor  # (N, K): each client's contribution (softmax over clients)
    raw: Tensor  # (N, K): the raw scores before the softmax
    predicted: Tensor  # (N,): the global model's predicted class
    traced: list[str]  # the responsible client per input
    index: list[int] = field(default_factory=list)  # each row's position in the inputs given
    labels: list[int] | None = None  # true labels, when given
    label_counts: dict[str, dict[str, int]] | None = None  # client -> class -> training examples
    of: int = 0  # inputs given before a selection
    selection: str = ""  # how the rows were chosen ("" = all of them)

    def __post_init__(self) -> None:
        if not self.index:
            self.index = list(range(len(self.traced)))
        self.of = self.of or len(self.traced)

    def label_of(self, row: int) -> int:
        """The class the row's counts are about: the true label when known, else the predicted class."""
        return int(self.labels[row]) if self.labels is not None else int(self.predicted[row])

    def label_count(self, row: int, client: str) -> int | None:
        """``client``'s training examples of the row's label (true, else predicted); None if not recorded."""
        if self.label_counts is None or client not in self.label_counts:
            return None
        return int(self.label_counts[client].get(str(self.label_of(row)), 0))

    def mispredicted_rows(self) -> list[int]:
        if self.labels is None:
            raise ConfigError("mispredicted inputs need their true labels (--labels FILE, or labels=...)")
        return [i for i in range(len(self.traced)) if int(self.predicted[i]) != int(self.labels[i])]

    def subset(self, rows: list[int], selection: str) -> "Explanation":
        """The explanation of ``rows`` only (positions in this one)."""
        pick = torch.as_tensor(rows, dtype=torch.long)
        return replace(self, scores=self.scores[pick], raw=self.raw[pick], predicted=self.predicted[pick],
                       traced=[self.traced[i] for i in rows], index=[self.index[i] for i in rows],
                       labels=None if self.labels is None else [self.labels[i] for i in rows],
                       selection="; ".join(filter(None, (self.selection, selection))))

    def table(self) -> pd.DataFrame:
        """One row per (input, client): ``input, round, predicted, label, client, contribution,
        label_examples, traced`` (``label``: the true label, empty when not given;
        ``label_examples``: the client's training examples of the true, else the predicted, class)."""
        rows = []
        for i, traced in enumerate(self.traced):
            for k, client in enumerate(self.client_ids):
                rows.append({"input": self.index[i], "round": self.round, "predicted": int(self.predicted[i]),
                             "label": None if self.labels is None else int(self.labels[i]),
                             "client": client, "contribution": float(self.scores[i, k]),
                             "label_examples": self.label_count(i, client), "traced": client == traced})
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)


TABLE_COLUMNS = ["input", "round", "predicted", "label", "client", "contribution", "label_examples", "traced"]


ModelFactory = Callable[[], nn.Module]


class RecordedRun:
    """The rounds of a run directory, with the factory that builds its model."""

    def __init__(self, run_dir: str | Path, factory: ModelFactory) -> None:
        self.run_dir = Path(run_dir)
        self.factory = factory
        self.rounds = completed_rounds(self.run_dir)
        if not self.rounds:
            raise InputError(f"{self.run_dir}: no recorded rounds (rounds/NNNN/meta.json); record a run there first")
        self._template: nn.Module | None = None

    def meta(self, rnd: int) -> dict[str, Any]:
        self._check_round(rnd)
        return read_meta(self.run_dir, rnd)

    def models(self, rnd: int, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, nn.Module]]:
        """(global model, participants' models by client id) of round ``rnd``, in eval mode."""
        global_model, clients, _ = self._round(rnd, device)
        return global_model, clients

    def _round(self, rnd: int, device: str | torch.device) -> tuple[nn.Module, dict[str, nn.Module], dict]:
        self._check_round(rnd)
        return models_of_round(self.template(), self.run_dir, rnd, device)

    def template(self) -> nn.Module:
        """The (untrained) model the factory builds, built once; every round's models are copies."""
        if self._template is None:
            try:
                built = self.factory()
            except Exception as exc:  # a user's factory: any error it raises is the user's to fix
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                raise InputError(f"the model factory raised {type(exc).__name__}: {first}") from exc
            if not isinstance(built, nn.Module):
                raise InputError(f"the model factory returned {type(built).__name__}, not a torch.nn.Module")
            self._template = built
        return self._template

    def traceable_rounds(self) -> list[int]:
        """Rounds whose client models were kept (a recorder's ``keep_every``/``keep_last`` may drop some)."""
        return [r for r in self.rounds if not dropped_note(read_meta(self.run_dir, r))]

    def explain(
        self,
        inputs: Inputs,
        round: int | str | None = None,  # noqa: A002 (the name users expect)
        device: str = "auto",
        *,
        labels: Sequence[int] | Tensor | None = None,
        select: Sequence[int] | None = None,
        only_mispredicted: bool = False,
        source: str = "the inputs",
        **trace_options: Any,
    ) -> Explanation | list[Explanation]:
        """Trace ``inputs`` in round ``round`` (default: the last traceable one), or in every
        round (``"all"``).

        ``labels``: the inputs' true labels (the output then names each input's label and each
        client's training examples of it). ``select``: positions of the inputs to trace (the
        output keeps their positions). ``only_mispredicted``: keep the inputs whose prediction
        differs from the label (in the last round traced). ``source`` names the inputs in errors.
        ``trace_options`` go to :func:`tracefl.provenance.trace` (``layer_decay``,
        ``client_weighting``, ``layers``, ``chunk_size``).
        """
        traceable = self.traceable_rounds()
        if not traceable:
            why = dropped_note(read_meta(self.run_dir, self.rounds[-1])) if self.rounds else None
            raise InputError(f"{self.run_dir}: no round kept its client models; nothing can be traced"
                             + (f" (they were {why})" if why else ""))
        rounds = traceable if round == "all" else [traceable[-1] if round is None else int(round)]
        for rnd in rounds:
            self._check_round(rnd)
        dev = resolve_device(device)
        n = _count(inputs, source)
        rows = list(range(n)) if select is None else check_select(select, n)
        picked = inputs if select is None else take(inputs, torch.as_tensor(rows, dtype=torch.long))
        explanations = []
        for rnd in rounds:
            global_model, clients, meta = self._round(rnd, dev)
            if not explanations:
                num_classes = check_fits(global_model, picked, dev, source)
                true = None if labels is None else check_labels(labels, n, num_classes, source)
            options = dict(trace_options)
            if options.get("client_weighting", "none") != "none":
                options.setdefault("client_num_examples", {str(c): int(k) for c, k in meta.get("num_examples", {}).items()})
            result = trace(global_model, clients, picked, device=dev, **options)
            explanations.append(Explanation(
                rnd, result.client_ids, result.scores, result.raw, result.predicted, result.traced, index=rows,
                labels=None if true is None else [true[i] for i in rows], label_counts=meta.get("label_counts"), of=n,
                selection="" if select is None else f"{len(rows)} selected",
            ))
        if only_mispredicted:
            keep = explanations[-1].mispredicted_rows()
            explanations = [e.subset(keep, f"mispredicted in round {explanations[-1].round}") for e in explanations]
        return explanations if round == "all" else explanations[0]

    def audit(self, inputs: Inputs, labels: Any, device: str = "auto", **options: Any) -> Any:
        """Audit every round on labelled ``inputs``: which clients are behind the mistakes
        (:func:`tracefl.audit.run.audit_run`, which this delegates to)."""
        from tracefl.audit.run import audit_run

        return audit_run(self, inputs, labels, device=device, **options)

    def _check_round(self, rnd: int) -> None:
        if rnd not in self.rounds:
            raise InputError(f"{self.run_dir}: no round {rnd}; recorded rounds: {_span(self.rounds)}")
        why = dropped_note(read_meta(self.run_dir, rnd))
        if why:
            kept = self.traceable_rounds()
            raise InputError(f"{self.run_dir}: round {rnd}: client models {why}; rounds that can be traced: "
                             f"{_span(kept) if kept else 'none'}")


def load_run(
    run_dir: str | Path,
    model: ModelFactory | str | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> RecordedRun:
    """A recorded run. ``model``: a function that returns the (untrained) model, or its
    ``"MODULE:FACTORY"`` name; omitted, the run's ``job.json`` (this workflow's runs) names it."""
    run_dir = Path(run_dir)
    if isinstance(model, str):
        factory = load_factory(model, model_kwargs)
    elif model is not None:
        factory = (lambda: model(**model_kwargs)) if model_kwargs else model
    elif (run_dir / JOB_FILE).is_file():
        factory = _workflow_factory(run_dir / JOB_FILE)
    else:
        raise InputError(
            f"{run_dir}: no {JOB_FILE} to say which model the run trained; give the model factory "
            "(--model MODULE:FACTORY)"
        )
    return RecordedRun(run_dir, factory)


def _workflow_factory(job_path: Path) -> ModelFactory:
    from tracefl.config.job import read_job
    from tracefl.models.builders import build_model

    spec = read_job(job_path).spec
    return lambda: build_model(spec.model, spec.num_classes, pretrained=False)


def _count(inputs: Inputs, source: str) -> int:
    try:
        n = num_rows(inputs)
    except ValueError as exc:
        raise InputError(f"{source}: {exc}") from None
    if n == 0:
        raise InputError(f"{source}: no inputs (an empty batch)")
    return n


def check_select(select: Sequence[int], n: int) -> list[int]:
    """Positions to trace: whole numbers in 0..n-1 (one :class:`ConfigError` line otherwise)."""
    rows = list(select)
    if not rows:
        raise ConfigError("--select chose no inputs")
    bad = [i for i in rows if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n]
    if bad:
        raise ConfigError(f"--select {bad[0]!r}: the inputs file holds inputs 0..{n - 1}")
    return rows


def check_fits(model: nn.Module, inputs: Inputs, device: torch.device, source: str) -> int:
    """The model's number of classes, after one input went through it; one line if it cannot
    (inputs of the wrong shape, dtype or modality, e.g. images for a text model)."""
    what = (f"token tensors {sorted(inputs)}" if isinstance(inputs, Mapping)
            else f"a tensor of shape {tuple(inputs.shape)} and dtype {str(inputs.dtype).replace('torch.', '')}")
    try:
        with torch.no_grad():
            logits = logits_of(model.eval(), _to(take(inputs, slice(0, 1)), device))
    except Exception as exc:  # noqa: BLE001 (torch and transformers raise many kinds for a misfit input)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise InputError(f"{source}: {what} does not fit the model ({type(exc).__name__}: {first}); give a batch "
                         "shaped, typed and scaled as the model's training inputs (images: float (N, C, H, W); "
                         "texts: a .csv/.txt with --tokenizer)") from None
    if logits.dim() != 2:
        raise InputError(f"{source}: the model's output has shape {tuple(logits.shape)}; explain needs class scores (N, classes)")
    return int(logits.shape[1])


def _to(x: Inputs, device: torch.device) -> Inputs:
    from tracefl.models.inputs import to_device

    return to_device(x, device)


def check_labels(labels: Sequence[int] | Tensor, n: int, num_classes: int, source: str) -> list[int]:
    """True labels: ``n`` whole numbers in 0..num_classes-1 (one :class:`InputError` line otherwise)."""
    values = torch.as_tensor(labels) if not isinstance(labels, Tensor) else labels
    if values.dim() != 1 or values.numel() != n:
        raise InputError(f"labels: {values.numel()} values of shape {tuple(values.shape)}; {source} holds {n} "
                         "inputs: give one label per input (a 1-D array)")
    if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
        raise InputError(f"labels: dtype {str(values.dtype).replace('torch.', '')}; labels are whole class numbers (int)")
    out = [int(v) for v in values.tolist()]
    bad = [v for v in out if not 0 <= v < num_classes]
    if bad:
        raise InputError(f"labels: {bad[0]} is not a class of the model (0..{num_classes - 1})")
    return out


def _span(rounds: list[int]) -> str:
    return f"{rounds[0]}-{rounds[-1]}" if rounds == list(range(rounds[0], rounds[-1] + 1)) else str(rounds)
