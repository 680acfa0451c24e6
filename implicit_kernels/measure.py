"""Wall-clock and peak-memory measurement of a callable, for benchmarks and reports."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path


def peak_rss_mb(run: Callable[[], object]) -> float | None:
    """Peak resident memory (MB) above the level before ``run``, from Linux's ``VmHWM`` after
    resetting it (``/proc/self/clear_refs``); ``None`` where that is not available. Memory the
    process already holds (freed but kept by the allocator) is not counted again."""
    def read(key: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return float(line.split()[1]) / 1024
        raise KeyError(key)

    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = read("VmRSS:")
        run()
        return max(read("VmHWM:") - before, 0.0)
    except OSError:
        run()
        return None


def seconds_and_peak_mb(run: Callable[[], object], repeats: int = 3,
                        slow_seconds: float = 2.0) -> tuple[float, float | None]:
    """Median seconds and peak memory (:func:`peak_rss_mb`) of ``run()``. The first call is
    measured for both; ``repeats - 1`` more calls are timed only when it took less than
    ``slow_seconds``, so an expensive call is made once."""
    times: list[float] = []

    def timed() -> None:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)

    peak = peak_rss_mb(timed)
    if times[0] < slow_seconds:
        for _ in range(repeats - 1):
            timed()
    return statistics.median(times), peak
