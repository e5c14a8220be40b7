"""Where a result came from: versions, BLAS, platform, commit, threads, seeds and wall time.

Floating point differs across machines and libraries, so every JSON and the report carry this record.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np


def git_commit() -> str | None:
    """The commit of the git checkout tinygrad_bn runs from (with ``+dirty`` when it has changes), else None."""
    import tinygrad_bn

    root = Path(tinygrad_bn.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def blas() -> list[dict[str, Any]]:
    """The BLAS and OpenMP libraries numpy loaded, as threadpoolctl sees them (library, version, threads)."""
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer", "architecture")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def provenance(*, seeds: list[int], seconds: float, jobs: int | None = None) -> dict[str, Any]:
    """The record of one run: versions (Python, numpy, scipy, tinygrad_bn and its git commit), numpy's BLAS with
    the thread count of this process (each run is limited to one), platform, cores, worker processes (``jobs``),
    ``seeds`` and wall time ``seconds``."""
    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": version("scipy"),
        "tinygrad_bn": version("tinygrad-bn"),
        "git_commit": git_commit(),
        "blas": blas(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "jobs": jobs,
        "blas_threads_per_run": 1,  # bnlab.runner runs every job under threadpool_limits(1)
        "seeds": list(seeds),
        "wall_seconds": round(float(seconds), 3),
    }


def describe(record: dict[str, Any], machine_only: bool = False) -> str:
    """One line of a provenance record, for the report and the command's output; ``machine_only``: without the
    run's jobs, seeds and wall time."""
    libs = ", ".join(f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)" for b in record["blas"])
    seeds = record["seeds"]
    shown = f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 3 else ", ".join(map(str, seeds))
    machine = (f"Python {record['python']}, numpy {record['numpy']} (BLAS: {libs or 'none found'}), scipy "
               f"{record['scipy']}, tinygrad_bn {record['tinygrad_bn']} (commit {record['git_commit'] or 'unknown'}), "
               f"{record['platform']}, {record['cpu_count']} cores")
    if machine_only:
        return machine
    return (f"{machine}, jobs {record['jobs']} (1 BLAS thread each), {len(seeds)} seeds ({shown}), "
            f"{record['wall_seconds']:.1f} s")
