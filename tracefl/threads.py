"""How many CPU threads a job's torch and OpenMP use: the rule's ``threads``, not every core.

A torch process takes every core by default, and OpenMP threads that spin while they
wait burn cores another job needs: measured here, provenance next to a 2-thread training
job on 2 cores ran 16x slower. Every CLI verb that computes calls :func:`configure_threads`
before torch is imported, with the rule's ``threads`` (or SLURM's ``--cpus-per-task``).
"""

from __future__ import annotations

import os
import sys

#: Environment variables that size the thread pools of torch's OpenMP / MKL / BLAS backends.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cpus() -> int:
    """The CPUs this process may use: SLURM's grant when inside a job, else its affinity mask."""
    granted = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if granted.isdigit() and int(granted) > 0:
        return int(granted)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def configure_threads(threads: int | None = None) -> int:
    """Use ``threads`` CPU threads (default: :func:`available_cpus`) in this process and its
    children, with OpenMP threads that sleep rather than spin while they wait.

    Call it before torch is imported: OpenMP reads the variables once. If torch is already
    loaded, its intra-op pool is resized as well (the wait policy then stays as it was).
    Returns the thread count.
    """
    n = max(1, int(threads or available_cpus()))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)
    prefer_sleeping_threads()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    return n


def prefer_sleeping_threads() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy: waiting threads sleep, not spin."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
