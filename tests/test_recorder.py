"""The provenance recorder around real Flower strategies, and explaining what it recorded.

Strategies are driven through their public calls with replies built here (no Ray, no
network): what the recorder stores and what the strategies compute can then be compared
exactly. The Deployment Engine test (tests/test_deployment.py) runs the same recorder in
a real Flower app.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, Metadata, MetricRecord, RecordDict
from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, FedAdam, FedAvg, FedProx
from flwr.supercore.task_identity import TaskIdentity
from torch import nn

from tracefl import load_run
from tracefl.cli import main as cli
from tracefl.errors import InputError
from tracefl.flower import ProvenanceRecorder, label_counts_metric
from tracefl.flower.recorder import RecordedRoundsExist
from tracefl.provenance import trace
from tracefl.runs.checkpoint import completed_rounds, read_client, read_global, read_meta

NODES = [101, 102, 103]


class _Grid:
    """The part of a Grid that strategies' ``configure_train`` uses: the connected node ids."""

    def get_node_ids(self):
        return list(NODES)


@pytest.fixture(autouse=True)
def _task_identity():
    """Instruction messages carry the run and task ids of the process (a ServerApp's)."""
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


class SmallNet(nn.Module):
    """An image model that is not in tracefl's model registry."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _reply(instruction: Message, arrays: ArrayRecord, metrics: dict) -> Message:
    metadata = Metadata(run_id=1, message_id="", src_node_id=instruction.metadata.dst_node_id, dst_node_id=0,
                        reply_to_message_id="", group_id="", created_at=time.time(), ttl=3600,
                        message_type=instruction.metadata.message_type)
    return Message(content=RecordDict({"arrays": arrays, "metrics": MetricRecord(metrics)}), metadata=metadata)


def _local_update(arrays: ArrayRecord, rnd: int, node: int, scale: float) -> ArrayRecord:
    """A client's "training": the arrays it received plus a seeded step of its own."""
    g = torch.Generator().manual_seed(rnd * 1000 + node)
    state = arrays.to_torch_state_dict()
    return ArrayRecord({k: v + scale * torch.randn(v.shape, generator=g) for k, v in state.items()})


def _drive(strategy, initial: ArrayRecord, rounds: int, *, scale: float = 0.05, partition_ids: bool = True,
           examples=(30, 50, 20), label_counts: bool = True):
    """Rounds of configure -> replies -> aggregate, as ``Strategy.start`` runs them; returns each
    round's (aggregated arrays, replies sent)."""
    arrays, history = initial, []
    for rnd in range(1, rounds + 1):
        replies = []
        for instruction in strategy.configure_train(rnd, arrays, ConfigRecord({}), _Grid()):
            node = instruction.metadata.dst_node_id
            i = NODES.index(node)
            metrics = {"num-examples": examples[i], "train_loss": 0.1 * i}
            if partition_ids:
                metrics["partition-id"] = i
            if label_counts:
                metrics["label-counts"] = label_counts_metric([i, i, (i + 1) % 5], 5)
            replies.append(_reply(instruction, _local_update(arrays, rnd, node, scale), metrics))
        # Arrival in node order: FedAvg's float sums depend on the order of the replies.
        replies.sort(key=lambda m: m.metadata.src_node_id)
        aggregated, _ = strategy.aggregate_train(rnd, replies)
        history.append((aggregated, replies))
        arrays = aggregated
    return history


def _initial() -> ArrayRecord:
    torch.manual_seed(0)
    return ArrayRecord(SmallNet().state_dict())


def _fedavg():
    return FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=3, min_train_nodes=3)


@pytest.mark.parametrize(
    "make",
    [
        _fedavg,
        lambda: FedProx(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=3, proximal_mu=0.1),
        lambda: FedAdam(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=3, eta=0.05),
    ],
    ids=["FedAvg", "FedProx", "FedAdam"],
)
def test_recorder_changes_nothing_the_strategy_computes(tmp_path, make):
    plain = _drive(make(), _initial(), rounds=3)
    recorded = _drive(ProvenanceRecorder(make(), run_dir=tmp_path), _initial(), rounds=3)
    for rnd, ((a, _), (b, replies)) in enumerate(zip(plain, recorded), start=1):
        sa, sb = a.to_torch_state_dict(), b.to_torch_state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), f"round {rnd}: the global model changed"
        on_disk = read_global(tmp_path, rnd)
        assert all(torch.equal(on_disk[k], sb[k]) for k in sb), f"round {rnd}: the recorded global differs"
        meta = read_meta(tmp_path, rnd)
        assert meta["participants"] == ["0", "1", "2"]
        assert meta["num_examples"] == {"0": 30, "1": 50, "2": 20}
        assert meta["label_counts"]["1"] == {"0": 0, "1": 2, "2": 1, "3": 0, "4": 0}
        for reply in replies:
            sent = reply.content["arrays"].to_torch_state_dict()
            kept = read_client(tmp_path, rnd, str(NODES.index(reply.metadata.src_node_id)))
            assert all(torch.equal(sent[k], kept[k]) for k in sent)


