"""GroupNorm and InstanceNorm1d/2d, composed from primitive ops: statistics per sample, never across the batch."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..graph import scope
from ..ops.composites import as_tensor
from ..tape import effect
from ..tensor import ShapeError, Tensor, get_default_dtype
from .batchnorm import _BatchNorm
from .module import Module, Parameter
from .normalization import affine, batch_statistics, channel_shape, normalize, normalize_running, update_running_stats


@scope("group_norm")
def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize each sample's channels in ``num_groups`` groups, over the group's channels and all positions.

    Args:
        x: input of shape (N, C, ...), C divisible by ``num_groups``.
        num_groups: how many groups the C channels are split into.
        weight: optional per-channel (C,) scale.
        bias: optional per-channel (C,) shift.
        eps: added to the variance.

    Returns:
        The normalized input, shape of ``x``.

    Raises:
        ShapeError: ``x`` has fewer than 2 axes, or its channels are not divisible by ``num_groups``.
    """
    x = as_tensor(x)
    if x.ndim < 2 or num_groups < 1 or x.shape[1] % num_groups:
        raise ShapeError(f"group_norm: expected an input (N, C, ...) with C divisible by num_groups={num_groups}, "
                         f"got shape {x.shape}")
    y, _, _ = normalize(x.reshape(x.shape[0], num_groups, -1), (2,), eps)
    return affine(y.reshape(x.shape), weight, bias, channel_shape(x))


@scope("instance_norm")
def instance_norm(x: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each (sample, channel) of (N, C, ...) over its positions, PyTorch's semantics.

    Args:
        x: input of shape (N, C, ...) with at least one position axis.
        running_mean: optional (C,) buffer; with ``use_input_stats`` it moves towards the batch average of the
            instance means by ``momentum``, otherwise it normalizes.
        running_var: optional (C,) buffer, likewise for the unbiased instance variances.
        weight: optional (C,) scale.
        bias: optional (C,) shift.
        use_input_stats: normalize with each instance's own statistics (True) or the running ones.
        momentum: the running-average factor.
        eps: added to the variance.

    Returns:
        The normalized input, shape of ``x``.

    Raises:
        ShapeError: ``x`` has no positions (fewer than 3 axes).
    """
    x = as_tensor(x)
    if x.ndim < 3:
        raise ShapeError(f"instance_norm: expected an input of shape (N, C, ...) with positions, got {x.shape}")
    shape = channel_shape(x)
    if use_input_stats or running_mean is None or running_var is None:
        y, mean, var, n = batch_statistics("instance_norm", x, tuple(range(2, x.ndim)), eps)
        if use_input_stats and running_mean is not None and running_var is not None:
            c = x.shape[1]

            def track(m: np.ndarray, v: np.ndarray) -> None:  # the instances' statistics, averaged
                update_running_stats(running_mean, running_var, m.reshape(-1, c).mean(axis=0),
                                       v.reshape(-1, c).mean(axis=0), n, momentum)
            effect(track, mean, var)
    else:
        y = normalize_running(x, running_mean, running_var, eps, shape)
    return affine(y, weight, bias, shape)


class GroupNorm(Module):
    """Group normalization (Wu & He 2018) of (N, C, ...) inputs: per sample, over groups of C/num_groups channels.

    Args:
        num_groups: number of groups; must divide ``num_channels``.
        num_channels: C.
        eps: added to the variance.
        affine: learn per-channel weight (ones) and bias (zeros).
        dtype: parameter dtype (the default float dtype when None).

    Raises:
        ValueError: ``num_groups`` is not positive or does not divide ``num_channels``.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups={num_groups} must be positive and divide "
                             f"num_channels={num_channels}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.ones(num_channels), dtype=dtype) if affine else None
        self.bias = Parameter(np.zeros(num_channels), dtype=dtype) if affine else None

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` normalized per sample and group of channels, then scaled and shifted per channel.

        Args:
            x: input of shape (N, num_channels, ...).

        Returns:
            A Tensor of ``x``'s shape.

        Raises:
            ShapeError: ``x`` does not have ``num_channels`` channels on axis 1.
        """
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ShapeError(f"GroupNorm: expected an input (N, {self.num_channels}, ...), got shape {x.shape}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _InstanceNorm(_BatchNorm):
    """PyTorch's InstanceNorm: BatchNorm's state (buffers only when tracking) with per-instance statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self._use_batch_stats(),
                             0.0 if self.momentum is None else self.momentum, self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of (N, C, L) inputs over L, per sample and channel.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: running-average factor (None: the running statistics stay put, as in PyTorch).
        affine: learn per-channel weight and bias (off by default, as in PyTorch).
        track_running_stats: keep running statistics and use them in eval mode.
        dtype: parameter and buffer dtype.
    """

    _ranks = (3,)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of (N, C, H, W) inputs over H and W, per sample and channel.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: running-average factor (None: the running statistics stay put, as in PyTorch).
        affine: learn per-channel weight and bias (off by default, as in PyTorch).
        track_running_stats: keep running statistics and use them in eval mode.
        dtype: parameter and buffer dtype.
    """

    _ranks = (4,)
