"""Module-level runs for the runner tests (worker processes import them by name)."""

import os
import time


def double(seed: int, bad: int = -1, slow: float = 0.0) -> int:
    """``2 * seed``; raises for seed ``bad`` (after ``slow`` seconds)."""
    if seed == bad:
        time.sleep(slow)
        raise ValueError(f"seed {seed} is bad")
    return 2 * seed


def die(seed: int, bad: int) -> int:
    """``seed``; the worker process running seed ``bad`` dies (as a segfault or the OOM killer would end it)."""
    if seed == bad:
        time.sleep(0.3)
        os._exit(3)
    return seed


class Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")
        self.lock = __import__("threading").Lock()


def raise_unpicklable(seed: int) -> None:
    raise Unpicklable(seed, "a lock")
