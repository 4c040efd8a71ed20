"""The audit: its test on constructed traces, and an end-to-end audit of a tiny recorded run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tracefl.audit.statistics import flag_clients, holm, exclusion_helps
from tracefl.cli import main as cli


def _traces(rounds: int, clients: list[str], mis: dict[str, int], cor: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every round: ``mis[c]`` mistakes and ``cor[c]`` correct predictions traced to client c."""
    rows, part = [], []
    for r in range(1, rounds + 1):
        for c in clients:
            rows += [{"round": r, "predicted": 0, "correct": False, "client": c}] * mis[c]
            rows += [{"round": r, "predicted": 0, "correct": True, "client": c}] * cor[c]
            part.append({"round": r, "client": c})
    return pd.DataFrame(rows), pd.DataFrame(part)


def test_an_exclusion_helps_only_when_it_fixes_more_than_it_breaks_beyond_chance():
    def pairs(fixed, broken, same=50):
        with_ = np.array([False] * fixed + [True] * broken + [True] * same)
        without = np.array([True] * fixed + [False] * broken + [True] * same)
        return with_, without

    # 6 fixed, 0 broken: p = 1/64 < 0.05; 5 fixed, 0 broken: p = 1/32 < 0.05; 4 of 4: 1/16 > 0.05
    assert exclusion_helps(*pairs(6, 0)) and exclusion_helps(*pairs(5, 0)) and not exclusion_helps(*pairs(4, 0))
    # a small rise in accuracy is not enough: 12 fixed, 6 broken gives p = 0.12
    assert not exclusion_helps(*pairs(12, 6))
    assert exclusion_helps(*pairs(30, 10)) and not exclusion_helps(*pairs(3, 10)) and not exclusion_helps(*pairs(0, 0))


def test_holm_matches_the_step_down_rule():
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.5])), [0.04, 0.09, 0.09, 0.5])


def test_a_client_behind_the_mistakes_is_flagged_and_only_it():
    clients = [str(c) for c in range(5)]
    mis = {"0": 2, "1": 2, "2": 12, "3": 2, "4": 2}
    cor = {c: 10 for c in clients}
    table = flag_clients(*_traces(5, clients, mis, cor))
    assert table.loc[table["flagged"], "client"].tolist() == ["2"]
    row = table.set_index("client").loc["2"]
    assert row["misprediction_share"] == pytest.approx(0.6) and row["correct_share"] == pytest.approx(0.2)
    assert row["p_holm"] < 1e-6


def test_uniform_counts_flag_nobody():
    clients = [str(c) for c in range(5)]
    table = flag_clients(*_traces(5, clients, {c: 4 for c in clients}, {c: 10 for c in clients}))
    assert not table["flagged"].any()
    assert (table["p_holm"] > 0.5).all()


def test_a_client_named_for_everything_is_not_flagged():
    """A big contributor named for 60% of mistakes *and* of correct predictions is not behind the mistakes."""
    clients = [str(c) for c in range(5)]
    mis = {"0": 12, "1": 2, "2": 2, "3": 2, "4": 2}
    cor = {"0": 60, "1": 10, "2": 10, "3": 10, "4": 10}
    assert not flag_clients(*_traces(5, clients, mis, cor))["flagged"].any()


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    import quickstart_runs as q

    from tracefl.flower import ProvenanceRecorder

    run_dir = tmp_path_factory.mktemp("audit") / "run"
    q.run(lambda s: ProvenanceRecorder(s, run_dir=run_dir), faulty=(1,), rounds=4)
    return run_dir


