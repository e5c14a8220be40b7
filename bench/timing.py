"""Interleaved timing (systems take turns, medians over repeats) and a description of the machine."""

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


def interleaved(fns: dict[K, Callable[[], object]], repeats: int, number: int, warmup: int = 2) -> dict[K, float]:
    """Median seconds per call of each function; every repeat times each function in turn.

    The order rotates from one repeat to the next, so no system always runs right after another.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    times: dict[K, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn = fns[name]
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - start) / number)
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
