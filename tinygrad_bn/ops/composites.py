"""Composite functions: plain functions of primitives, so autodiff gives their gradients.

softmax and log_softmax, the activations, logsigmoid and softplus (thin wrappers of their primitives),
binary cross-entropy with logits, and dropout. None has a hand-written backward; each scoped one
opens a function scope named after itself (:class:`~tinygrad_bn.scope`), so the graph can box and collapse it.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .. import validate
from ..graph import scope
from ..tensor import Tensor, as_generator, constant, where
from . import elementwise, random


def as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _row_max(x: Tensor, axis: int) -> Tensor:
    """The maximum along ``axis`` as a named constant: the stability shift cancels in the result."""
    return constant(functools.partial(np.maximum.reduce, axis=axis, keepdims=True, initial=-np.inf), x,
                    name="max (constant shift)")


def _positive(a: np.ndarray) -> np.ndarray:
    return a > 0


@scope("log_softmax")
def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """``x - logsumexp(x)`` along ``axis``, shifted by the (constant) maximum for stability.

    Args:
        x: a Tensor (or array) of any shape.
        axis: the axis over which the probabilities sum to 1.
        dim: PyTorch's name for ``axis``.

    Returns:
        A Tensor of ``x``'s shape.
    """
    x = as_tensor(x)
    axis = validate.axis("log_softmax", axis if dim is None else dim, x.ndim, x.shape)
    shifted = x - _row_max(x, axis)
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


@scope("softmax")
def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis``, shifted by the (constant) maximum for stability.

    Args:
        x: a Tensor (or array) of any shape.
        axis: the axis that sums to 1.
        dim: PyTorch's name for ``axis``.

    Returns:
        A Tensor of ``x``'s shape.
    """
    x = as_tensor(x)
    axis = validate.axis("softmax", axis if dim is None else dim, x.ndim, x.shape)
    e = (x - _row_max(x, axis)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)`` elementwise.

    Args:
        x: a Tensor (or array) of any shape.

    Returns:
        A Tensor of ``x``'s shape.
    """
    return as_tensor(x).relu()


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))`` elementwise.

    Args:
        x: a Tensor (or array) of any shape.

    Returns:
        A Tensor of ``x``'s shape.
    """
    return as_tensor(x).sigmoid()


def tanh(x: Tensor) -> Tensor:
    """The hyperbolic tangent, elementwise.

    Args:
        x: a Tensor (or array) of any shape.

    Returns:
        A Tensor of ``x``'s shape.
    """
    return as_tensor(x).tanh()


