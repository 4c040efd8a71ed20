"""The live guard in the quickstart-shaped app (in-process simulation), one label flipper among five."""

from __future__ import annotations

import quickstart_runs as q

from tracefl.flower import AuditGuard


def _run(faulty, exclude, rounds=5):
    x, y = q.load_test()
    guards = []

    def wrap(strategy):
        guards.append(AuditGuard(strategy, q.Net, x[:150], y[:150], exclude=exclude))
        return guards[0]

    return q.run(wrap, faulty, rounds), guards[0]


def test_the_guard_drops_the_label_flipper_and_accuracy_recovers():
    watched, watching = _run((1,), exclude=False)
    repaired, guard = _run((1,), exclude=True)
    assert guard.excluded == {"1": 1002}
    assert [d["excluded_now"] for d in guard.decisions if d["excluded_now"]] == [["1"]]
    assert watching.excluded == {} and any(d["flagged"] == ["1"] for d in watching.decisions)
    assert repaired[5] > watched[5] + 0.2


def test_a_guard_that_only_watches_changes_nothing():
    plain = q.run(lambda s: s, (), 3)
    watched, guard = _run((), exclude=False, rounds=3)
    assert watched == plain and guard.excluded == {} and len(guard.decisions) == 3
