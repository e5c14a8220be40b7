"""BatchNorm1d, BatchNorm2d, GhostBatchNorm and BatchRenorm1d/2d, composed from primitive ops (BatchNorm with
PyTorch's semantics).

GhostBatchNorm (Hoffer et al. 2017) splits a batch into consecutive virtual batches, normalizes each
with its own statistics and shares the affine parameters and running statistics. The running
statistics are updated once per virtual batch, in order — exactly as if BatchNorm were applied to
each chunk in turn — so ``num_batches_tracked`` grows by the number of virtual batches per call.

Batch Renormalization (Ioffe 2017) corrects the batch-normalized value by the constants ``r`` and ``d`` that map
it onto the normalization by the running mean and standard deviation (clipped to ``r_max`` and ``d_max``), so
training computes what evaluation computes while the gradient still flows through the batch statistics.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import validate
from ..tape import effect
from ..tensor import Tensor, get_default_dtype
from .module import Module, Parameter
from .normalization import affine, batch_norm, batch_renorm, batch_statistics, update_running_stats


class _BatchNorm(Module):
    """Shared state and checks; subclasses set ``_ranks`` (the input ranks they accept) and may name the running
    spread ``_spread`` (BatchNorm's running variance, Batch Renormalization's running standard deviation)."""

    _ranks: tuple[int, ...] = ()
    _spread = "running_var"

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
        self.register_buffer(self._spread, Tensor(np.ones(num_features), dtype=dtype) if stats else None)
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


class _BatchRenorm(_BatchNorm):
    """Batch Renormalization's state and forward; subclasses set ``_ranks``."""

    _spread = "running_std"

    def __init__(self, num_features: int, r_max: float = 3.0, d_max: float = 5.0, eps: float = 1e-5,
                 momentum: float | None = 0.1, affine: bool = True, dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, True, dtype)
        self.r_max, self.d_max = r_max, d_max

    @property
    def r_max(self) -> float:
        """The bound of ``r`` (>= 1; inf: unclipped); settable between steps, e.g. to ramp it up from 1."""
        return self._r_max

    @r_max.setter
    def r_max(self, value: float) -> None:
        self._r_max = validate.real(type(self).__name__, value, "r_max", low=1.0, finite=False)

    @property
    def d_max(self) -> float:
        """The bound of ``|d|`` (>= 0; inf: unclipped); settable between steps, e.g. to ramp it up from 0."""
        return self._d_max

    @d_max.setter
    def d_max(self, value: float) -> None:
        self._d_max = validate.real(type(self).__name__, value, "d_max", low=0.0, finite=False)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` renormalized per channel, then scaled and shifted (``functional.batch_renorm``).

        Training uses the batch statistics corrected towards the running ones (and updates those); eval uses the
        running mean and standard deviation.

        Args:
            x: input of shape (N, C, ...).

        Returns:
            A Tensor of ``x``'s shape.

        Raises:
            ValueError: ``x`` has the wrong number of axes or channels, or training sees one value per channel.
        """
        self._check(x)
        return batch_renorm(x, self.running_mean, self.running_std, self.weight, self.bias, self.training,
                            self._track if self.training else 0.0, self.eps, self.r_max, self.d_max)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return (f"{self.num_features}, r_max={self.r_max:g}, d_max={self.d_max:g}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}")


class BatchRenorm1d(_BatchRenorm):
    """Batch Renormalization (Ioffe 2017) of (N, C) or (N, C, L) inputs over all axes but the channel axis 1.

    Buffers ``running_mean`` and ``running_std`` (the paper's moving averages of the batch mean and of
    ``sqrt(var_B + eps)``), ``num_batches_tracked``. ``r_max`` and ``d_max`` are attributes a training loop may
    set between steps (the paper starts at 1 and 0, BatchNorm, and relaxes them to 3 and 5).

    Args:
        num_features: C, the size of axis 1.
        r_max: the bound of ``r`` (>= 1; inf: unclipped).
        d_max: the bound of ``|d|`` (>= 0; inf: unclipped).
        eps: added to the batch variance.
        momentum: the running-average factor (the paper's alpha; None: a cumulative average).
        affine: learn a per-channel weight (ones) and bias (zeros).
        dtype: the parameters' and buffers' dtype (the default float dtype when None).

    Raises:
        TypeError: ``r_max`` or ``d_max`` is not a number.
        ValueError: ``r_max`` < 1 or ``d_max`` < 0 (or nan).
    """

    _ranks = (2, 3)


class BatchRenorm2d(_BatchRenorm):
    """Batch Renormalization (Ioffe 2017) of (N, C, H, W) inputs over N, H and W per channel.

    Buffers ``running_mean`` and ``running_std`` (the paper's moving averages of the batch mean and of
    ``sqrt(var_B + eps)``), ``num_batches_tracked``. ``r_max`` and ``d_max`` are attributes a training loop may
    set between steps (the paper starts at 1 and 0, BatchNorm, and relaxes them to 3 and 5).

    Args:
        num_features: C, the size of axis 1.
        r_max: the bound of ``r`` (>= 1; inf: unclipped).
        d_max: the bound of ``|d|`` (>= 0; inf: unclipped).
        eps: added to the batch variance.
        momentum: the running-average factor (the paper's alpha; None: a cumulative average).
        affine: learn a per-channel weight (ones) and bias (zeros).
        dtype: the parameters' and buffers' dtype (the default float dtype when None).

    Raises:
        TypeError: ``r_max`` or ``d_max`` is not a number.
        ValueError: ``r_max`` < 1 or ``d_max`` < 0 (or nan).
    """

    _ranks = (4,)
