"""The normalizations as functions: the shared normalize step, batch statistics and their running averages,
:func:`batch_norm`, :func:`batch_renorm` and :func:`layer_norm` (group and instance norm beside their layers in
``norms``)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..graph import scope
from ..ops.composites import as_tensor
from ..tape import effect
from ..tensor import Tensor, constant


def channel_shape(x: Tensor) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> Tensor:
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
    var = x.var(axis=axes, keepdims=True, correction=0)
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
    update_running_pair(running_mean, running_var, mean, var * (n / (n - 1)), factor)


def update_running_pair(running_mean: Tensor, running_spread: Tensor, mean: np.ndarray, spread: np.ndarray,
                        factor: float | Callable[[], float]) -> None:
    """Move both running statistics towards the batch's by one ``factor`` (a number, or a function returning it,
    called once): the update behind :func:`update_running_stats` (the spread a variance) and Batch
    Renormalization's (the spread a standard deviation)."""
    factor = factor() if callable(factor) else factor
    update_running(running_mean, mean, factor)
    update_running(running_spread, spread, factor)


def normalize_running(x: Tensor, running_mean: Tensor, running_var: Tensor, eps: float,
                      shape: tuple[int, ...]) -> Tensor:
    """``(x - running_mean) / sqrt(running_var + eps)``, the statistics reshaped to ``shape``: what BatchNorm and
    InstanceNorm do with running statistics. The buffers themselves are inputs of the graph (so ``viz`` shows
    them as buffers, and a jit replay reads their values at each call); no gradient flows into them.

    Args:
        x: the input.
        running_mean: (C,) buffer.
        running_var: (C,) buffer.
        eps: added to the variance.
        shape: the shape the (C,) statistics broadcast with ``x`` in, e.g. (1, C, 1, 1).

    Returns:
        A Tensor of ``x``'s shape.
    """
    mean, var = frozen(running_mean, running_var)
    return (x - mean.reshape(shape)) / (var.reshape(shape) + eps).sqrt()


def frozen(*buffers: Tensor) -> tuple[Tensor, ...]:
    """The buffers as graph inputs no gradient flows into (detached if one requires grad)."""
    return tuple(t.detach() if t.requires_grad else t for t in buffers)


def checked_channels(name: str, x: Tensor, **per_channel: Tensor | None) -> tuple[Tensor, tuple[int, ...],
                                                                                  tuple[int, ...]]:
    """``x`` as a Tensor of shape (N, C, ...) whose (C,) arguments fit: ``(x, channel shape, batch axes)``.

    Raises:
        ValueError: ``x`` has fewer than 2 axes, or an argument of ``per_channel`` (by name) is not (C,).
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{name}: expected an input of shape (N, C, ...), got {x.shape}")
    for what, t in per_channel.items():
        if t is not None and t.shape != (x.shape[1],):
            raise ValueError(f"{name}: {what} has shape {t.shape} but the input of shape {x.shape} has "
                             f"{x.shape[1]} channels (axis 1)")
    return x, channel_shape(x), (0,) + tuple(range(2, x.ndim))


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
    x, shape, axes = checked_channels("batch_norm", x, running_mean=running_mean, running_var=running_var,
                                      weight=weight, bias=bias)
    if training or running_mean is None or running_var is None:
        y, mean, var, n = batch_statistics("batch_norm", x, axes, eps)
        if training and running_mean is not None and running_var is not None:
            effect(functools.partial(update_running_stats, running_mean, running_var, n=n, factor=momentum), mean, var)
    else:
        y = normalize_running(x, running_mean, running_var, eps, shape)
    return affine(y, weight, bias, shape)


def renorm_r(var: np.ndarray, running_std: np.ndarray, *, eps: float, r_max: float) -> np.ndarray:
    """Batch Renormalization's ``r = clip(sigma_B / sigma, 1 / r_max, r_max)``, ``sigma_B = sqrt(var + eps)``."""
    r = np.sqrt(var + eps) / running_std.reshape(var.shape)
    return np.clip(r, 1 / r_max, r_max).astype(var.dtype, copy=False)


