"""The arrays under convolution and pooling: output sizes, every window as a strided view, im2col columns,
and the GEMMs over them a few samples at a time (the speed helpers of :mod:`~tinygrad_bn.ops.windows`)."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from ..tensor import ShapeError


def windows(op: str, shape: tuple[int, ...], kernel: tuple[int, int], dilation: tuple[int, int],
             padding: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    """Output height and width of sliding ``kernel`` over the last two axes of ``shape``."""
    out = tuple((shape[i + 2] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in (0, 1))
    if out[0] < 1 or out[1] < 1:
        raise ShapeError(f"{op}: kernel {kernel} with dilation {dilation} is larger than the input {shape[2:]} "
                         f"padded by {padding}")
    return out  # type: ignore[return-value]


def blocks(op: str, x: np.ndarray, kernel: tuple[int, int], dilation: tuple[int, int], padding: tuple[int, int],
            stride: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """Every window of (N, C, H, W) ``x`` padded with ``fill``: a strided view (N, C, kh, kw, H_out, W_out)."""
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = kernel, padding
    oh, ow = windows(op, x.shape, kernel, dilation, padding, stride)
    xp = x
    if ph or pw:
        xp = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, dtype=x.dtype)
        xp[:, :, ph:ph + h, pw:pw + w] = x
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (n, c, kh, kw, oh, ow),
        (s[0], s[1], s[2] * dilation[0], s[3] * dilation[1], s[2] * stride[0], s[3] * stride[1]), writeable=False)


BATCH_BYTES = 1 << 22


def batches(n: int, nbytes: int) -> list[slice]:
    """Slices of the batch whose im2col columns (``nbytes`` per sample) take about ``BATCH_BYTES``.

    conv2d works a few samples at a time so the columns a GEMM writes are still in cache when they
    are read (the fold, the next GEMM): 10-15% faster than whole-batch columns seven times the size.
    """
    step = builtins.max(1, BATCH_BYTES // builtins.max(nbytes, 1))
    return [slice(i, i + step) for i in range(0, n, step)] or [slice(0, 0)]


def columns(view: np.ndarray, groups: int, k: int) -> np.ndarray:
    """The windows' view (N, C, kh, kw, H_out, W_out) as one contiguous copy (groups, k = C/groups*kh*kw, N*L)."""
    n, oh, ow = view.shape[0], *view.shape[4:]
    return np.ascontiguousarray(view.transpose(1, 2, 3, 0, 4, 5)).reshape(groups, k, n * oh * ow)


def gemms(F: Any, a: Any, b: Any) -> Any:
    """(G, M, K) @ (G, K, P): one 2-D GEMM when G is 1, else contiguous operands.

    numpy runs a stacked matmul with a transposed operand without BLAS (tens of times slower).
    """
    if a.shape[0] == 1:
        return F.reshape(F.matmul(F.reshape(a, shape=a.shape[1:]), F.reshape(b, shape=b.shape[1:])),
                         shape=(1, a.shape[1], b.shape[2]))
    a, b = (t if np.asarray(t).flags.c_contiguous else F.clone(t) for t in (a, b))
    return F.matmul(a, b)