def test_with_flowers_dp_wrapper_the_clipped_replies_and_the_noised_global_are_recorded(tmp_path):
    clip = 0.5
    dp = DifferentialPrivacyServerSideFixedClipping(_fedavg(), noise_multiplier=0.2, clipping_norm=clip,
                                                    num_sampled_clients=3)
    recorder = ProvenanceRecorder(dp, run_dir=tmp_path)
    initial = _initial()
    (aggregated, _), = _drive(recorder, initial, rounds=1, scale=1.0)  # updates far above the clipping norm
    sent = initial.to_torch_state_dict()
    clients = {c: read_client(tmp_path, 1, c) for c in ("0", "1", "2")}
    for state in clients.values():
        norm = torch.sqrt(sum(((state[k] - sent[k]) ** 2).sum() for k in sent))
        assert norm == pytest.approx(clip, rel=1e-4)  # the clipped update, not the one the client sent
    noised = aggregated.to_torch_state_dict()
    on_disk = read_global(tmp_path, 1)
    assert all(torch.equal(on_disk[k], noised[k]) for k in noised)
    weights = {"0": 30, "1": 50, "2": 20}
    mean = {k: sum(weights[c] * clients[c][k] for c in clients) / 100 for k in sent}
    assert not all(torch.allclose(mean[k], noised[k]) for k in sent)  # the noise is in what was recorded
    assert read_meta(tmp_path, 1)["strategy"] == "DifferentialPrivacyServerSideFixedClipping"


def test_replies_without_a_partition_id_are_named_by_node(tmp_path):
    recorder = ProvenanceRecorder(_fedavg(), run_dir=tmp_path)
    _drive(recorder, _initial(), rounds=1, partition_ids=False, label_counts=False)
    meta = read_meta(tmp_path, 1)
    assert meta["participants"] == [str(n) for n in NODES]
    assert "label_counts" not in meta


def test_recorded_rounds_are_never_replaced_without_overwrite(tmp_path):
    _drive(ProvenanceRecorder(_fedavg(), run_dir=tmp_path), _initial(), rounds=2)
    before = read_global(tmp_path, 1)
    with pytest.raises(RecordedRoundsExist, match=r"already holds recorded round\(s\) 1-2.*overwrite=True"):
        _drive(ProvenanceRecorder(_fedavg(), run_dir=tmp_path), _initial(), rounds=1)
    assert torch.equal(read_global(tmp_path, 1)["fc.bias"], before["fc.bias"])
    assert completed_rounds(tmp_path) == [1, 2]
    _drive(ProvenanceRecorder(_fedavg(), run_dir=tmp_path, overwrite=True), _initial(), rounds=1, scale=0.5)
    assert completed_rounds(tmp_path) == [1]  # round 2 belonged to the replaced record
    assert not torch.equal(read_global(tmp_path, 1)["fc.bias"], before["fc.bias"])


def test_the_recorders_own_metrics_stay_out_of_flowers_aggregate_and_logs(tmp_path, caplog):
    caplog.set_level("INFO")
    recorder = ProvenanceRecorder(_fedavg(), run_dir=tmp_path)
    arrays = _initial()
    replies = []
    for instruction in recorder.configure_train(1, arrays, ConfigRecord({}), _Grid()):
        i = NODES.index(instruction.metadata.dst_node_id)
        replies.append(_reply(instruction, _local_update(arrays, 1, NODES[i], 0.05),
                              {"num-examples": 10, "train_loss": 0.5, "partition-id": i,
                               "label-counts": label_counts_metric([i, i], 5)}))
    _, metrics = recorder.aggregate_train(1, replies)
    assert "train_loss" in metrics and "partition-id" not in metrics and "label-counts" not in metrics
    assert "partition-id" not in caplog.text and "label-counts" not in caplog.text
    meta = read_meta(tmp_path, 1)
    assert meta["participants"] == ["0", "1", "2"] and meta["label_counts"]["2"]["2"] == 2
    assert "partition-id" not in meta["train_metrics"] and "label-counts" not in meta["train_metrics"]


