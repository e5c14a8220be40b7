"""Composite functions written with primitive ops only, so autodiff gives their gradients.

Losses (softmax, log_softmax, cross_entropy, mse, binary_cross_entropy_with_logits), normalizations
(batch_norm, layer_norm) and dropout. None of them has a hand-written backward (logsigmoid and softplus
are thin wrappers of the primitives of those names). Each opens a function scope named after itself
(``autograd.scope``), so the graph can box and collapse it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import ops, validate
from ..autograd import constant, effect, scope
from ..tensor import Tensor, where
from ..tensor import generator as _generator


def _tensor(x: Any) -> Tensor:
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
    x = _tensor(x)
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
    x = _tensor(x)
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
    return _tensor(x).relu()


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))`` elementwise.

    Args:
        x: a Tensor (or array) of any shape.

    Returns:
        A Tensor of ``x``'s shape.
    """
    return _tensor(x).sigmoid()


def tanh(x: Tensor) -> Tensor:
    """The hyperbolic tangent, elementwise.

    Args:
        x: a Tensor (or array) of any shape.

    Returns:
        A Tensor of ``x``'s shape.
    """
    return _tensor(x).tanh()


@scope("leaky_relu")
def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, else ``negative_slope * x``.

    Args:
        x: a Tensor (or array) of any shape.
        negative_slope: the slope for negative inputs.

    Returns:
        A Tensor of ``x``'s shape.
    """
    x = _tensor(x)
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
    x = _tensor(x)
    return where(constant(_positive, x), x, (x.minimum(0.0).exp() - 1) * alpha)


@scope("silu")
def silu(x: Tensor) -> Tensor:
    """``x * sigmoid(x)`` (also called swish).

    Args:
        x: a Tensor (or array) of any shape.

    Returns:
        A Tensor of ``x``'s shape.
    """
    x = _tensor(x)
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
    x = _tensor(x)
    if approximate == "tanh":
        return x * 0.5 * (1 + ((x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)).tanh())
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return x * 0.5 * (1 + ops.erf(x * (1 / math.sqrt(2))))


@scope("mse")
def mse(x: Tensor, target: Any) -> Tensor:
    """Mean squared error.

    Args:
        x: the predictions, any shape.
        target: the targets (Tensor or array), of ``x``'s shape.

    Returns:
        A scalar Tensor.

    Raises:
        ShapeError: the shapes differ.
    """
    return squared_error("mse", x, target).mean()


def logsigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x))``, finite and exact in both tails (the primitive ``logsigmoid``).

    Args:
        x: a Tensor (or array) of any shape.

    Returns:
        A Tensor of ``x``'s shape.
    """
    return ops.logsigmoid(_tensor(x))


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
    return ops.softplus(_tensor(x), beta=float(beta), threshold=float(threshold))


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
    x = _tensor(logits)
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


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    """``y * weight + bias`` with per-channel (C,) parameters broadcast along axis 1 of ``shape``."""
    if weight is not None:
        y = y * (weight if len(shape) == 2 else weight.reshape(shape))
    if bias is not None:
        y = y + (bias if len(shape) == 2 else bias.reshape(shape))
    return y


