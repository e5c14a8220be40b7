"""BatchNorm1d, BatchNorm2d and GhostBatchNorm, composed from primitive ops (PyTorch's semantics).

GhostBatchNorm (Hoffer et al. 2017) splits a batch into consecutive virtual batches, normalizes each
with its own statistics and shares the affine parameters and running statistics. The running
statistics are updated once per virtual batch, in order — exactly as if BatchNorm were applied to
each chunk in turn — so ``num_batches_tracked`` grows by the number of virtual batches per call.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import validate
from ..tape import effect
from ..tensor import Tensor, get_default_dtype
from .module import Module, Parameter
from .normalization import affine, batch_norm, batch_statistics, update_running_stats


class _BatchNorm(Module):
    """Shared state and checks; subclasses set ``_ranks`` (the input ranks they accept)."""

    _ranks: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None) -> None:
        super().__init__()
        num_features = validate.integer(type(self).__name__, num_features, "num_features", low=0)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.ones(num_features), dtype=dtype) if affine else None
        self.bias = Parameter(np.zeros(num_features), dtype=dtype) if affine else None
        stats = track_running_stats
        self.register_buffer("running_mean", Tensor(np.zeros(num_features), dtype=dtype) if stats else None)
        self.register_buffer("running_var", Tensor(np.ones(num_features), dtype=dtype) if stats else None)
        self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)) if stats else None)

    def _check(self, x: Tensor) -> None:
        name = type(self).__name__
        if self._ranks and x.ndim not in self._ranks:
            want = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(f"{name}: expected {want} input (got {x.ndim}D input of shape {x.shape})")
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels on axis 1, got input of shape {x.shape}")

    def _factor(self) -> float:
        """The running-average factor for the next tracked batch (PyTorch's rule for momentum=None)."""
        return 1.0 / (int(self.num_batches_tracked.data) + 1) if self.momentum is None else self.momentum

    def _track(self) -> float:
        """Count a tracked batch and return the factor of its update."""
        factor = self._factor()
        self.num_batches_tracked.data += 1
        return factor

    def _use_batch_stats(self) -> bool:
        return self.training or not self.track_running_stats

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` normalized per channel, then scaled and shifted.

        Training uses the batch statistics (and updates the running ones); eval uses the running statistics.

        Args:
            x: input of shape (N, C, ...).

        Returns:
            A Tensor of ``x``'s shape.

        Raises:
            ValueError: ``x`` has the wrong number of axes or channels, or training sees one value per channel.
        """
        self._check(x)
        tracking = self.training and self.track_running_stats
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self._use_batch_stats(),
                            self._track if tracking else 0.0, self.eps)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs over all axes but the channel axis 1.

    Args:
        num_features: C, the size of axis 1.
        eps: added to the variance.
        momentum: the running-average factor (None: a cumulative average, as in PyTorch).
        affine: learn a per-channel weight (ones) and bias (zeros).
        track_running_stats: keep running statistics (buffers) and use them in eval mode.
        dtype: the parameters' and buffers' dtype (the default float dtype when None).
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs over N, H and W per channel.

    Args:
        num_features: C, the size of axis 1.
        eps: added to the variance.
        momentum: the running-average factor (None: a cumulative average, as in PyTorch).
        affine: learn a per-channel weight (ones) and bias (zeros).
        track_running_stats: keep running statistics (buffers) and use them in eval mode.
        dtype: the parameters' and buffers' dtype (the default float dtype when None).
    """

    _ranks = (4,)


class GhostBatchNorm(_BatchNorm):
    """Batch normalization with statistics per consecutive virtual batch of ``virtual_batch_size`` rows.

    Accepts (N, C, ...) inputs; in training (or without running statistics) N must be a multiple of
    ``virtual_batch_size``. Evaluation with running statistics is the same as BatchNorm's.

    Args:
        num_features: C, the size of axis 1.
        virtual_batch_size: rows per virtual batch (positive).
        eps: added to the variance.
        momentum: the running-average factor (None: a cumulative average, as in PyTorch).
        affine: learn a per-channel weight (ones) and bias (zeros).
        track_running_stats: keep running statistics (buffers) and use them in eval mode.
        dtype: the parameters' and buffers' dtype (the default float dtype when None).

    Raises:
        ValueError: ``virtual_batch_size`` is not positive.
    """

    def __init__(self, num_features: int, virtual_batch_size: int, eps: float = 1e-5,
                 momentum: float | None = 0.1, affine: bool = True, track_running_stats: bool = True,
                 dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)
        if virtual_batch_size < 1:
            raise ValueError(f"GhostBatchNorm: virtual_batch_size must be positive, got {virtual_batch_size}")
        self.virtual_batch_size = virtual_batch_size

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` normalized per channel, each virtual batch with its own statistics, then scaled and shifted.

        Eval with running statistics uses those, as BatchNorm does.

        Args:
            x: input of shape (N, C, ...), N a multiple of ``virtual_batch_size`` in training.

        Returns:
            A Tensor of ``x``'s shape.

        Raises:
            ValueError: ``x`` has the wrong number of axes or channels, or N is not a multiple of
                ``virtual_batch_size``.
        """
        self._check(x)
        if not self._use_batch_stats():
            return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        v = self.virtual_batch_size
        n, rest = x.shape[0], x.shape[1:]
        if n % v:
            raise ValueError(f"GhostBatchNorm: batch size {n} (input shape {x.shape}) is not a multiple of "
                             f"virtual_batch_size {v}")
        k = n // v
        # (N, C, ...) -> (v, k, C, ...): axis 0 runs within a virtual batch, axis 1 over the virtual batches
        ghost = x.reshape(k, v, *rest).transpose(0, 1)
        y, mean, var, count = batch_statistics("GhostBatchNorm", ghost, (0,) + tuple(range(3, ghost.ndim)), self.eps)
        if self.training and self.track_running_stats:
            effect(functools.partial(self._track_ghosts, count), mean, var)
        y = y.transpose(0, 1).reshape(x.shape)
        return affine(y, self.weight, self.bias, (1, self.num_features) + (1,) * (x.ndim - 2))

    def _track_ghosts(self, count: int, mean: np.ndarray, var: np.ndarray) -> None:
        """One running-average update per virtual batch, in order."""
        for m, v in zip(mean.reshape(-1, self.num_features), var.reshape(-1, self.num_features)):
            update_running_stats(self.running_mean, self.running_var, m, v, count, self._track)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return super().extra_repr() + f", virtual_batch_size={self.virtual_batch_size}"
