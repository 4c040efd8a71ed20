"""Auditing a recorded run: which clients are behind the global model's mistakes, over every
round (``audit_run``), and what excluding them would have bought (``counterfactual``).

``statistics`` holds the test (per client, one-sided Mantel-Haenszel over rounds, Holm), ``run``
the traces behind it, ``plot`` the heatmap, ``repair`` the re-aggregation of recorded rounds.
"""

from tracefl.audit.statistics import ALPHA, flag_clients

__all__ = ["ALPHA", "flag_clients"]
