"""Freed memory kept for reuse: :func:`steady_malloc` fixes glibc's malloc thresholds for the process.

A training step allocates its activations and gradients afresh and frees them when the graph goes.
With glibc's adaptive thresholds the freed top of the heap is often given back to the OS and faulted in
again on the next step: at batch 256 the MLP of ``bench/`` took 1,300 page faults and 2.3 ms of kernel
time per step, twice the hand-written numpy step's time. Fixed thresholds keep up to
``TRIM_THRESHOLD`` of freed heap for the next step, as PyTorch's caching allocator keeps its blocks.

Importing tinygrad_bn changes nothing: the allocator is the user's process's. The call is explicit —
``bench`` makes it before timing, and ``bnlab``'s runner in each job's process. With the environment
variable ``TINYGRAD_BN_MALLOC=default`` the call leaves glibc's own thresholds (for side-by-side timing).
"""

from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 32 << 20
"""Allocations at least this large get their own mapping, returned to the OS when freed (bytes)."""
TRIM_THRESHOLD = 256 << 20
"""Freed memory at the top of the heap is given back to the OS only beyond this much (bytes)."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def steady_malloc() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (:data:`MMAP_THRESHOLD`, :data:`TRIM_THRESHOLD`).

    Returns:
        True when glibc accepted both; False where there is no glibc (macOS, musl, Windows) or when
        ``TINYGRAD_BN_MALLOC=default`` asks to keep glibc's own.
    """
    if not sys.platform.startswith("linux") or os.environ.get("TINYGRAD_BN_MALLOC") == "default":
        return False
    try:
        libc = ctypes.CDLL(None)  # the interpreter's own symbols, libc's among them (no library search)
        return libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(_M_TRIM_THRESHOLD,
                                                                                      TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):  # no mallopt: not glibc
        return False

