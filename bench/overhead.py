"""Per-op overhead: a chain of ops (multiply, add, relu, in turn) on a 1-element tensor, forward and backward."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from tinygrad_bn import Tensor, jit

from . import peers

N_OPS = 1000


def _chain(y: Tensor, n: int) -> Tensor:
    for i in range(n):
        y = y * 0.9 if i % 3 == 0 else y + 0.1 if i % 3 == 1 else y.relu()
    return y


def ours(n: int) -> peers.Chain:
    return lambda: _chain(Tensor(np.ones(1, np.float32), requires_grad=True), n), lambda y: y.backward()


def replayed(n: int = N_OPS, repeats: int = 30) -> tuple[float, float]:
    """Microseconds per op of the chain replayed by ``tinygrad_bn.jit``: (forward, backward).

    The forward is a forward-only jit's call; the backward is a full jit's call (forward and backward)
    minus it, the two calls taking turns.
    """
    x = Tensor(np.ones(1, np.float32), requires_grad=True)
    forward, both = jit(lambda y: _chain(y, n), backward=False), jit(lambda y: _chain(y, n))
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(repeats + 3):  # three calls record and warm up
        for fn, ts in zip((forward, both), times):
            t0 = time.perf_counter()
            fn(x)
            if r >= 3:
                ts.append(time.perf_counter() - t0)
    f, b = (statistics.median(ts) / n * 1e6 for ts in times)
    return f, b - f


def measure(n: int = N_OPS, repeats: int = 30) -> dict[str, tuple[float, float] | str]:
    """Microseconds per op (forward, backward) of ours and each available peer, systems taking turns."""
    builders: dict[str, Callable[[int], peers.Chain]] = {"tinygrad_bn": ours, **peers.CHAINS}
    chains: dict[str, peers.Chain] = {}
    result: dict[str, tuple[float, float] | str] = {}
    for name, build in builders.items():
        try:
            chains[name] = build(n)
        except peers.Unavailable as e:
            result[name] = str(e)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in chains}
    names = list(chains)
    for r in range(repeats + 2):  # the first two rounds warm up
        for name in names[r % len(names):] + names[:r % len(names)]:
            forward, backward = chains[name]
            t0 = time.perf_counter()
            out = forward()
            t1 = time.perf_counter()
            backward(out)
            t2 = time.perf_counter()
            if r >= 2:
                times[name].append((t1 - t0, t2 - t1))
    for name, ts in times.items():
        result[name] = (statistics.median(f for f, _ in ts) / n * 1e6, statistics.median(b for _, b in ts) / n * 1e6)
    return result
