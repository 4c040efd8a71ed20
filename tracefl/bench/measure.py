"""Measuring one benchmark row: peak memory, synchronised timing, the reference, agreement.

Peak memory is the growth of the process's resident set size over the call, sampled by
a background thread (CPU), or ``torch.cuda.max_memory_allocated`` growth (CUDA).

The reference is per-input by construction (its cost per input does not depend on N),
so it is timed input by input and its time per input is the median over the inputs it
traced, which keeps it robust to bursts of load from other processes.
"""

from __future__ import annotations

import ctypes
import gc
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from tracefl.models.inputs import Inputs, take
from tracefl.provenance.reference import reference_trace


def _rss_reader() -> Callable[[], int] | None:
    """A cheap function returning this process's resident set size in bytes, if available."""
    statm = Path("/proc/self/statm")
    if statm.exists():
        page = os.sysconf("SC_PAGE_SIZE")

        def read_statm() -> int:
            return int(statm.read_text().split()[1]) * page

        return read_statm
    try:
        import psutil
    except ImportError:
        return None
    process = psutil.Process()
    return lambda: process.memory_info().rss


def _release_freed_memory() -> None:
    """Collect garbage and hand freed heap back to the OS, so RSS growth is measured afresh."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


class PeakMemory:
    """Peak memory growth while the block runs: RSS sampled by a thread (CPU) or CUDA stats."""

    def __init__(self, device: torch.device, interval_s: float = 0.002) -> None:
        self.device = device
        self.interval_s = interval_s
        self.read = None if device.type == "cuda" else _rss_reader()
        self.peak_bytes = float("nan")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        _release_freed_memory()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base_bytes = torch.cuda.memory_allocated(self.device)
        elif self.read is not None:
            self.base_bytes = self._peak = self.read()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, self.read())

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self.base_bytes
        elif self.read is not None:
            self._stop.set()
            assert self._thread is not None
            self._thread.join()
            self._peak = max(self._peak, self.read())
            self.peak_bytes = self._peak - self.base_bytes


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work, so wall-clock timings cover it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare(engine_raw: Tensor, reference_raw: Tensor, engine_traced: list[str],
            reference_traced: list[str]) -> tuple[float, int, int]:
    """(max relative raw difference, compared, agreed) over the inputs both traced.

    The relative difference of an input is max_k |engine - reference| / max_k |reference|.
    """
    m = reference_raw.shape[0]
    if m == 0:
        return float("nan"), 0, 0
    ours = engine_raw[:m].double()
    theirs = reference_raw.double()
    scale = theirs.abs().amax(dim=1).clamp_min(torch.finfo(torch.float64).tiny)
    rel = float(((ours - theirs).abs().amax(dim=1) / scale).max())
    agreed = sum(a == b for a, b in zip(engine_traced[:m], reference_traced))
    return rel, m, agreed


def time_reference(
    model: nn.Module, clients: Mapping[str, nn.Module], inputs: Inputs, count: int,
    device: torch.device,
) -> tuple[tuple[Tensor, list[str]], float]:
    """Reference raw scores and traced clients of the first ``count`` inputs, and the
    median seconds per input (each input traced and timed on its own)."""
    raws, traced, seconds = [], [], []
    for i in range(count):
        one = take(inputs, slice(i, i + 1))
        sync(device)
        start = time.perf_counter()
        result = reference_trace(model, clients, one, device=device)
        sync(device)
        seconds.append(time.perf_counter() - start)
        raws.append(result.raw)
        traced.extend(result.traced)
    return (torch.cat(raws), traced), statistics.median(seconds)
