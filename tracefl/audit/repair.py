"""Counterfactual repair from recorded rounds: re-aggregate a round's recorded replies without
some clients (or with a robust strategy) and evaluate the model that would have been published.

The recorded replies are handed to a Message-API strategy's public ``aggregate_train`` as
the run's server received them (arrays and example counts), in client-id order, so FedAvg
gives back the recorded global model (a test checks it); a DP run's recorded replies are
the clipped ones and its global model holds noise, so there the two differ by that noise.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import pandas as pd
import torch
from flwr.app import ArrayRecord, Message, Metadata, MessageType, MetricRecord, RecordDict
from flwr.serverapp.strategy import Bulyan, FedAvg, FedMedian, FedTrimmedAvg, Krum, MultiKrum, Strategy

from tracefl.audit.statistics import ALPHA, exclusion_helps
from tracefl.runs.checkpoint import read_client
from tracefl.runs.layout import client_order, read_meta

EXAMPLES_KEY = "num-examples"


def reply_message(client_id: str, node_id: int, state: Mapping[str, torch.Tensor], num_examples: int) -> Message:
    """A train reply as a client sends it: its arrays and its example count."""
    metadata = Metadata(run_id=0, message_id=f"recorded-{client_id}", src_node_id=int(node_id), dst_node_id=0,
                        reply_to_message_id="", group_id="", created_at=time.time(), ttl=3600,
                        message_type=MessageType.TRAIN)
    content = RecordDict({"arrays": ArrayRecord({k: v.detach().cpu() for k, v in state.items()}),
                          "metrics": MetricRecord({EXAMPLES_KEY: int(num_examples)})})
    return Message(content=content, metadata=metadata)


def recorded_replies(run_dir, rnd: int) -> dict[str, Message]:
    """Round ``rnd``'s replies by client id, in client-id order, rebuilt from the record."""
    meta = read_meta(run_dir, rnd)
    nodes = meta.get("node_ids", {})
    out = {}
    for i, client in enumerate(sorted(meta["participants"], key=client_order)):
        node = nodes.get(client, client if str(client).isdigit() else i + 1)
        out[client] = reply_message(client, int(node), read_client(run_dir, rnd, client), int(meta["num_examples"][client]))
    return out


def aggregate(replies: Mapping[str, Message], rnd: int, exclude: Collection[str] = (),
              strategy: Strategy | None = None) -> dict[str, torch.Tensor]:
    """The global state ``strategy`` (default FedAvg weighted by example count) aggregates from
    ``replies`` less ``exclude``."""
    # Copies: some strategies (FedMedian, FedTrimmedAvg) pop the arrays out of the replies they read.
    kept = [copy.deepcopy(m) for c, m in replies.items() if c not in set(map(str, exclude))]
    if not kept:
        raise ValueError(f"round {rnd}: every participant excluded; nothing to aggregate")
    strategy = strategy or FedAvg(weighted_by_key=EXAMPLES_KEY)
    arrays, _ = strategy.aggregate_train(rnd, kept)
    if arrays is None:
        raise ValueError(f"round {rnd}: {type(strategy).__name__} aggregated nothing")
    return arrays.to_torch_state_dict()


def robust_strategies(num_clients: int, num_faulty: int) -> dict[str, Strategy]:
    """Flower 1.42's robust strategies, told how many clients may be faulty (at least 1)."""
    f = max(1, num_faulty)
    out: dict[str, Strategy] = {
        "Krum": Krum(num_malicious_nodes=f),
        "MultiKrum": MultiKrum(num_malicious_nodes=f, num_nodes_to_select=max(1, num_clients - f)),
        "FedMedian": FedMedian(),
        "FedTrimmedAvg": FedTrimmedAvg(beta=0.2),
    }
    if num_clients >= 4 * f + 3:  # Bulyan's own requirement
        out["Bulyan"] = Bulyan(num_malicious_nodes=f)
    return out


def random_pick(participants: list[str], size: int, seed: int) -> list[str]:
    return sorted(random.Random(seed).sample(list(participants), min(size, len(participants))), key=client_order)


@dataclass
class RepairRow:
    method: str
    excluded: list[str]
    accuracy: float
    attack_success: float = float("nan")


def compare(
    replies: Mapping[str, Message],
    rnd: int,
    evaluate: Callable[[dict[str, torch.Tensor]], float],
    exclusions: Mapping[str, Collection[str]],
    *,
    num_faulty: int,
    attack: Callable[[dict[str, torch.Tensor]], float] | None = None,
    faulty: Collection[str] = (),
) -> pd.DataFrame:
    """One row per way of choosing whom to exclude (``exclusions``: method -> clients) and per
    robust strategy: what it excluded, the accuracy ``evaluate`` gives the re-aggregated model,
    the attack success ``attack`` gives it, and precision/recall at naming ``faulty``."""
    rows = []
    truth = {str(f) for f in faulty}

    def row(method: str, excluded: Collection[str] | None, state: dict[str, torch.Tensor]) -> dict:
        named = None if excluded is None else sorted(map(str, excluded), key=client_order)
        hit = len(truth & set(named)) if named is not None else 0
        return {"round": rnd, "method": method,
                "excluded": "" if named is None else " ".join(named),
                "accuracy": evaluate(state),
                "attack_success": attack(state) if attack else float("nan"),
                "precision": (hit / len(named) if named else float("nan")) if named is not None and truth else float("nan"),
                "recall": (hit / len(truth)) if named is not None and truth else float("nan")}

    for method, excluded in exclusions.items():
        rows.append(row(method, excluded, aggregate(replies, rnd, excluded)))
    for name, strategy in robust_strategies(len(replies), num_faulty).items():
        rows.append(row(name, None, aggregate(replies, rnd, (), strategy)))
    return pd.DataFrame(rows)


