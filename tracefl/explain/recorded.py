"""A recorded run read back for explanation: its rounds, their models, and traces of inputs.

``load_run(DIR, model=...)`` then ``.explain(inputs, round=R)`` is the Python side of
``python -m tracefl explain``; both give exactly what :func:`tracefl.provenance.trace`
gives on the same models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from tracefl.errors import InputError
from tracefl.explain.factory import load_factory
from tracefl.models.device import resolve_device
from tracefl.models.inputs import Inputs
from tracefl.provenance import trace
from tracefl.runs.layout import JOB as JOB_FILE
from tracefl.runs.layout import completed_rounds, read_meta
from tracefl.runs.load import models_of_round


@dataclass
class Explanation:
    """Which client is responsible for the global model's prediction on each input, in one round."""

    round: int
    client_ids: list[str]  # column order of ``scores``
    scores: Tensor  # (N, K): each client's contribution (softmax over clients)
    raw: Tensor  # (N, K): the raw scores before the softmax
    predicted: Tensor  # (N,): the global model's predicted class
    traced: list[str]  # the responsible client per input

    def table(self) -> pd.DataFrame:
        """One row per (input, client): ``input, round, predicted, client, contribution, traced``."""
        rows = []
        for i, traced in enumerate(self.traced):
            for k, client in enumerate(self.client_ids):
                rows.append({"input": i, "round": self.round, "predicted": int(self.predicted[i]),
                             "client": client, "contribution": float(self.scores[i, k]),
                             "traced": client == traced})
        return pd.DataFrame(rows, columns=["input", "round", "predicted", "client", "contribution", "traced"])


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
            built = self.factory()
            if not isinstance(built, nn.Module):
                raise InputError(f"the model factory returned {type(built).__name__}, not a torch.nn.Module")
            self._template = built
        return self._template

    def explain(
        self,
        inputs: Inputs,
        round: int | str | None = None,  # noqa: A002 (the name users expect)
        device: str = "auto",
        **trace_options: Any,
    ) -> Explanation | list[Explanation]:
        """Trace ``inputs`` in round ``round`` (default: the last), or in every round (``"all"``).

        ``trace_options`` go to :func:`tracefl.provenance.trace` (``layer_decay``,
        ``client_weighting``, ``layers``, ``chunk_size``).
        """
        if round == "all":
            return [self.explain(inputs, r, device, **trace_options) for r in self.rounds]
        rnd = self.rounds[-1] if round is None else int(round)
        dev = resolve_device(device)
        global_model, clients, meta = self._round(rnd, dev)
        examples = {str(c): int(n) for c, n in meta.get("num_examples", {}).items()}
        if trace_options.get("client_weighting", "none") != "none":
            trace_options.setdefault("client_num_examples", examples)
        result = trace(global_model, clients, inputs, device=dev, **trace_options)
        return Explanation(rnd, result.client_ids, result.scores, result.raw, result.predicted, result.traced)

    def _check_round(self, rnd: int) -> None:
        if rnd not in self.rounds:
            raise InputError(f"{self.run_dir}: no round {rnd}; recorded rounds: {_span(self.rounds)}")


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


def _span(rounds: list[int]) -> str:
    return f"{rounds[0]}-{rounds[-1]}" if rounds == list(range(rounds[0], rounds[-1] + 1)) else str(rounds)