@scope("leaky_relu")
def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, else ``negative_slope * x``.

    Args:
        x: a Tensor (or array) of any shape.
        negative_slope: the slope for negative inputs.

    Returns:
        A Tensor of ``x``'s shape.
    """
    x = as_tensor(x)
    return where(constant(_positive, x), x, x * negative_slope)


@scope("elu")
def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """``x`` where positive, else ``alpha * (exp(x) - 1)``.

    Args:
        x: a Tensor (or array) of any shape.
        alpha: the value approached for very negative inputs is ``-alpha``.

    Returns:
        A Tensor of ``x``'s shape.
    """
    x = as_tensor(x)
    return where(constant(_positive, x), x, (x.minimum(0.0).exp() - 1) * alpha)


@scope("silu")
def silu(x: Tensor) -> Tensor:
    """``x * sigmoid(x)`` (also called swish).

    Args:
        x: a Tensor (or array) of any shape.

    Returns:
        A Tensor of ``x``'s shape.
    """
    x = as_tensor(x)
    return x * x.sigmoid()


@scope("gelu")
def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """The Gaussian error linear unit ``x * Phi(x)``; ``approximate="tanh"`` uses PyTorch's tanh formula.

    Args:
        x: input, any shape.
        approximate: "none" (exact, with ``erf``) or "tanh".

    Returns:
        A Tensor of ``x``'s shape.

    Raises:
        ValueError: another ``approximate``.
    """
    x = as_tensor(x)
    if approximate == "tanh":
        return x * 0.5 * (1 + ((x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)).tanh())
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return x * 0.5 * (1 + elementwise.erf(x * (1 / math.sqrt(2))))


def logsigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x))``, finite and exact in both tails (the primitive ``logsigmoid``).

    Args:
        x: a Tensor (or array) of any shape.

    Returns:
        A Tensor of ``x``'s shape.
    """
    return elementwise.logsigmoid(as_tensor(x))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold`` (PyTorch's softplus).

    Args:
        x: any shape.
        beta: the sharpness, a positive number.
        threshold: above ``beta * x > threshold`` the result is ``x`` itself.

    Returns:
        A Tensor of ``x``'s shape.

    Raises:
        ValueError: ``beta`` is not positive.
    """
    if not beta > 0:
        raise ValueError(f"softplus: beta must be a positive number, got {beta!r}")
    return elementwise.softplus(as_tensor(x), beta=float(beta), threshold=float(threshold))


@scope("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(logits: Tensor, target: Any, weight: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of ``sigmoid(logits)`` against ``target`` in [0, 1], computed stably from the logits.

    ``loss = -(pos_weight * target * logsigmoid(x) + (1 - target) * logsigmoid(-x))``, written as
    ``(1 - target) * x - (1 + (pos_weight - 1) * target) * logsigmoid(x)`` (finite for any logit).

    Args:
        logits: any shape.
        target: probabilities of the shape of ``logits``.
        weight: optional rescaling of each element's loss, broadcastable to ``logits``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        pos_weight: optional weight of the positive term, broadcastable to ``logits`` (e.g. one per class).

    Returns:
        A scalar for ``"mean"``/``"sum"``, else the elementwise loss of the shape of ``logits``.

    Raises:
        ValueError: the target's shape differs from the logits', or ``reduction`` is unknown.
    """
    x = as_tensor(logits)
    t = target if isinstance(target, Tensor) else Tensor(np.asarray(target), dtype=x.dtype)
    if t.shape != x.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: target has shape {t.shape} but logits have shape "
                         f"{x.shape}; they must be the same")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"binary_cross_entropy_with_logits: reduction must be 'mean', 'sum' or 'none', "
                         f"got {reduction!r}")
    log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
    loss = (1 - t) * x - log_weight * x.logsigmoid()
    if weight is not None:
        loss = loss * weight
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


@scope("dropout")
def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            generator: np.random.Generator | int | None = None) -> Tensor:
    """Inverted dropout: zero each entry with probability ``p``, scale survivors by ``1/(1-p)``.

    The 0/1 mask comes from the random primitive ``bernoulli``, so the graph records it as a
    random source multiplying the signal. Identity when not training or ``p == 0``.

    Args:
        x: a Tensor (or array) of any shape.
        p: the probability of zeroing an entry, in [0, 1].
        training: False returns ``x`` unchanged.
        generator: a seed or numpy Generator for the mask (None: the library's generator).

    Returns:
        A Tensor of ``x``'s shape.
    """
    x = as_tensor(x)
    p = validate.real("dropout", p, "p", 0.0, 1.0)
    if not training or p == 0:
        return x
    mask = random.bernoulli(p=1 - p, shape=x.shape, dtype=x.dtype, generator=as_generator(generator))
    y = x * mask
    return y if p == 1 else y * (1 / (1 - p))


def one_hot(labels: Tensor | Any, num_classes: int = -1) -> Tensor:
    """Integer labels as one-hot rows, as ``torch.nn.functional.one_hot``: int64 of ``labels.shape + (C,)``.

    Args:
        labels: non-negative integer class indices, any shape.
        num_classes: C; -1 takes the largest label plus one.

    Returns:
        An int64 Tensor (no gradient flows through it; a jit recomputes it from each call's labels).

    Raises:
        TypeError: the labels are not integers.
        ValueError: a label is negative or not below ``num_classes``.
    """
    labels = as_tensor(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got {labels.dtype}")
    flat = labels.data.reshape(-1)
    if flat.size and flat.min() < 0:
        raise ValueError(f"one_hot: labels must be non-negative, got {int(flat.min())}")
    c = int(flat.max()) + 1 if num_classes == -1 and flat.size else num_classes
    if num_classes == -1 and not flat.size:
        raise ValueError("one_hot: cannot infer num_classes from empty labels; pass num_classes")
    if flat.size and flat.max() >= c:
        raise ValueError(f"one_hot: label {int(flat.max())} is out of range for num_classes={c}")
    return constant(functools.partial(_one_hot, c), labels, name=f"one_hot({c})")


def _one_hot(c: int, y: np.ndarray) -> np.ndarray:
    return (y[..., None] == np.arange(c)).astype(np.int64)
