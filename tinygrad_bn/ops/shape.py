"""Primitives that move entries without arithmetic: reshape, transpose, broadcast, index, join, pad."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import ShapeError
from .primitive import primitive


@primitive
def reshape(x: np.ndarray, *, shape: tuple[int, ...]):
    """``x`` with a new shape of the same number of elements."""
    try:
        return x.reshape(shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape shape {x.shape} ({x.size} elements) to {shape}") from None


@reshape.defvjp
def _reshape_vjp(F, need, g, out, x, *, shape):
    return (F.reshape(g, shape=x.shape),)


@primitive
def transpose(x: np.ndarray, *, axes: tuple[int, ...]):
    """Permute axes: output axis i is input axis ``axes[i]``."""
    return x.transpose(axes)


@transpose.defvjp
def _transpose_vjp(F, need, g, out, x, *, axes):
    return (F.transpose(g, axes=tuple(sorted(range(len(axes)), key=axes.__getitem__))),)


@primitive
def broadcast_to(x: np.ndarray, *, shape: tuple[int, ...]):
    """Broadcast to ``shape``; the engine's ``unbroadcast`` sums the gradient back."""
    try:
        return np.broadcast_to(x, shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None


@broadcast_to.defvjp
def _broadcast_to_vjp(F, need, g, out, x, *, shape):
    return (g,)


@primitive
def getitem(x: np.ndarray, *, index: Any):
    """Basic and integer-array indexing; the gradient is scattered back with ``np.add.at``."""
    return x[index]


@getitem.defvjp
def _getitem_vjp(F, need, g, out, x, *, index):
    return (F.scatter_add(g, index=index, shape=x.shape),)


@primitive
def scatter_add(g: np.ndarray, *, index: Any, shape: tuple[int, ...]):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated positions add up)."""
    data = np.zeros(shape, dtype=g.dtype)
    np.add.at(data, index, g)
    return data


@scatter_add.defvjp
def _scatter_add_vjp(F, need, gg, out, g, *, index, shape):
    return (F.getitem(gg, index=index),)


@primitive
def concatenate(*xs: np.ndarray, axis: int = 0):
    """Join along the existing ``axis``."""
    return np.concatenate(xs, axis=axis)


@concatenate.defvjp
def _concatenate_vjp(F, need, g, out, *xs, axis=0):
    edges = np.cumsum([0] + [x.shape[axis] for x in xs])
    cut = (slice(None),) * axis
    return tuple(g[(*cut, slice(lo, hi))] for lo, hi in zip(edges[:-1], edges[1:]))


@primitive
def stack(*xs: np.ndarray, axis: int = 0):
    """Join along a new ``axis``."""
    return np.stack(xs, axis=axis)


@stack.defvjp
def _stack_vjp(F, need, g, out, *xs, axis=0):
    return tuple(g[(slice(None),) * axis + (i,)] for i in range(len(xs)))


@primitive
def pad(x: np.ndarray, *, widths: tuple[tuple[int, int], ...], value: float = 0.0):
    """Constant padding: ``widths[i] = (before, after)`` entries of ``value`` around axis i."""
    data = np.full(tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths)), value, dtype=x.dtype)
    data[_inner(x.shape, widths)] = x
    return data


@pad.defvjp
def _pad_vjp(F, need, g, out, x, *, widths, value=0.0):
    return (g[_inner(x.shape, widths)],)


def _inner(shape: tuple[int, ...], widths: tuple[tuple[int, int], ...]) -> tuple[slice, ...]:
    return tuple(slice(lo, lo + n) for n, (lo, _) in zip(shape, widths))