def test_audit_of_a_recorded_run_flags_the_faulty_client(faulty_run, tmp_path, capsys):
    import quickstart_runs as q

    x, y = q.load_test()
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "y.npy", y.numpy())
    out = tmp_path / "audit.png"
    assert cli(["audit", "--run-dir", str(faulty_run), "--model", "quickstart.task:Net", "--inputs",
                str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--out", str(out), "--repair"]) == 0
    printed = capsys.readouterr().out
    assert "VERDICT: flagged 1" in printed
    table = pd.read_csv(tmp_path / "audit.csv", dtype={"client": str})
    assert table.loc[table["flagged"], "client"].tolist() == ["1"]
    assert {"correct_share", "misprediction_share", "chance_share"} <= set(table.columns)
    assert out.stat().st_size > 1000
    repair = pd.read_csv(tmp_path / "repair.csv", dtype={"excluded": str}).set_index("method")
    assert repair.loc["audit", "excluded"] == "1"
    assert {"nobody", "label_count", "feddebug", "random", "Krum", "FedMedian"} <= set(repair.index)
    assert repair.loc["audit", "accuracy"] > repair.loc["nobody", "accuracy"]

    from tracefl import load_run

    audit = load_run(faulty_run, q.Net).audit(x, y)
    assert audit.flagged == ["1"]
    counts = audit.counts
    assert int(counts["traced_mispredictions"].sum() + counts["traced_correct"].sum()) == 4 * len(y)
    assert set(counts["round"]) == {1, 2, 3, 4}


def test_audit_refuses_labels_without_inputs(faulty_run):
    assert cli(["audit", "--run-dir", str(faulty_run), "--model", "quickstart.task:Net", "--labels", "y.npy"]) != 0


def test_reaggregation_with_nobody_excluded_is_the_recorded_global_model(faulty_run):
    from tracefl.audit import repair
    from tracefl.runs.checkpoint import read_global

    for rnd in (1, 4):
        replies = repair.recorded_replies(faulty_run, rnd)
        state, recorded = repair.aggregate(replies, rnd), read_global(faulty_run, rnd)
        assert set(state) == set(recorded)
        for key in recorded:
            torch.testing.assert_close(state[key], recorded[key], atol=1e-6, rtol=0)
        without = repair.aggregate(replies, rnd, exclude=["1"])
        assert not torch.allclose(without["fc2.weight"], recorded["fc2.weight"])


def test_counterfactual_exclusion_and_robust_strategies_on_recorded_replies(faulty_run):
    import quickstart_runs as q

    from tracefl import load_run
    from tracefl.audit import repair

    x, y = q.load_test()
    run = load_run(faulty_run, q.Net)
    replies = repair.recorded_replies(faulty_run, 4)
    # the flipper's "attack": every input predicted as its target class 0
    attack = repair.accuracy_of(run.template(), x, torch.zeros_like(y))
    table = repair.compare(replies, 4, repair.accuracy_of(run.template(), x, y),
                           {"nobody": [], "oracle": ["1"]}, num_faulty=1, faulty=["1"], attack=attack)
    acc = table.set_index("method")["accuracy"]
    success = table.set_index("method")["attack_success"]
    assert success["oracle"] < success["nobody"] - 0.2
    assert {"Krum", "MultiKrum", "FedMedian", "FedTrimmedAvg"} <= set(acc.index)
    assert acc["oracle"] > acc["nobody"] + 0.1  # dropping the label flipper repairs the round
    again = repair.compare(replies, 4, repair.accuracy_of(run.template(), x, y), {}, num_faulty=1)
    # the replies are not consumed by the strategies (FedMedian pops arrays from what it reads)
    assert again.set_index("method")["accuracy"].equals(acc.drop(["nobody", "oracle"]))


def test_a_flag_is_confirmed_only_where_excluding_the_client_helps(faulty_run):
    """The flipper's exclusion from its last round fixes far more validation inputs than it breaks
    (kept); an honest client's lowers accuracy (dropped); a client never seen is dropped."""
    import quickstart_runs as q

    from tracefl import load_run
    from tracefl.audit import repair

    x, y = q.load_test()
    run = load_run(faulty_run, q.Net)
    evaluate = repair.accuracy_of(run.template(), x, y)
    replies = repair.recorded_replies(faulty_run, 4)
    base = evaluate(repair.aggregate(replies, 4))
    assert evaluate(repair.aggregate(replies, 4, ["3"])) < base < evaluate(repair.aggregate(replies, 4, ["1"]))
    assert repair.confirmed_by_exclusion(faulty_run, ["1", "3", "99"], repair.correct_of(run.template(), x, y)) == ["1"]
