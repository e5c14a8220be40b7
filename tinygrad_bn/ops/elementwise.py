"""Elementwise primitives: arithmetic, comparisons' selection (``where``), the unary functions, casts."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backward import unbroadcast
from ..tensor import ShapeError
from .primitive import masked, primitive, zero


def _broadcast(name: str, fn: Callable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``fn(a, b)`` under numpy broadcasting; a ShapeError naming the shapes if they do not fit."""
    try:
        return fn(a, b)
    except ValueError:
        raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


# ----- elementwise binary -------------------------------------------------------------------

@primitive
def add(a: np.ndarray, b: np.ndarray):
    """``a + b`` under broadcasting."""
    return _broadcast("add", np.add, a, b)


@add.defvjp
def _add_vjp(F, need, g, out, a, b):
    return g, g


@primitive
def sub(a: np.ndarray, b: np.ndarray):
    """``a - b`` under broadcasting."""
    return _broadcast("sub", np.subtract, a, b)


@sub.defvjp
def _sub_vjp(F, need, g, out, a, b):
    return g, -unbroadcast(F, g, b.shape) if need[1] else None  # negate after summing a broadcast b


@primitive
def mul(a: np.ndarray, b: np.ndarray):
    """``a * b`` under broadcasting."""
    return _broadcast("mul", np.multiply, a, b)


@mul.defvjp
def _mul_vjp(F, need, g, out, a, b):
    return g * b if need[0] else None, g * a if need[1] else None


@primitive
def div(a: np.ndarray, b: np.ndarray):
    """``a / b`` under broadcasting (inf and nan as numpy gives them, without warnings)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _broadcast("div", np.divide, a, b)


@div.defvjp
def _div_vjp(F, need, g, out, a, b):
    ga = g / b
    return ga if need[0] else None, -unbroadcast(F, ga * out, b.shape) if need[1] else None


@primitive
def pow(x: np.ndarray, y: np.ndarray | None = None, *, exponent: float | None = None):
    """``x ** exponent`` (a number, stored as an attribute) or ``x ** y`` (a tensor)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if y is None:
            return x ** np.asarray(exponent, dtype=x.dtype)
        return _broadcast("pow", np.power, x, y)


@pow.defvjp
def _pow_vjp(F, need, g, out, x, y=None, *, exponent=None):
    if y is None:
        p = exponent
        return (masked(F, np.ones(g.shape, bool), g) if p == 0 else g if p == 1 else g * p * F.pow(x, exponent=p - 1),)
    # PyTorch's choices at 0 ** 0: no gradient through a zero exponent, none into it from a zero base
    xv, yv = np.asarray(x), np.asarray(y)
    gx = F.where(yv == 0, 0.0, g * y * F.pow(x, y - 1)) if need[0] else None
    gy = F.where((xv == 0) & (yv >= 0), 0.0, g * out * F.log(x)) if need[1] else None
    return gx, gy


@primitive
def maximum(a: np.ndarray, b: np.ndarray):
    """Elementwise maximum; at ties the gradient is split evenly."""
    return _broadcast("maximum", np.maximum, a, b)


@maximum.defvjp
def _maximum_vjp(F, need, g, out, a, b):
    return _pick(F, g, np.asarray(a), np.asarray(b), np.less)


@primitive
def minimum(a: np.ndarray, b: np.ndarray):
    """Elementwise minimum; at ties the gradient is split evenly."""
    return _broadcast("minimum", np.minimum, a, b)


@minimum.defvjp
def _minimum_vjp(F, need, g, out, a, b):
    return _pick(F, g, np.asarray(a), np.asarray(b), np.greater)


def _pick(F: Any, g: Any, a: np.ndarray, b: np.ndarray, loses: Callable) -> tuple[Any, Any]:
    """PyTorch's rule: the gradient goes to each operand that does not lose (halved at ties, whole for nan),
    selected with ``where`` so an inf or nan arriving for the losing operand gives it 0, not nan."""
    tie = a == b
    shared = F.where(tie, g * 0.5, g) if tie.any() else g
    return masked(F, loses(a, b), shared), masked(F, loses(b, a), shared)


