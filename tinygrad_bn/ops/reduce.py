"""Reductions over axes (``axis``: a sorted tuple of non-negative axes, normalized by Tensor's methods)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..tensor import ShapeError, Tensor
from .primitive import primitive


def _expand(F: Any, g: Any, shape: tuple[int, ...], axis: tuple[int, ...], keepdims: bool) -> Any:
    """Bring a reduction's output gradient back to the rank of the input ``shape``, ready to broadcast."""
    if not keepdims:
        g = F.reshape(g, shape=tuple(1 if i in axis else n for i, n in enumerate(shape)))
    return g


def _mean(a: np.ndarray, axis: tuple[int, ...], keepdims: bool, n: int) -> np.ndarray:
    """``a.mean`` without numpy's Python-level wrapper for float32/float64 (the same sum, then divide)."""
    if not n:  # an empty axis: nan, as in numpy and PyTorch (without numpy's warning)
        return np.add.reduce(a, axis=axis, keepdims=keepdims) * np.nan
    if a.dtype.kind == "f" and a.dtype.itemsize >= 4:
        return np.add.reduce(a, axis=axis, keepdims=keepdims) / n
    return a.mean(axis=axis, keepdims=keepdims)


def _count(shape: tuple[int, ...], axis: tuple[int, ...]) -> int:
    return math.prod(shape[a] for a in axis)


@primitive
def sum(x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False):
    """The sum over ``axis``."""
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


@sum.defvjp
def _sum_vjp(F, need, g, out, x, *, axis, keepdims=False):
    return (F.broadcast_to(_expand(F, g, x.shape, axis, keepdims), shape=x.shape),)


@primitive
def mean(x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False):
    """The mean over ``axis`` (nan over an empty axis, as numpy and PyTorch)."""
    return _mean(x, axis, keepdims, _count(x.shape, axis))


@mean.defvjp
def _mean_vjp(F, need, g, out, x, *, axis, keepdims=False):
    n = _count(x.shape, axis)
    return (F.broadcast_to(_expand(F, g, x.shape, axis, keepdims) * (1 / n if n else 0.0), shape=x.shape),)


@primitive
def var(x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False, correction: int = 0):
    """Variance over ``axis`` divided by ``n - correction``."""
    n = _count(x.shape, axis)
    dof = builtins.max(n - correction, 0)  # PyTorch's divisor (inf/nan when correction >= n); vjp: n - correction
    centred = x - _mean(x, axis, True, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.add.reduce(centred * centred, axis=axis, keepdims=keepdims) / dof


@var.defvjp
def _var_vjp(F, need, g, out, x, *, axis, keepdims=False, correction=0):
    n = _count(x.shape, axis)
    scale = 2.0 / (n - correction) if n != correction else np.inf
    return (_expand(F, g, x.shape, axis, keepdims) * scale * (x - F.mean(x, axis=axis, keepdims=True)),)


def _extreme(name: str, fn: Callable) -> Callable[..., Tensor]:
    def forward(x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False):
        empty = [a for a in axis if x.shape[a] == 0]
        if empty:
            raise ShapeError(f"{name}: cannot reduce an empty axis: axis {empty[0]} of size 0 (empty tensor of shape "
                             f"{x.shape})")
        return fn(x, axis=axis, keepdims=keepdims)
    forward.__name__ = name
    forward.__doc__ = f"{name.capitalize()} over ``axis``; ties share the gradient evenly."
    op = primitive(forward)

    @op.defvjp
    def vjp(F, need, g, out, x, *, axis, keepdims=False):
        v = np.asarray(x)
        hit = v == fn(v, axis=axis, keepdims=True)
        return (_expand(F, g, x.shape, axis, keepdims) * (hit / hit.sum(axis=axis, keepdims=True)).astype(v.dtype),)
    return op


max = _extreme("max", np.max)
"""The maximum over ``axis``; ties share the gradient evenly."""
min = _extreme("min", np.min)
"""The minimum over ``axis``; ties share the gradient evenly."""
