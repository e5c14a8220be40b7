"""Sliding-window primitives: unfold and fold (im2col and col2im), conv2d, max_pool2d."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tensor import ShapeError
from .im2col import batches, blocks, columns, gemms, windows
from .linalg import mT
from .primitive import ARRAYS, primitive


@primitive
def unfold(x: np.ndarray, *, kernel_size: tuple[int, int], dilation: tuple[int, int] = (1, 1),
           padding: tuple[int, int] = (0, 0), stride: tuple[int, int] = (1, 1)):
    """Sliding blocks of (N, C, H, W) as (N, C*kh*kw, L) (im2col), like ``torch.nn.functional.unfold``.

    The forward is one copy of a strided view of the zero-padded input; the vjp is :func:`fold`.
    """
    view = blocks("unfold", x, kernel_size, dilation, padding, stride)
    n, c, kh, kw, oh, ow = view.shape
    return view.reshape(n, c * kh * kw, oh * ow)


@unfold.defvjp
def _unfold_vjp(F, need, g, out, x, *, kernel_size, dilation=(1, 1), padding=(0, 0), stride=(1, 1)):
    return (F.fold(g, output_size=x.shape[2:], kernel_size=kernel_size, dilation=dilation, padding=padding,
                   stride=stride),)


@primitive
def fold(cols: np.ndarray, *, output_size: tuple[int, int], kernel_size: tuple[int, int],
         dilation: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0), stride: tuple[int, int] = (1, 1)):
    """Sum sliding blocks (N, C*kh*kw, L) back into (N, C, H, W) (col2im), like ``torch.nn.functional.fold``.

    One strided add per kernel offset (no scatter), in the blocks' own memory order (blocks laid out
    (C*kh*kw, N, L), as conv2d's vjp makes them, are summed channel-major); the vjp is :func:`unfold`.
    """
    (h, w), (kh, kw), (ph, pw) = output_size, kernel_size, padding
    n, ckk, length = cols.shape
    oh, ow = windows("fold", (n, 0, h, w), kernel_size, dilation, padding, stride)
    if ckk % (kh * kw) or length != oh * ow:
        raise ShapeError(f"fold: expected (N, C*{kh}*{kw}, {oh * ow}) blocks for output size {output_size}, "
                         f"got {cols.shape}")
    c = ckk // (kh * kw)
    swap = cols.strides[0] < cols.strides[1]  # channel-major memory: accumulate as (C, N, H, W)
    if swap:  # (C, N, kh, kw, oh, ow) views of the (C*kh*kw, N, L) memory
        blocks = cols.transpose(1, 0, 2).reshape(c, kh, kw, n, oh, ow).transpose(0, 3, 1, 2, 4, 5)
    else:
        blocks = cols.reshape(n, c, kh, kw, oh, ow)
    data = np.zeros(((c, n) if swap else (n, c)) + (h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    (dh, dw), (sh, sw) = dilation, stride
    for i in range(kh):
        for j in range(kw):
            data[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw] += blocks[:, :, i, j]
    data = data[:, :, ph:ph + h, pw:pw + w]
    return np.ascontiguousarray(data.transpose(1, 0, 2, 3) if swap else data)


@fold.defvjp
def _fold_vjp(F, need, g, out, cols, *, output_size, kernel_size, dilation=(1, 1), padding=(0, 0), stride=(1, 1)):
    return (F.unfold(g, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride),)



@primitive
def conv2d(x: np.ndarray, w: np.ndarray, *, stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0),
           dilation: tuple[int, int] = (1, 1), groups: int = 1):
    """Cross-correlation of (N, C, H, W) with filters (O, C/groups, kh, kw), zero padding: (N, O, H_out, W_out).

    The forward is im2col (one copy of the windows' strided view, laid out (groups, C/groups*kh*kw, n*L)
    so the samples sit in the columns) and one GEMM per group, a few samples at a time (see
    :func:`batches`). The vjp is one GEMM and :func:`fold` for the input, :func:`unfold` and one GEMM
    for the filters, over the same batches (the whole batch at once under ``create_graph``).

    Args:
        x: input of shape (N, C, H, W).
        w: filters of shape (O, C/groups, kh, kw).
        stride: (h, w) steps between windows.
        padding: (h, w) zeros on both sides (asymmetric padding: :func:`pad` first).
        dilation: (h, w) spacing of the kernel's taps.
        groups: independent channel groups (dividing C and O).

    Returns:
        (N, O, H_out, W_out).

    Raises:
        ShapeError: the shapes do not fit (channels, groups, a kernel larger than the padded input).
    """
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ShapeError(f"conv2d: input {x.shape} (N, C, H, W) and weight {w.shape} (O, C/groups, kh, kw) do not "
                         f"fit with groups={groups}")
    n, o, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    oh, ow = windows("conv2d", x.shape, (kh, kw), dilation, padding, stride)
    k, length = w.shape[1] * kh * kw, oh * ow
    y = np.empty((n, o, length), dtype=np.result_type(x, w))
    for sl in batches(n, x.shape[1] * kh * kw * length * x.itemsize):
        cols = columns(blocks("conv2d", x[sl], (kh, kw), dilation, padding, stride), groups, k)
        part = gemms(ARRAYS, w.reshape(groups, o // groups, k), cols)  # (groups, O/groups, n*L), n of this batch
        y[sl] = part.reshape(o, cols.shape[2] // length, length).transpose(1, 0, 2)
    return y.reshape(n, o, oh, ow)


@conv2d.defvjp
def _conv2d_vjp(F, need, g, out, x, w, *, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    window = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    # The one vjp serves both passes through _conv2d_grads. On arrays it runs a few samples at a time (the
    # columns stay in cache, 10-15% faster); under create_graph the whole batch at once, since slicing and
    # summing the batches would add ops to the recorded graph for nothing.
    if F is not ARRAYS:
        return _conv2d_grads(F, need, g, x, w, **window)
    gx = np.empty(x.shape, np.result_type(g, w)) if need[0] else None
    gw = np.zeros(w.shape, np.result_type(g, x)) if need[1] else None
    for sl in batches(x.shape[0], x.shape[1] * w.shape[2] * w.shape[3] * g.shape[2] * g.shape[3] * x.itemsize):
        px, pw = _conv2d_grads(F, need, g[sl], x[sl], w, **window)
        if need[0]:
            gx[sl] = px
        if need[1]:
            gw += pw
    return gx, gw


def _conv2d_grads(F: Any, need: Sequence[bool], g: Any, x: Any, w: Any, *, stride: tuple[int, int],
                  padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> tuple[Any, Any]:
    """conv2d's input and filter gradients for the samples of ``g`` and ``x``: two GEMMs, fold and unfold."""
    (n, o, oh, ow), (_, per_group, kh, kw) = g.shape, w.shape
    length, k = oh * ow, per_group * kh * kw
    window = dict(kernel_size=(kh, kw), dilation=dilation, padding=padding, stride=stride)
    gy = F.reshape(F.transpose(F.reshape(g, shape=(n, groups, o // groups, length)), axes=(1, 2, 0, 3)),
                   shape=(groups, o // groups, n * length))  # the batch in the columns, as in the forward
    gx = gw = None
    if need[0]:
        cols = gemms(F, mT(F, F.reshape(w, shape=(groups, o // groups, k))), gy)  # (groups, K, N*L)
        cols = F.transpose(F.reshape(cols, shape=(groups * k, n, length)), axes=(1, 0, 2))
        gx = F.fold(cols, output_size=x.shape[2:], **window)
    if need[1]:
        if F is ARRAYS:  # the forward's columns again, in one copy (unfold, then the transpose, are two copies;
            # under create_graph they must be unfold's: the columns are then an op of the graph)
            cols = columns(blocks("conv2d", x, (kh, kw), dilation, padding, stride), groups, k)
        else:
            cols = F.reshape(F.unfold(x, **window), shape=(n, groups, k, length))
            cols = F.reshape(F.transpose(cols, axes=(1, 2, 0, 3)), shape=(groups, k, n * length))
        gw = F.reshape(gemms(F, gy, mT(F, cols)), shape=w.shape)
    return gx, gw


@primitive
def max_pool2d(x: np.ndarray, *, kernel_size: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int] = (0, 0), dilation: tuple[int, int] = (1, 1)):
    """The maximum of each window of (N, C, H, W), padding counting as -inf: (N, C, H_out, W_out).

    The forward takes one elementwise maximum per kernel offset over the windows' strided view (no
    im2col copy). The vjp gives each window's gradient to its maxima (ties share it evenly) through
    :func:`fold`.

    Args:
        x: input of shape (N, C, H, W).
        kernel_size: (h, w) window size.
        stride: (h, w) steps between windows.
        padding: (h, w) entries of -inf on both sides.
        dilation: (h, w) spacing of the window's taps.

    Returns:
        (N, C, H_out, W_out).
    """
    view = blocks("max_pool2d", x, kernel_size, dilation, padding, stride, fill=-np.inf)
    out = view[:, :, 0, 0].copy()
    for i, j in np.ndindex(*kernel_size):
        np.maximum(out, view[:, :, i, j], out=out)
    return out


@max_pool2d.defvjp
def _max_pool2d_vjp(F, need, g, out, x, *, kernel_size, stride, padding=(0, 0), dilation=(1, 1)):
    view = blocks("max_pool2d", np.asarray(x), kernel_size, dilation, padding, stride, fill=-np.inf)
    top = np.asarray(out)
    hit = np.empty(view.shape, dtype=bool)
    for i, j in np.ndindex(*kernel_size):
        np.equal(view[:, :, i, j], top, out=hit[:, :, i, j])
    share = hit.astype(view.dtype)  # 1 at each window's maximum, 1/k for k tied maxima
    if np.count_nonzero(hit) != top.size:  # ties (or a nan) in some window
        share /= np.maximum(share.sum(axis=(2, 3)), 1)[:, :, None, None]
    n, c, kh, kw, oh, ow = share.shape
    cols = F.reshape(F.mul(F.reshape(g, shape=(n, c, 1, 1, oh, ow)), share), shape=(n, c * kh * kw, oh * ow))
    return (F.fold(cols, output_size=x.shape[2:], kernel_size=kernel_size, dilation=dilation, padding=padding,
                   stride=stride),)