BAD_IDS = {
    "duplicate": ([0, 0, 2], ["0"], "claimed by 2 replies"),
    "missing": ([0, None, 2], ["0", "2"], "no partition-id"),
    "negative": ([0, -1, 2], ["0", "2"], "is negative"),
    "non-integer": ([0, 1.5, 2], ["0", "2"], "not a whole number"),
    "text": ([0, [1], 2], ["0", "2"], "not a whole number"),
    "nan": ([0, float("nan"), 2], ["0", "2"], "not finite"),
    "inf": ([0, float("inf"), 2], ["0", "2"], "not finite"),
}


@pytest.mark.parametrize("case", list(BAD_IDS))
def test_replies_with_an_untrustworthy_client_id_are_dropped_in_one_logged_line(tmp_path, caplog, case):
    ids, kept, reason = BAD_IDS[case]
    recorder = ProvenanceRecorder(_fedavg(), run_dir=tmp_path)
    arrays = _initial()
    replies = []
    for instruction in recorder.configure_train(1, arrays, ConfigRecord({}), _Grid()):
        i = NODES.index(instruction.metadata.dst_node_id)
        metrics = {"num-examples": 10 * (i + 1)}
        if ids[i] is not None:
            metrics["partition-id"] = ids[i]
        replies.append(_reply(instruction, _local_update(arrays, 1, NODES[i], 0.05), metrics))
    aggregated, _ = recorder.aggregate_train(1, replies)
    meta = read_meta(tmp_path, 1)
    assert meta["participants"] == (["2"] if case == "duplicate" else kept)
    dropped = meta["dropped_replies"]
    assert dropped and all(reason in d["reason"] for d in dropped)
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "dropped the reply" in r.getMessage()]
    assert len(warnings) == len(dropped) and all("\n" not in w.getMessage() for w in warnings)
    # What was aggregated is what was recorded: the mean of the kept replies only.
    state = {c: read_client(tmp_path, 1, c) for c in meta["participants"]}
    weights = {c: meta["num_examples"][c] for c in state}
    total = sum(weights.values())
    for key, value in aggregated.to_torch_state_dict().items():
        assert torch.allclose(value, sum(weights[c] * state[c][key] for c in state) / total, atol=1e-6)


def test_keep_every_and_keep_last_keep_only_those_rounds_client_models(tmp_path):
    run_dir = tmp_path / "run"
    _drive(ProvenanceRecorder(_fedavg(), run_dir=run_dir, keep_every=3, keep_last=2), _initial(), rounds=7)
    assert completed_rounds(run_dir) == list(range(1, 8))  # every global model and meta.json stays
    with_clients = [r for r in range(1, 8) if list((run_dir / "rounds" / f"{r:04d}" / "clients").glob("*"))]
    assert with_clients == [3, 6, 7]
    assert "client_models_dropped" in read_meta(run_dir, 2) and "client_models_dropped" not in read_meta(run_dir, 6)
    with pytest.raises(InputError, match="round 2: client models not kept"):
        load_run(run_dir, model=SmallNet).explain(torch.zeros(1, 1, 8, 8), round=2, device="cpu")
    assert load_run(run_dir, model=SmallNet).explain(torch.zeros(1, 1, 8, 8), device="cpu").round == 7
    only_last = tmp_path / "last"
    _drive(ProvenanceRecorder(_fedavg(), run_dir=only_last, keep_every=None, keep_last=1), _initial(), rounds=3)
    assert [r for r in range(1, 4) if list((only_last / "rounds" / f"{r:04d}" / "clients").glob("*"))] == [3]
    with pytest.raises(ValueError, match="keeps no client model"):
        ProvenanceRecorder(_fedavg(), run_dir=tmp_path, keep_every=None)


@pytest.mark.parametrize("participants, message", [
    (["0", "../../escape"], "is not a (client id|file name)"),
    (["0", "/etc/passwd"], "is not a (client id|file name)"),
    (["0", "0"], "listed twice"),
    ("0", "(must be a list|is not a non-empty list)"),
])
def test_meta_participants_are_checked_before_they_become_paths(tmp_path, participants, message):
    _drive(ProvenanceRecorder(_fedavg(), run_dir=tmp_path), _initial(), rounds=1)
    path = tmp_path / "rounds" / "0001" / "meta.json"
    meta = json.loads(path.read_text())
    meta["participants"] = participants
    path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match=message) as info:
        load_run(tmp_path, model=SmallNet).explain(torch.zeros(1, 1, 8, 8), round=1, device="cpu")
    assert "meta.json" in str(info.value) and "\n" not in str(info.value)


