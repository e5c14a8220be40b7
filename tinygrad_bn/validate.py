"""The one place where axis, shape and flag arguments of the public API are checked.

Tensor methods, factories and composite functions call these before reaching a primitive, so a
bad argument raises a clear error naming the op, the argument and the tensor's shape, and the
primitives themselves (the per-op hot path) never re-check. A plain in-range ``int`` axis takes a
fast path.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np


class ShapeError(ValueError):
    """An op was given inputs whose shapes (or axes) do not fit together."""


class AxisError(ShapeError, IndexError):
    """An axis argument is out of range for the tensor (an IndexError too, as in PyTorch and numpy)."""


def _is_int(a: Any) -> bool:
    return isinstance(a, int | np.integer) and not isinstance(a, bool)


def _of(shape: tuple[int, ...] | None) -> str:
    return "" if shape is None else f" (tensor of shape {shape})"


def axis(op: str, a: Any, ndim: int, shape: tuple[int, ...], name: str = "axis") -> int:
    """One axis ``a`` of a tensor with ``ndim`` axes, as a non-negative int.

    Args:
        op: the op's name, for the message.
        a: the axis; negative counts from the end, as in numpy and PyTorch.
        ndim: how many axes it may pick from (``x.ndim + 1`` for ``unsqueeze`` and ``stack``).
        shape: the tensor's shape, for the message.
        name: the argument's name, for the message.

    Returns:
        The axis in ``[0, ndim)`` (0 for a 0-d tensor, which accepts -1 and 0 as in PyTorch).

    Raises:
        TypeError: ``a`` is not an int (a bool, float, string, ...).
        AxisError: ``a`` is out of range.
    """
    if type(a) is int and 0 <= a < ndim:  # the common case
        return a
    if not _is_int(a):
        raise TypeError(f"{op}: {name} must be an int, got {a!r} ({type(a).__name__}) (tensor of shape {shape})")
    n = max(ndim, 1)
    if not -n <= a < n:
        raise AxisError(f"{op}: {name} {a} is out of range for a tensor of shape {shape}; "
                        f"expected an axis in [{-n}, {n - 1}]")
    return int(a) % n



def axes(op: str, a: Any, shape: tuple[int, ...], name: str = "axis") -> tuple[int, ...]:
    """A reduction's ``axis`` argument as a sorted tuple of distinct non-negative axes.

    Args:
        op: the op's name, for the message.
        a: None (every axis), an int, or a tuple/list of ints.
        shape: the shape of the tensor being reduced.
        name: the argument's name, for the message.

    Returns:
        The axes, sorted (``()`` for a 0-d tensor).

    Raises:
        TypeError: ``a`` (or one of its items) is not an int.
        AxisError: an axis is out of range.
        ShapeError: an axis is repeated.
    """
    ndim = len(shape)
    if a is None:
        return tuple(range(ndim))
    if type(a) is int and 0 <= a < ndim:  # the common case
        return (a,)
    if _is_int(a):
        items: Sequence = (a,)
    elif isinstance(a, tuple | list):
        items = a
    else:
        raise TypeError(f"{op}: {name} must be an int, a tuple of ints or None, got {a!r} "
                        f"({type(a).__name__}){_of(shape)}")
    out = [axis(op, i, ndim, shape, name) for i in items]
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {name}={a!r}{_of(shape)}")
    return tuple(sorted(out)) if ndim else ()


def shape(op: str, sizes: tuple, infer: bool = False, of: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """A shape given as ints (``f(2, 3)``) or one sequence (``f((2, 3))``), checked.

    Args:
        op: the op's name, for the message.
        sizes: the positional arguments as received.
        infer: whether one size may be -1 (``reshape``).
        of: the shape of the tensor being reshaped, for the message.

    Returns:
        The shape as a tuple of Python ints.

    Raises:
        TypeError: a size is not an int (a float, bool, string, ...).
        ShapeError: a size is negative (other than one -1 when ``infer``).
    """
    if len(sizes) == 1 and isinstance(sizes[0], Sequence | np.ndarray) and not isinstance(sizes[0], str):
        sizes = tuple(sizes[0])
    minus = 0
    for s in sizes:
        if type(s) is not int and not _is_int(s):
            raise TypeError(f"{op}: sizes must be ints, got {s!r} ({type(s).__name__}) in shape {sizes}{_of(of)}")
        if s < 0:
            if s != -1 or not infer:
                raise ShapeError(f"{op}: negative size {s} in shape {sizes}{_of(of)}"
                                 + ("; only one -1 (inferred size) is allowed" if infer else ""))
            minus += 1
    if minus > 1:
        raise ShapeError(f"{op}: only one size can be -1 (inferred), got shape {sizes}{_of(of)}")
    return tuple(int(s) for s in sizes)


def flag(op: str, value: Any, name: str = "keepdims") -> bool:
    """A boolean argument: a bool (or numpy bool), else a TypeError naming it."""
    if type(value) is bool:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{op}: {name} must be a bool, got {value!r} ({type(value).__name__})")


def spelling(op: str, axis: Any, keepdims: bool, dim: Any, keepdim: bool | None) -> tuple[Any, bool]:
    """Resolve PyTorch's ``dim=``/``keepdim=`` spellings into numpy's ``axis=``/``keepdims=``.

    Raises:
        TypeError: both spellings of one argument were given.
    """
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; they are the same argument")
        axis = dim
    if keepdim is not None:
        if keepdims:
            raise TypeError(f"{op}: got both keepdims and keepdim; they are the same argument")
        keepdims = keepdim
    return axis, keepdims


def real(op: str, value: Any, name: str, low: float = 0.0, high: float = math.inf, *, low_open: bool = False,
         high_open: bool = False, finite: bool = True) -> float:
    """A real-number argument (a hyperparameter, a bound, a std) as a float, within ``[low, high]``.

    Args:
        op: the class or function named in the error, e.g. ``"SGD"``.
        value: the value given.
        name: the argument named in the error, e.g. ``"momentum"``.
        low: the lower bound.
        high: the upper bound.
        low_open: exclude ``low``.
        high_open: exclude ``high``.
        finite: refuse ±inf (nan is always refused).

    Raises:
        TypeError: ``value`` is not a real number (strings, None, bools, tensors).
        ValueError: ``value`` is nan, infinite (with ``finite``) or out of bounds.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    inside = (low < v if low_open else low <= v) and (v < high if high_open else v <= high)
    if not inside or math.isnan(v) or (finite and math.isinf(v)):
        lo = f"{'(' if low_open else '['}{low:g}" if low > -math.inf else "(-inf"
        hi = f"{high:g}{')' if high_open else ']'}" if high < math.inf else "inf)"
        kind = "finite number" if finite else "number"
        raise ValueError(f"{op}: invalid {name} {value!r}; expected a {kind} in {lo}, {hi}")
    return v


def integer(op: str, value: Any, name: str, low: int = 1) -> int:
    """An integer argument (a count, a period) ``>= low`` as an int; else a TypeError/ValueError naming it."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{op}: invalid {name} {value!r}; expected an integer >= {low}")
    return int(value)