def normalize(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """Normalize ``x`` with its own mean and biased variance over ``axes``: ``(x_hat, mean, var)``.

    Written as ``sub(x, mean)`` and ``div(..., sqrt(var + eps))`` so the graph shows where the batch
    statistics enter: additively, then multiplicatively.

    Args:
        x: any shape.
        axes: the axes the statistics are taken over.
        eps: added to the variance.

    Returns:
        ``(x_hat, mean, var)``: ``x_hat`` of ``x``'s shape, the statistics with ``axes`` kept as size 1.
    """
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / (var + eps).sqrt(), mean, var


def update_running(running: Tensor, stat: np.ndarray, factor: float) -> None:
    """``running = (1 - factor) * running + factor * stat``, in place on the array (outside the graph).

    Args:
        running: the running statistic (a buffer).
        stat: the new value, with ``running``'s number of elements (any shape).
        factor: the weight of ``stat``, in [0, 1].
    """
    running.data *= 1 - factor
    running.data += factor * stat.reshape(running.shape)


def batch_statistics(name: str, x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor, int]:
    """:func:`normalize` over ``axes`` after checking they hold more than one value: ``(x_hat, mean, var, n)``.

    The one implementation of the batch statistics behind BatchNorm, GhostBatchNorm and InstanceNorm.

    Args:
        name: the layer or function named in the error.
        x: any shape.
        axes: the axes the statistics are taken over.
        eps: added to the variance.

    Returns:
        ``(x_hat, mean, var, n)`` as :func:`normalize`, and ``n``, the number of values per statistic.

    Raises:
        ValueError: ``axes`` hold a single value per channel (PyTorch's message, prefixed by ``name``).
    """
    n = math.prod(x.shape[a] for a in axes)
    if n <= 1:
        raise ValueError(f"{name}: Expected more than 1 value per channel when training, got input size {x.shape}")
    return (*normalize(x, axes, eps), n)


def update_running_stats(running_mean: Tensor, running_var: Tensor, mean: np.ndarray, var: np.ndarray, n: int,
                         factor: float | Callable[[], float]) -> None:
    """Move the running mean towards ``mean`` and the running variance towards the unbiased ``var * n / (n - 1)``.

    The one running-average update of BatchNorm, GhostBatchNorm and InstanceNorm (in place, outside the
    graph; the normalizers call it through :func:`~tinygrad_bn.autograd.effect`, so a jit replays it).

    Args:
        running_mean: (C,) buffer.
        running_var: (C,) buffer.
        mean: the batch mean, C values (any shape).
        var: the batch's biased variance, C values (any shape).
        n: how many values each statistic was computed from.
        factor: the momentum of this update, or a function returning it (called once, when the update runs).
    """
    factor = factor() if callable(factor) else factor
    update_running(running_mean, mean, factor)
    update_running(running_var, var * (n / (n - 1)), factor)


def normalize_running(x: Tensor, running_mean: Tensor, running_var: Tensor, eps: float,
                      shape: tuple[int, ...]) -> Tensor:
    """``(x - running_mean) / sqrt(running_var + eps)``, the statistics reshaped to ``shape``: what BatchNorm and
    InstanceNorm do with running statistics. The statistics are constants of the graph (no gradient), made
    with :func:`~tinygrad_bn.autograd.constant`, so a jit replay reads the buffers' values of each call.

    Args:
        x: the input.
        running_mean: (C,) buffer.
        running_var: (C,) buffer.
        eps: added to the variance.
        shape: the shape the (C,) statistics broadcast with ``x`` in, e.g. (1, C, 1, 1).

    Returns:
        A Tensor of ``x``'s shape.
    """
    mean = constant(functools.partial(np.reshape, shape=shape), running_mean)
    std = constant(functools.partial(_std, eps, shape), running_var)
    return (x - mean) / std


def _std(eps: float, shape: tuple[int, ...], var: np.ndarray) -> np.ndarray:
    return np.sqrt(var + eps).reshape(shape)


@scope("batch_norm")
def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float | Callable[[], float] = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization over every axis but the channel axis 1, PyTorch's semantics.

    With ``training`` (or without running statistics) ``x`` is normalized with its batch mean and
    biased variance, and the running statistics, when given, move towards the batch mean and the
    unbiased variance by ``momentum``; otherwise the running statistics normalize.

    Args:
        x: input of shape (N, C, ...).
        running_mean: (C,) buffer, or None.
        running_var: (C,) buffer, or None.
        weight: optional (C,) scale.
        bias: optional (C,) shift.
        training: normalize with the batch statistics and update the running ones.
        momentum: the running-average factor, or a function returning it when the update runs.
        eps: added to the variance.

    Returns:
        A Tensor of ``x``'s shape.

    Raises:
        ValueError: ``x`` has fewer than 2 axes, a (C,) argument has another shape, or the batch statistics
            would rest on a single value per channel.
    """
    x = _tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got {x.shape}")
    shape = _channel_shape(x)
    for what, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (x.shape[1],):
            raise ValueError(f"batch_norm: {what} has shape {t.shape} but the input of shape {x.shape} has "
                             f"{x.shape[1]} channels (axis 1)")
    axes = (0,) + tuple(range(2, x.ndim))
    if training or running_mean is None or running_var is None:
        y, mean, var, n = batch_statistics("batch_norm", x, axes, eps)
        if training and running_mean is not None and running_var is not None:
            effect(functools.partial(update_running_stats, running_mean, running_var, n=n, factor=momentum), mean, var)
    else:
        y = normalize_running(x, running_mean, running_var, eps, shape)
    return _affine(y, weight, bias, shape)


@scope("layer_norm")
def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each sample over its last ``len(normalized_shape)`` axes (no batch statistics).

    Args:
        x: input of shape (..., *normalized_shape).
        normalized_shape: the shape of the last axes, an int for one axis.
        weight: optional scale of shape ``normalized_shape``.
        bias: optional shift of shape ``normalized_shape``.
        eps: added to the variance.

    Returns:
        A Tensor of ``x``'s shape.

    Raises:
        ValueError: ``x``'s shape does not end with ``normalized_shape``.
    """
    x = _tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[max(x.ndim - len(shape), 0):] != shape:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end with normalized_shape {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    y, _, _ = normalize(x, axes, eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


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
    x = _tensor(x)
    p = validate.real("dropout", p, "p", 0.0, 1.0)
    if not training or p == 0:
        return x
    mask = ops.bernoulli(p=1 - p, shape=x.shape, dtype=x.dtype, generator=_generator(generator))
    y = x * mask
    return y if p == 1 else y * (1 / (1 - p))


from .conv import conv1d, conv2d  # noqa: E402, F401  (re-exported: they live beside their layers)
from .embedding import embedding  # noqa: E402, F401
from .losses import cross_entropy, mse_loss, nll_loss, squared_error  # noqa: E402, F401
from .norms import group_norm, instance_norm  # noqa: E402, F401
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: E402, F401