def _record_run(tmp_path, make_model, rounds=2, scale=0.05):
    torch.manual_seed(0)
    run_dir = tmp_path / "run"
    _drive(ProvenanceRecorder(_fedavg(), run_dir=run_dir), ArrayRecord(make_model().state_dict()), rounds, scale=scale)
    return run_dir


def _models_of_round(run_dir, rnd, make_model):
    def build(state):
        model = make_model()
        model.load_state_dict(state)
        return model.eval()

    clients = {c: build(read_client(run_dir, rnd, c)) for c in read_meta(run_dir, rnd)["participants"]}
    return build(read_global(run_dir, rnd)), clients


def _module(tmp_path, monkeypatch, source: str, name: str):
    """A user's own module in the working directory, where ``MODULE:FACTORY`` finds it."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)


IMAGE_MODULE = """
    import torch
    from torch import nn

    class SmallNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 5)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    def make_net():
        return SmallNet()
"""


def test_explaining_an_image_model_outside_the_registry_equals_trace(tmp_path, monkeypatch, capsys):
    _module(tmp_path, monkeypatch, IMAGE_MODULE, "user_models")
    import user_models

    run_dir = _record_run(tmp_path, user_models.make_net)
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    expected = trace(*_models_of_round(run_dir, 2, user_models.make_net), x)

    run = load_run(run_dir, model="user_models:make_net")
    got = run.explain(x, round=2, device="cpu")
    assert got.client_ids == expected.client_ids and got.traced == expected.traced
    assert torch.equal(got.scores, expected.scores) and torch.equal(got.predicted, expected.predicted)
    every = run.explain(x, round="all", device="cpu")
    assert [e.round for e in every] == [1, 2] and torch.equal(every[1].scores, expected.scores)

    np.save(tmp_path / "inputs.npy", x.numpy())
    assert cli(["explain", "--run-dir", str(run_dir), "--model", "user_models:make_net", "--round", "2",
                "--inputs", "inputs.npy", "--out", "explain.png", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert re.findall(r"traced to client (\S+)", out) == expected.traced
    for i, traced in enumerate(expected.traced):
        k = expected.client_ids.index(traced)
        assert re.search(rf"contribution {float(expected.scores[i, k]):.3f}  examples of \d+: +\d+  <- traced", out)
    assert (tmp_path / "explain.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert cli(["explain", "--run-dir", str(run_dir), "--model", "user_models:make_net", "--round", "all",
                "--inputs", "inputs.npy", "--out", "rounds.png", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("contribution per round") == 6 and (tmp_path / "rounds.png").stat().st_size > 0


TEXT_MODULE = """
    from transformers import BertConfig, BertForSequenceClassification

    def tiny_classifier(vocab_size=30522):
        config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=64, num_labels=5)
        return BertForSequenceClassification(config)
