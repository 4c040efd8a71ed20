"""The live guard in the quickstart-shaped app (in-process simulation), one label flipper among five."""

from __future__ import annotations

import quickstart_runs as q

from tracefl.flower import AuditGuard


def _run(faulty, exclude, rounds=5, **options):
    x, y = q.load_test()
    guards = []

    def wrap(strategy):
        guards.append(AuditGuard(strategy, q.Net, x[:150], y[:150], exclude=exclude, **options))
        return guards[0]

    return q.run(wrap, faulty, rounds), guards[0]


def test_the_guard_drops_the_label_flipper_and_accuracy_recovers():
    watched, watching = _run((1,), exclude=False)
    repaired, guard = _run((1,), exclude=True)
    assert guard.excluded == {"1": 1002}
    assert [d["excluded_now"] for d in guard.decisions if d["excluded_now"]] == [["1"]]
    assert watching.excluded == {} and any(d["flagged"] == ["1"] for d in watching.decisions)
    assert repaired[5] > watched[5] + 0.2


def test_in_the_fault_free_app_nothing_is_excluded_and_the_model_is_unchanged():
    plain = q.run(lambda s: s, (), 4)
    guarded, guard = _run((), exclude=True, rounds=4)
    assert guarded == plain and guard.excluded == {} and len(guard.decisions) == 4
    # the audit alone flags an honest client here (docs/audit.md); excluding it would cost accuracy
    assert any(d["flagged"] for d in guard.decisions)
    assert [c for d in guard.decisions for c in d["unconfirmed"]]


def test_excluding_refuses_strategies_that_keep_state_when_they_aggregate():
    import pytest
    import torch
    from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, FedAdam, FedAvg

    x, y = q.load_test()
    for strategy in (FedAdam(), DifferentialPrivacyServerSideFixedClipping(FedAvg(), 0.1, 1.0, 5)):
        with pytest.raises(ValueError, match="aggregate a round twice"):
            AuditGuard(strategy, q.Net, x[:10], y[:10], exclude=True)
        AuditGuard(strategy, q.Net, x[:10], y[:10], exclude=False)
    AuditGuard(FedAvg(), q.Net, x[:10], torch.as_tensor(y[:10]), exclude=True)
