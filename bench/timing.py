"""Timing in rotating blocks of consecutive calls (medians over repeats) and a description of the machine."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

K = TypeVar("K")


def blocks(fns: dict[K, Callable[[], object]], repeats: int, seconds: float = 0.05, warmup: int = 2) -> dict[K, float]:
    """Median seconds per call of each function, timed in blocks of consecutive calls, the blocks rotating.

    A block is ``warmup`` untimed calls, then enough timed calls to last about ``seconds`` (counted once,
    up front), so thread pools and caches are as warm as for a user running that system alone. Each
    repeat runs one block of every function; the order rotates from one repeat to the next, so no
    system always runs right after another and a burst of load on the machine spreads over all of them.
    """
    names = list(fns)
    calls = {}
    for name in names:
        fn = fns[name]
        for _ in range(warmup):
            fn()
        start = time.perf_counter()
        for _ in range(3):
            fn()
        calls[name] = max(1, round(3 * seconds / max(time.perf_counter() - start, 1e-9)))
    times: dict[K, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, n = fns[name], calls[name]
            for _ in range(warmup):
                fn()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(ts) for name, ts in times.items()}


def steady_allocator() -> str:
    """Fix glibc malloc's mmap and trim thresholds (32 MiB, 256 MiB) for this process; what was done.

    By default glibc moves both thresholds with the sizes freed so far, so a step that allocates a
    few MiB may give memory back to the OS and fault it in again (hundreds of page faults per step)
    or not, depending on the process's allocation history and on which system ran before. Fixed
    thresholds make every system run on the same, steady allocator.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(-3, 32 << 20) == 1 and libc.mallopt(-1, 256 << 20) == 1  # M_MMAP_/M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        ok = False
    return "glibc malloc, mmap threshold 32 MiB, trim threshold 256 MiB" if ok else "default (mallopt unavailable)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    """CPU, cores, Python, numpy and the BLAS libraries loaded with their thread counts (threadpoolctl)."""
    info = {"cpu": f"{cpu_model()} ({os.cpu_count()} logical cores)",
            "python": platform.python_version(), "numpy": np.__version__}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        info["blas"] = "unknown (threadpoolctl is not installed)"
    else:
        pools = [f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('architecture') or p.get('user_api')}, "
                 f"{p.get('num_threads')} threads, {os.path.basename(p.get('filepath', ''))})"
                 for p in threadpool_info()]
        info["blas"] = "; ".join(pools) or "none found"
    env = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_", "MKL_"))}
    info["environment"] = ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "no OPENBLAS_/OMP_/MKL_ variables"
    return info