"""


def test_explaining_a_text_model_outside_the_registry_equals_trace(tmp_path, monkeypatch, capsys):
    from tracefl.explain.inputs import tokenize
    from tracefl.models.catalog import minilm_dir

    _module(tmp_path, monkeypatch, TEXT_MODULE, "user_text_models")
    import user_text_models

    run_dir = _record_run(tmp_path, user_text_models.tiny_classifier, scale=0.02)
    texts = ["Stocks rallied as the central bank held rates.", "The striker scored twice in the final.",
             "A new chip doubles battery life."]
    (tmp_path / "texts.csv").write_text("text\n" + "\n".join(f'"{t}"' for t in texts) + "\n")
    tokenizer = str(minilm_dir())
    inputs = tokenize(texts, tokenizer, 24, user_text_models.tiny_classifier())
    expected = trace(*_models_of_round(run_dir, 2, user_text_models.tiny_classifier), inputs)

    got = load_run(run_dir, model=user_text_models.tiny_classifier).explain(inputs, round=2, device="cpu")
    assert got.traced == expected.traced and torch.equal(got.scores, expected.scores)

    assert cli(["explain", "--run-dir", str(run_dir), "--model", "user_text_models:tiny_classifier",
                "--model-kwargs", '{"vocab_size": 30522}', "--round", "2", "--inputs", "texts.csv",
                "--tokenizer", tokenizer, "--max-length", "24", "--out", "text.png", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert re.findall(r"traced to client (\S+)", out) == expected.traced
    assert (tmp_path / "text.png").stat().st_size > 0


def test_explain_refuses_bad_input_in_one_line(tmp_path, monkeypatch, capsys):
    _module(tmp_path, monkeypatch, IMAGE_MODULE, "user_models_bad")
    import user_models_bad

    run_dir = _record_run(tmp_path, user_models_bad.make_net, rounds=1)
    np.save(tmp_path / "inputs.npy", np.zeros((2, 1, 8, 8), dtype=np.float32))
    cases = [
        (["--model", "user_models_bad:make_net", "--round", "5"], "no round 5; recorded rounds: 1-1"),
        (["--model", "user_models_bad:nothing"], "has no attribute 'nothing'"),
        (["--model", "no_such_module:f"], "cannot import no_such_module"),
        ([], "no job.json to say which model the run trained"),
        (["--model", "torch.nn:Identity"], "do not fit the model"),
    ]
    for extra, message in cases:
        code = cli(["explain", "--run-dir", str(run_dir), "--inputs", "inputs.npy", *extra])
        err = capsys.readouterr().err
        assert code in (1, 2) and message in err and len(err.strip().splitlines()) == 1, (extra, err)
    code = cli(["explain", "--run-dir", str(tmp_path / "nowhere"), "--model", "user_models_bad:make_net",
                "--inputs", "inputs.npy"])
    assert code == 1 and "no recorded rounds" in capsys.readouterr().err


def test_an_app_that_sends_plain_lists_of_arrays_is_explained_by_position(tmp_path):
    """Flower apps that build ``ArrayRecord(list_of_ndarrays)`` name the arrays 0, 1, ...: they
    are loaded into the model's state_dict in order."""
    torch.manual_seed(0)
    model = SmallNet()
    as_list = ArrayRecord([v.numpy() for v in model.state_dict().values()])
    assert list(as_list.keys())[:2] == ["0", "1"]
    run_dir = tmp_path / "run"
    _drive(ProvenanceRecorder(_fedavg(), run_dir=run_dir), as_list, rounds=1)
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    got = load_run(run_dir, model=SmallNet).explain(x, round=1, device="cpu")

    def by_position(state):
        net = SmallNet()
        net.load_state_dict(dict(zip(net.state_dict(), (state[k] for k in sorted(state, key=int)))))
        return net.eval()

    clients = {c: by_position(read_client(run_dir, 1, c)) for c in ("0", "1", "2")}
    expected = trace(by_position(read_global(run_dir, 1)), clients, x)
    assert got.traced == expected.traced and torch.equal(got.scores, expected.scores)


