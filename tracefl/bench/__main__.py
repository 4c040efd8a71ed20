"""``python -m tracefl.bench``: set ``OMP_WAIT_POLICY=PASSIVE``, then run the benchmark.

OpenMP threads that spin while they wait slow batched work down several-fold on a shared
or oversubscribed CPU (measured 5-10x on a 2-core VM running other jobs), and OpenMP
reads the variable only once, when torch loads. So it is set here, before anything that
imports torch, and only if unset; importing ``tracefl.bench`` changes nothing (its
package ``__init__`` loads its submodules lazily, so torch is not loaded before this).
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "torch" not in sys.modules:  # OpenMP reads it once, at load
    from tracefl.threads import prefer_sleeping_threads

    prefer_sleeping_threads()

from tracefl.bench.cli import main  # noqa: E402  (after the environment is set)

if __name__ == "__main__":
    sys.exit(main())
