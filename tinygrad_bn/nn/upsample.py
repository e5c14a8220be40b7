"""``Upsample`` and ``interpolate``: resizing the spatial axes of (N, C, ...) by nearest neighbour or linear
interpolation, composed from indexing and arithmetic (PyTorch's index rules), so the gradient comes from autodiff."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..graph import scope
from ..tensor import ShapeError, Tensor
from .module import Module

MODES = {"nearest": 1, "linear": 1, "bilinear": 2}
"""The modes and how many spatial axes each resizes (the input has 2 more: N and C)."""


def _sizes(x: Tensor, spatial: int, size: int | Sequence[int] | None,
           scale_factor: float | Sequence[float] | None) -> tuple[list[int], list[float | None]]:
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out = [size] * spatial if isinstance(size, int) else list(size)
        scales: list[float | None] = [None] * spatial
    else:
        scales = [scale_factor] * spatial if isinstance(scale_factor, int | float) else list(scale_factor)
        out = [int(math.floor(n * s)) for n, s in zip(x.shape[2:], scales)]
    if len(out) != spatial or any(not isinstance(n, int | np.integer) or n < 1 for n in out):
        raise ValueError(f"interpolate: the output size must be {spatial} positive integers, got {out}")
    return out, scales


def _source(n_in: int, n_out: int, scale: float | None, mode: str, align_corners: bool) -> np.ndarray:
    """The (fractional) input position each output position reads, PyTorch's formulas."""
    dst = np.arange(n_out, dtype=np.float64)
    if mode == "nearest":
        return np.minimum(np.floor(dst * (1 / scale if scale else n_in / n_out)), n_in - 1)
    if align_corners:
        return dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    return np.maximum((dst + 0.5) * (1 / scale if scale else n_in / n_out) - 0.5, 0.0)


@scope("interpolate")
def interpolate(x: Tensor, size: int | Sequence[int] | None = None, scale_factor: float | Sequence[float] | None = None,
                mode: str = "nearest", align_corners: bool | None = None) -> Tensor:
    """Resize the spatial axes of ``x``, as ``torch.nn.functional.interpolate``.

    Args:
        x: (N, C, L) for ``"nearest"``/``"linear"``, (N, C, H, W) for ``"nearest"``/``"bilinear"``.
        size: the output's spatial size (an int for every axis, or one per axis).
        scale_factor: instead of ``size``, the factor per axis (the size is its floor).
        mode: ``"nearest"``, ``"linear"`` or ``"bilinear"``.
        align_corners: for the linear modes, map the corner pixels' centres onto each other (default False).

    Returns:
        A Tensor (N, C, *size).

    Raises:
        ValueError: an unknown mode, ``align_corners`` with ``"nearest"``, both or neither of size and scale.
        ShapeError: the input's rank does not fit the mode.
    """
    if mode not in MODES:
        raise ValueError(f"interpolate: mode must be one of {sorted(MODES)}, got {mode!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners can only be set with the linear modes")
    spatial = x.ndim - 2
    if spatial < 1 or (mode != "nearest" and spatial != MODES[mode]) or spatial > 2:
        raise ShapeError(f"interpolate: mode {mode!r} does not fit an input of shape {x.shape}")
    out, scales = _sizes(x, spatial, size, scale_factor)
    for k, (n_out, scale) in enumerate(zip(out, scales)):
        axis, n_in = 2 + k, x.shape[2 + k]
        src = _source(n_in, n_out, scale, mode, bool(align_corners))
        lo = src.astype(np.int64)
        before = (slice(None),) * axis
        if mode == "nearest":
            x = x[(*before, lo)]
            continue
        hi = np.minimum(lo + 1, n_in - 1)
        w = (src - lo).reshape((-1,) + (1,) * (x.ndim - axis - 1)).astype(x.dtype)
        x = x[(*before, lo)] * (1 - w) + x[(*before, hi)] * w
    return x


class Upsample(Module):
    """:func:`interpolate` as a module, as ``torch.nn.Upsample``.

    Args:
        size: the output's spatial size.
        scale_factor: instead of ``size``, the factor per axis.
        mode: ``"nearest"``, ``"linear"`` or ``"bilinear"``.
        align_corners: for the linear modes.

    Raises:
        ValueError: an unknown mode, or both or neither of size and scale_factor.
    """

    def __init__(self, size: int | Sequence[int] | None = None, scale_factor: float | Sequence[float] | None = None,
                 mode: str = "nearest", align_corners: bool | None = None) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"Upsample: mode must be one of {sorted(MODES)}, got {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` resized.

        Args:
            x: (N, C, L) or (N, C, H, W).
        """
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        """Return the settings shown in ``repr``."""
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"
