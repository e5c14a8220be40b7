"""Hyperparameter checks shared by the optimizers and schedulers: each error names the class and the argument."""

from __future__ import annotations

import math
import numbers
from typing import Any


def real(owner: str, name: str, value: Any, low: float = 0.0, high: float = math.inf, *,
         low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it is a finite real number within the bounds.

    Args:
        owner: the class named in the error, e.g. ``"SGD"``.
        name: the argument named in the error, e.g. ``"momentum"``.
        value: the value given.
        low: the lower bound.
        high: the upper bound.
        low_open: exclude ``low``.
        high_open: exclude ``high``.

    Raises:
        TypeError: ``value`` is not a real number (strings, None, bools, tensors).
        ValueError: ``value`` is nan, infinite or out of bounds.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not (math.isfinite(v) and (low < v if low_open else low <= v) and (v < high if high_open else v <= high)):
        lo = f"{'(' if low_open else '['}{low:g}" if low > -math.inf else "(-inf"
        hi = f"{high:g}{')' if high_open else ']'}" if high < math.inf else "inf)"
        raise ValueError(f"{owner}: invalid {name} {value!r}; expected a finite number in {lo}, {hi}")
    return v


def integer(owner: str, name: str, value: Any, low: int = 1) -> int:
    """``value`` as an int if it is an integer (not a bool) ``>= low``; else a TypeError/ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{owner}: invalid {name} {value!r}; expected an integer >= {low}")
    return int(value)


def flag(owner: str, name: str, value: Any) -> bool:
    """``value`` if it is a bool; else a TypeError naming the argument."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r} ({type(value).__name__})")
    return value