def test_explain_names_labels_and_label_counts_and_selects_inputs(tmp_path, monkeypatch, capsys):
    _module(tmp_path, monkeypatch, IMAGE_MODULE, "user_models_select")
    import user_models_select

    run_dir = _record_run(tmp_path, user_models_select.make_net)
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    run = load_run(run_dir, model=user_models_select.make_net)
    everything = run.explain(x, device="cpu")
    assert everything.round == 2  # the last round by default, in Python and on the command line
    predicted = everything.predicted.tolist()
    labels = [(p + 1) % 5 if i % 3 == 0 else p for i, p in enumerate(predicted)]  # inputs 0, 3, 6 mispredicted
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "y.npy", np.array(labels))
    (tmp_path / "y.txt").write_text("label\n" + "\n".join(map(str, labels)) + "\n")

    wrong = run.explain(x, labels=labels, only_mispredicted=True, device="cpu")
    assert wrong.index == [0, 3, 6] and wrong.of == 8
    for row, i in enumerate(wrong.index):
        assert wrong.traced[row] == everything.traced[i] and torch.equal(wrong.scores[row], everything.scores[i])
    meta = read_meta(run_dir, 2)
    table = wrong.table()
    assert set(table["input"]) == {0, 3, 6} and list(table.columns)[:4] == ["input", "round", "predicted", "label"]
    first = table[(table["input"] == 0) & (table["client"] == "1")].iloc[0]
    assert first["label"] == labels[0] and first["label_examples"] == meta["label_counts"]["1"][str(labels[0])]

    base = ["explain", "--run-dir", str(run_dir), "--model", "user_models_select:make_net", "--inputs", "x.npy",
            "--device", "cpu"]
    assert cli([*base, "--labels", "y.npy", "--only-mispredicted", "--out", "wrong.png"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# 3 of 8 inputs (mispredicted in round 2)")
    assert re.findall(r"round 2, input (\d+): predicted class \d+, true label \d+ \(mispredicted\)", out) == ["0", "3", "6"]
    count = meta["label_counts"]["0"][str(labels[3])]
    assert re.search(rf"client +0  contribution \d\.\d{{3}}  examples of {labels[3]}: +{count}\b", out)

    assert cli([*base, "--labels", "y.txt", "--select", "1,4-5", "--format", "csv", "--out", "sel.png"]) == 0
    captured = capsys.readouterr()
    import io

    import pandas as pd

    csv = pd.read_csv(io.StringIO(captured.out))
    assert sorted(set(csv["input"])) == [1, 4, 5] and len(csv) == 3 * 3 and set(csv["round"]) == {2}
    assert "wrote sel.png" in captured.err

    assert cli([*base, "--round", "all", "--select", "2", "--format", "json", "--out", "all.png"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["round"], r["input"]) for r in records] == [(1, 2), (2, 2)] and records[0]["label"] is None
    assert {c["client"] for c in records[1]["clients"]} == {"0", "1", "2"}


def test_explain_refuses_inputs_labels_and_selections_that_do_not_fit_in_one_line(tmp_path, monkeypatch, capsys):
    _module(tmp_path, monkeypatch, IMAGE_MODULE, "user_models_fit")
    import user_models_fit

    run_dir = _record_run(tmp_path, user_models_fit.make_net, rounds=1)
    np.save(tmp_path / "x.npy", np.zeros((4, 1, 8, 8), dtype=np.float32))
    np.save(tmp_path / "shape.npy", np.zeros((4, 3, 8, 8), dtype=np.float32))
    np.save(tmp_path / "dtype.npy", np.zeros((4, 1, 8, 8), dtype=np.int64))
    np.save(tmp_path / "empty.npy", np.zeros((0, 1, 8, 8), dtype=np.float32))
    np.save(tmp_path / "y3.npy", np.zeros(3, dtype=np.int64))
    np.save(tmp_path / "yf.npy", np.zeros(4, dtype=np.float32))
    np.save(tmp_path / "y9.npy", np.full(4, 9, dtype=np.int64))
    (tmp_path / "texts.txt").write_text("a text\n")
    cases = [
        (["--inputs", "shape.npy"], "shape.npy: a tensor of shape (4, 3, 8, 8) and dtype float32 does not fit the model"),
        (["--inputs", "dtype.npy"], "dtype int64 does not fit the model"),
        (["--inputs", "empty.npy"], "empty.npy: no inputs"),
        (["--inputs", "x.npy", "--labels", "y3.npy"], "labels: 3 values"),
        (["--inputs", "x.npy", "--labels", "yf.npy"], "labels: dtype float32"),
        (["--inputs", "x.npy", "--labels", "y9.npy"], "9 is not a class of the model (0..4)"),
        (["--inputs", "x.npy", "--only-mispredicted"], "--only-mispredicted needs --labels"),
        (["--inputs", "x.npy", "--select", "2,7"], "--select 7: the inputs file holds inputs 0..3"),
        (["--inputs", "x.npy", "--select", "a-b"], "give input positions and ranges"),
        (["--inputs", "texts.txt"], "texts need --tokenizer"),
    ]
    for extra, message in cases:
        code = cli(["explain", "--run-dir", str(run_dir), "--model", "user_models_fit:make_net", "--device", "cpu",
                    *extra])
        err = capsys.readouterr().err
        assert code in (1, 2) and message in err and len(err.strip().splitlines()) == 1, (extra, err)


def test_charts_say_when_they_show_a_subset(tmp_path, monkeypatch):
    from tracefl.explain.plot import MAX_PANELS, _subset_note

    run_dir = _record_run(tmp_path, SmallNet, rounds=1)
    x = torch.randn(MAX_PANELS + 3, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    run = load_run(run_dir, model=SmallNet)
    every = run.explain(x, device="cpu")
    assert _subset_note(every, MAX_PANELS) == f"\ndrawn: the first {MAX_PANELS} of these {MAX_PANELS + 3} (the text output lists all)"
    some = run.explain(x, select=[1, 2], device="cpu")
    assert _subset_note(some, 2) == f"\n2 of {MAX_PANELS + 3} inputs (2 selected)"
    assert _subset_note(run.explain(x[:3], device="cpu"), 3) == ""
