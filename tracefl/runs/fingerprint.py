"""What trained a run's rounds: its settings, its partition and the training code.

Every round's ``meta.json`` records this fingerprint. A job that finds rounds on disk
continues them only when their fingerprint is the one it would write; rounds made with
other settings, another partition or other code are trained again from round 1.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import tracefl
from tracefl.config import RunSpec

# The parts of the package whose code decides what training produces.
_TRAINING_CODE = ("flower", "models", "data", "runs", "config", "steps/train.py", "seeding.py")


@lru_cache(maxsize=1)
def code_version() -> str:
    """A digest of the training code's source files (the package version included)."""
    root = Path(tracefl.__file__).parent
    digest = hashlib.sha256(tracefl.__version__.encode())
    for part in _TRAINING_CODE:
        path = root / part
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(source.relative_to(root)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def run_fingerprint(spec: RunSpec, partition_path: str | Path) -> str:
    """One string for (settings, partition file, training code)."""
    payload = {"settings": spec.to_dict(), "partition": file_digest(partition_path), "code": code_version()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def reason_to_start_over(run_dir: str | Path, rounds: int, fingerprint: str) -> str | None:
    """Why the rounds on disk must not be continued (None: continue or keep them).

    - a round was made with another fingerprint (settings, partition or code changed);
    - every round is there but ``rounds.csv`` is not: the step's output was removed on
      purpose (``snakemake --forcerun train_fl``, or by hand), so the user asks to retrain.
    """
    from tracefl.runs.layout import completed_rounds, read_meta

    done = completed_rounds(run_dir)
    if not done:
        return None
    if done != list(range(1, len(done) + 1)):
        return f"rounds on disk are not 1..{len(done)} ({done})"
    stale = [r for r in done if read_meta(run_dir, r).get("fingerprint") != fingerprint]
    if stale:
        return (f"round(s) {', '.join(map(str, stale))} on disk were trained with other settings, "
                "another partition or other code")
    if len(done) >= rounds and not (Path(run_dir) / "rounds.csv").exists():
        return f"all {len(done)} rounds are on disk but rounds.csv is not (a forced rerun)"
    return None