@primitive
def where(cond: np.ndarray, a: np.ndarray, b: np.ndarray):
    """``a`` where ``cond`` else ``b``; ``cond`` gets no gradient."""
    try:
        return np.where(cond.astype(bool, copy=False), a, b)
    except ValueError:
        raise ShapeError(f"where: shapes {cond.shape} and {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None


@where.defvjp
def _where_vjp(F, need, g, out, cond, a, b):
    mask = np.asarray(cond).astype(bool, copy=False)
    return None, masked(F, ~mask, g) if need[1] else None, masked(F, mask, g) if need[2] else None


# ----- elementwise unary --------------------------------------------------------------------

@primitive
def neg(x: np.ndarray):
    """``-x``."""
    return -x


@neg.defvjp
def _neg_vjp(F, need, g, out, x):
    return (-g,)


@primitive
def exp(x: np.ndarray):
    """``e ** x``."""
    return np.exp(x)


@exp.defvjp
def _exp_vjp(F, need, g, out, x):
    return (g * out,)


@primitive
def log(x: np.ndarray):
    """The natural logarithm (``-inf`` at 0, nan below, without warnings)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x)


@log.defvjp
def _log_vjp(F, need, g, out, x):
    return (g / x,)


@primitive
def sqrt(x: np.ndarray):
    """The square root (nan below 0, without warnings)."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(x)


@sqrt.defvjp
def _sqrt_vjp(F, need, g, out, x):
    return (g / (out + out),)


@primitive
def relu(x: np.ndarray):
    """``max(x, 0)``; the gradient is 0 where ``x <= 0``."""
    return np.maximum(x, zero(x.dtype))


@relu.defvjp
def _relu_vjp(F, need, g, out, x):
    return (masked(F, np.asarray(x) <= zero(x.dtype), g),)


@primitive
def tanh(x: np.ndarray):
    """The hyperbolic tangent."""
    return np.tanh(x)


@tanh.defvjp
def _tanh_vjp(F, need, g, out, x):
    return (g * (1 - out * out),)


@primitive
def sigmoid(x: np.ndarray):
    """``1 / (1 + exp(-x))``, computed without overflow in both tails."""
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow, and full relative precision in both tails
    return (np.where(x >= 0, 1, e) / (1 + e)).astype(x.dtype, copy=False)


@sigmoid.defvjp
def _sigmoid_vjp(F, need, g, out, x):
    return (g * out * (1 - out),)


@primitive
def abs(x: np.ndarray):
    """``|x|``; the gradient is PyTorch's ``sgn`` (0 at 0)."""
    return np.abs(x)


@abs.defvjp
def _abs_vjp(F, need, g, out, x):
    x = np.asarray(x)  # PyTorch's sgn: 0 at 0 and at nan
    return (g * ((x > 0).astype(x.dtype) - (x < 0)),)


@primitive
def clip(x: np.ndarray, *, min: float | None = None, max: float | None = None):
    """Limit to [min, max]; the gradient passes where min <= x <= max."""
    return np.clip(x, -np.inf if min is None else min, np.inf if max is None else max).astype(x.dtype, copy=False)


@clip.defvjp
def _clip_vjp(F, need, g, out, x, *, min=None, max=None):
    v = np.asarray(x)  # the in-range mask: no gradient at nan, as PyTorch
    return (masked(F, ~((v >= (-np.inf if min is None else min)) & (v <= (np.inf if max is None else max))), g),)


@primitive
def astype(x: np.ndarray, *, dtype: np.dtype):
    """``x`` cast to ``dtype``; the gradient is cast back."""
    return x.astype(dtype)


@astype.defvjp
def _astype_vjp(F, need, g, out, x, *, dtype):
    return (g.astype(x.dtype),)


@primitive
def clone(x: np.ndarray):
    """A copy of ``x`` with its own memory; the gradient passes unchanged."""
    return x.copy()


@clone.defvjp
def _clone_vjp(F, need, g, out, x):
    return (g,)


@primitive
def logsigmoid(x: np.ndarray):
    """``log(sigmoid(x)) = -log(1 + exp(-x))``, finite and exact in both tails."""
    return -np.logaddexp(0, -x)


@logsigmoid.defvjp
def _logsigmoid_vjp(F, need, g, out, x):
    return (g * F.sigmoid(-x),)


@primitive
def softplus(x: np.ndarray, *, beta: float = 1.0, threshold: float = 20.0):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold`` (PyTorch's rule)."""
    bx = x * beta
    return np.where(bx > threshold, x, np.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)


@softplus.defvjp
def _softplus_vjp(F, need, g, out, x, *, beta=1.0, threshold=20.0):
    return (g * F.where(np.asarray(x) * beta > threshold, 1.0, F.sigmoid(x * beta)),)


@primitive
def erf(x: np.ndarray):
    """The error function (scipy's); its derivative is ``2/sqrt(pi) * exp(-x**2)``."""
    from scipy.special import erf as _erf
    return _erf(x).astype(x.dtype, copy=False)


@erf.defvjp
def _erf_vjp(F, need, g, out, x):
    return (g * (2 / math.sqrt(math.pi)) * F.exp(-(x * x)),)