def correct_of(template: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """``state -> per-input correctness`` (bool) of ``template`` with the state loaded, on (x, y)."""
    from tracefl.runs.load import load_state

    def correct(state: dict[str, torch.Tensor]) -> torch.Tensor:
        model = copy.deepcopy(template)
        load_state(model, state, "re-aggregated model")
        model.eval()
        with torch.no_grad():
            return model(x).argmax(1) == y

    return correct


def accuracy_of(template: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[dict[str, torch.Tensor]], float]:
    """``state -> accuracy`` of ``template`` with the state loaded, on (x, y)."""
    correct = correct_of(template, x, y)
    return lambda state: float(correct(state).float().mean())


def label_count_pick(traces: pd.DataFrame, label_counts: Mapping[str, Mapping[int, int]], size: int) -> list[str]:
    """The label-count rule's pick: for each misprediction, the participant with the most training
    examples of the predicted label; the ``size`` clients it names most often."""
    from tracefl.provenance.metrics import label_count_rule

    wrong = traces[~traces["correct"].astype(bool)]
    if wrong.empty or size == 0:
        return []
    named = pd.Series(label_count_rule(wrong["predicted"].astype(int).tolist(), label_counts))
    return sorted(named.value_counts().index[:size].tolist(), key=client_order)


def feddebug_pick(client_models: Mapping[str, torch.nn.Module], input_shape: tuple[int, ...], size: int,
                  seed: int = 0, n_inputs: int = 10) -> list[str]:
    """FedDebug's pick: the ``size`` clients its leave-one-out vote flags most often over ``n_inputs`` generated inputs."""
    from tracefl.baselines.feddebug import feddebug_localize, generate_inputs

    if size == 0:
        return []
    inputs = generate_inputs(n_inputs, input_shape, None, None, seed)
    result = feddebug_localize(client_models, inputs, num_faulty=size, device="cpu", tie_seed=seed)
    votes = pd.Series([c for flagged in result.flagged for c in flagged]).value_counts()
    return sorted(votes.index[:size].tolist(), key=client_order)



def confirmed_by_exclusion(run_dir, flagged: Collection[str],
                           correct: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                           alpha: float = ALPHA) -> list[str]:
    """The flagged clients whose exclusion from the last round they took part in would have fixed
    more validation inputs than it broke, beyond chance (``correct``: per-input correctness of a
    state; :func:`tracefl.audit.statistics.exclusion_helps`, the test the live guard applies): a
    counterfactual check of the audit's flags (docs/audit.md: on non-IID data an honest client can
    be flagged; excluding it then costs accuracy, or changes nothing beyond chance)."""
    from tracefl.runs.layout import completed_rounds

    kept = []
    rounds = completed_rounds(run_dir)
    for client in flagged:
        took_part = [r for r in rounds if str(client) in map(str, read_meta(run_dir, r)["participants"])]
        if not took_part:
            continue
        replies = recorded_replies(run_dir, took_part[-1])
        if len(replies) < 2:
            continue
        without = correct(aggregate(replies, took_part[-1], [client]))
        if exclusion_helps(correct(aggregate(replies, took_part[-1])).numpy(), without.numpy(), alpha):
            kept.append(str(client))
    return kept


def repair_table(run, audit, inputs: torch.Tensor, labels: torch.Tensor, rnd: int,
                 faulty: Collection[str] = (), seed: int = 0,
                 attack_set: tuple[torch.Tensor, int] | None = None,
                 validation: tuple[torch.Tensor, torch.Tensor] | None = None) -> pd.DataFrame:
    """Round ``rnd`` of a recorded run re-aggregated by every way of choosing whom to exclude
    (nobody, the audit's flags, the label-count rule, FedDebug, a random pick of the same size,
    the truly faulty clients when known; with ``validation`` (x, y) also the audit's flags that
    :func:`confirmed_by_exclusion` keeps) and by Flower's robust strategies. ``attack_set``:
    a backdoor's triggered inputs and target class; its success rate is the share predicted as the target."""
    replies = recorded_replies(run.run_dir, rnd)
    size = max(1, len(audit.flagged), len(faulty))
    exclusions: dict[str, list[str]] = {"nobody": [], "audit": list(audit.flagged)}
    if validation is not None:  # the audit's flags that excluding would have helped on the validation inputs
        x_val, y_val = validation
        exclusions["audit_confirmed"] = confirmed_by_exclusion(
            run.run_dir, audit.flagged, correct_of(run.template(), x_val, torch.as_tensor(y_val).long()))
    meta = run.meta(rnd)
    if audit.traces is not None and "label_counts" in meta:
        counts = {c: {int(k): int(v) for k, v in m.items()} for c, m in meta["label_counts"].items()}
        exclusions["label_count"] = label_count_pick(audit.traces[audit.traces["round"] == rnd], counts, size)
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:  # FedDebug generates images
        _, clients = run.models(rnd)
        exclusions["feddebug"] = feddebug_pick(clients, tuple(inputs.shape[1:]), size, seed)
    exclusions["random"] = random_pick(list(replies), size, seed)
    if faulty:
        exclusions["oracle"] = [str(f) for f in faulty]
    attack = None
    if attack_set is not None:
        triggered, target = attack_set
        attack = accuracy_of(run.template(), triggered, torch.full((len(triggered),), int(target)))
    return compare(replies, rnd, accuracy_of(run.template(), inputs, torch.as_tensor(labels).long()), exclusions,
                   num_faulty=size, faulty=faulty, attack=attack)
