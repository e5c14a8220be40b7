"""Timing in rotating blocks of consecutive calls (medians over repeats) and a description of the machine."""

from __future__ import annotations

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
    """CPU, cores, Python, numpy, the BLAS libraries loaded with their thread counts (threadpoolctl), the allocator."""
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
    from tinygrad_bn import malloc
    mib = (malloc.MMAP_THRESHOLD >> 20, malloc.TRIM_THRESHOLD >> 20)
    info["allocator"] = (f"glibc malloc with tinygrad_bn's fixed thresholds (mmap {mib[0]} MiB, trim {mib[1]} MiB) for "
                         "every system of the process" if malloc.steady_malloc() else
                         "the platform's default (TINYGRAD_BN_MALLOC=default, or no glibc)")
    return info