def renorm_d(mean: np.ndarray, running_mean: np.ndarray, running_std: np.ndarray, *, d_max: float) -> np.ndarray:
    """Batch Renormalization's ``d = clip((mu_B - mu) / sigma, -d_max, d_max)``."""
    d = (mean - running_mean.reshape(mean.shape)) / running_std.reshape(mean.shape)
    return np.clip(d, -d_max, d_max).astype(mean.dtype, copy=False)


def update_renorm_stats(running_mean: Tensor, running_std: Tensor, mean: np.ndarray, var: np.ndarray, *, eps: float,
                        factor: float | Callable[[], float]) -> None:
    """Ioffe's running averages: ``mu += factor * (mu_B - mu)``, ``sigma += factor * (sigma_B - sigma)`` with
    ``sigma_B = sqrt(var + eps)`` (a moving average of the standard deviation, not of the variance)."""
    update_running_pair(running_mean, running_std, mean, np.sqrt(var + eps), factor)


@scope("batch_renorm")
def batch_renorm(x: Tensor, running_mean: Tensor, running_std: Tensor, weight: Tensor | None = None,
                 bias: Tensor | None = None, training: bool = False, momentum: float | Callable[[], float] = 0.1,
                 eps: float = 1e-5, r_max: float = 3.0, d_max: float = 5.0) -> Tensor:
    """Batch Renormalization (Ioffe 2017, Algorithm 1) over every axis but the channel axis 1.

    In training, with the batch's mean ``mu_B`` and ``sigma_B = sqrt(var_B + eps)`` and the running ``mu`` and
    ``sigma`` as they were before this batch::

        r = clip(sigma_B / sigma, 1 / r_max, r_max)      d = clip((mu_B - mu) / sigma, -d_max, d_max)
        y = weight * ((x - mu_B) / sigma_B * r + d) + bias

    ``r`` and ``d`` are constants (no gradient flows through them), so the gradient is BatchNorm's scaled by
    ``r``; then ``mu`` and ``sigma`` move towards ``mu_B`` and ``sigma_B`` by ``momentum``. In eval,
    ``y = weight * (x - mu) / sigma + bias``. With ``r_max = 1`` and ``d_max = 0`` training is BatchNorm's.

    Args:
        x: input of shape (N, C, ...).
        running_mean: (C,) buffer ``mu``.
        running_std: (C,) buffer ``sigma`` (positive).
        weight: optional (C,) scale.
        bias: optional (C,) shift.
        training: renormalize the batch and update the running statistics; otherwise use them.
        momentum: the running-average factor (the paper's alpha), or a function returning it when the update runs.
        eps: added to the batch variance.
        r_max: the bound of ``r`` (>= 1).
        d_max: the bound of ``|d|`` (>= 0).

    Returns:
        A Tensor of ``x``'s shape.

    Raises:
        ValueError: ``x`` has fewer than 2 axes, a (C,) argument has another shape, or the batch statistics
            would rest on a single value per channel.
    """
    x, shape, axes = checked_channels("batch_renorm", x, running_mean=running_mean, running_std=running_std,
                                      weight=weight, bias=bias)
    if not training:
        mean, std = frozen(running_mean, running_std)
        return affine((x - mean.reshape(shape)) / std.reshape(shape), weight, bias, shape)
    y, mean, var, _ = batch_statistics("batch_renorm", x, axes, eps)
    r = constant(functools.partial(renorm_r, eps=eps, r_max=r_max), var, running_std, name="r")
    d = constant(functools.partial(renorm_d, d_max=d_max), mean, running_mean, running_std, name="d")
    effect(functools.partial(update_renorm_stats, running_mean, running_std, eps=eps, factor=momentum), mean, var)
    return affine(y * r + d, weight, bias, shape)


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
    x = as_tensor(x)
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
