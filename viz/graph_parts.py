"""What both captures (:mod:`viz.capture` for tinygrad_bn, :mod:`viz.torch_capture` for PyTorch) build their graphs
with: the value and gradient statistics of the tensor nodes, where leaves are placed, the collector paused."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .stats import summarise


@contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused in the block (and resumed if it was running): building
    ~10^5 small dicts and lists otherwise sets off full collections that took half of capture's time, and
    would find nothing to free, since everything built is kept."""
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def add_statistics(values: list[np.ndarray], grads: list[tuple[int, np.ndarray]],
                   tensors: list[dict[str, Any]]) -> None:
    """Value statistics and histogram of every tensor node (``tensors[k]`` holds ``values[k]``), and of the
    gradient of those in ``grads`` (``(k, gradient)``), all in batches."""
    found = summarise(values + [np.asarray(gr) for _, gr in grads])
    for attrs, s in zip(tensors, found):
        attrs.update(mean=s.mean, std=s.std, min=s.min, max=s.max, hist=s.hist, grad_norm=None,
                     grad_mean_abs=None, grad_hist=None, nonfinite=None if s.finite else "value")
    for (k, _), s in zip(grads, found[len(values):]):
        attrs = tensors[k]
        attrs.update(grad_norm=s.norm, grad_mean_abs=s.mean_abs, grad_hist=s.hist)
        if not s.finite:  # which of value / gradient holds a nan or inf
            attrs["nonfinite"] = "value and gradient" if attrs["nonfinite"] else "gradient"


def place_leaves(attrs: dict[str, dict[str, Any]], leaves: dict[str, set[tuple]]) -> None:
    """Parameters and constants belong to the module (and scopes) of the ops that use them, when those agree."""
    for n, users in leaves.items():
        if len(users) == 1:
            attrs[n]["module"], attrs[n]["scopes"] = users.pop()
