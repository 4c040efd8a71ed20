"""The audit: its test on constructed traces, and an end-to-end audit of a tiny recorded run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracefl.audit.statistics import flag_clients, holm
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
                str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "VERDICT: flagged 1" in printed
    table = pd.read_csv(tmp_path / "audit.csv", dtype={"client": str})
    assert table.loc[table["flagged"], "client"].tolist() == ["1"]
    assert {"correct_share", "misprediction_share", "chance_share"} <= set(table.columns)
    assert out.stat().st_size > 1000

    from tracefl import load_run

    audit = load_run(faulty_run, q.Net).audit(x, y)
    assert audit.flagged == ["1"]
    counts = audit.counts
    assert int(counts["traced_mispredictions"].sum() + counts["traced_correct"].sum()) == 4 * len(y)
    assert set(counts["round"]) == {1, 2, 3, 4}


def test_audit_refuses_labels_without_inputs(faulty_run):
    assert cli(["audit", "--run-dir", str(faulty_run), "--model", "quickstart.task:Net", "--labels", "y.npy"]) != 0
