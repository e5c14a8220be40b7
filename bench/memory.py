"""Memory: peak bytes allocated during one training step (tracemalloc, which sees numpy's buffers) and
the growth of live memory over many steps (a graph that is not freed would grow it)."""

from __future__ import annotations

import gc
import tracemalloc

from .step import Step


def peak_per_step(step: Step, warmup: int = 3) -> int:
    """Peak bytes allocated above what was live before one step (median of three steps)."""
    for _ in range(warmup):
        step()
    gc.collect()
    peaks = []
    tracemalloc.start()
    try:
        for _ in range(3):
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            step()
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
    finally:
        tracemalloc.stop()
    return sorted(peaks)[1]


def growth(step: Step, steps: int = 500, settle: int = 10) -> tuple[int, int]:
    """Live bytes after ``settle`` steps and the change from there to ``steps`` steps (0 when flat)."""
    tracemalloc.start()
    try:
        for _ in range(settle):
            step()
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(steps - settle):
            step()
        gc.collect()
        end = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return start, end - start
