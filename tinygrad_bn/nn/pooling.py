"""Max pooling (the ``max_pool2d`` primitive), average pooling (``unfold`` then ``mean`` over each window),
adaptive average pooling, Flatten."""

from __future__ import annotations

import sys

import numpy as np

from .. import ops, validate
from ..graph import scope
from ..tensor import ShapeError, Tensor
from .conv import Size, _pair
from .module import Module


def _arguments(name: str, kernel_size: Size, stride: Size | None, padding: Size,
               dilation: Size) -> dict[str, tuple[int, int]]:
    """The window attributes (kernel_size, stride, padding, dilation) as pairs, checked by PyTorch's rules.

    Raises:
        TypeError: a size is not an int or a pair of ints.
        ValueError: a kernel, stride or dilation below 1, a negative padding, or one over half the kernel.
    """
    k = _pair(name, "kernel_size", kernel_size)
    s = k if stride is None else _pair(name, "stride", stride)
    p, d = _pair(name, "padding", padding), _pair(name, "dilation", dilation)
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{name}: padding {p} must be at most half the kernel {k}")
    return dict(kernel_size=k, stride=s, padding=p, dilation=d)


def _window(name: str, x: Tensor, kernel_size: Size, stride: Size | None, padding: Size, dilation: Size,
            ceil_mode: bool = False) -> tuple[Tensor, dict[str, tuple[int, int]], tuple[int, int], tuple[int, int]]:
    """The checked input, its window attributes (:func:`_arguments`), (H_out, W_out), and how many positions
    past the padded input the last windows reach (``ceil_mode``; 0 otherwise)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 4:
        raise ShapeError(f"{name}: expected a 4D input (N, C, H, W), got shape {x.shape}")
    window = _arguments(name, kernel_size, stride, padding, dilation)
    k, s, p, d = window.values()
    out, extra = [], []
    for i in (0, 1):
        n, span = x.shape[2 + i], x.shape[2 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1
        size = (-(-span // s[i]) if ceil_mode else span // s[i]) + 1
        if ceil_mode and (size - 1) * s[i] >= n + p[i]:  # PyTorch: the last window starts inside the input
            size -= 1
        out.append(size)
        extra.append(max(0, (size - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (n + 2 * p[i])))
    if min(out) < 1:
        raise ShapeError(f"{name}: kernel {k} with dilation {d} is larger than the input {x.shape} padded by {p}")
    return x, window, tuple(out), tuple(extra)  # type: ignore


def _extended(x: Tensor, extra: tuple[int, int], value: float) -> Tensor:
    """``x`` with ``extra`` more rows and columns of ``value`` at the bottom and right (for ``ceil_mode``)."""
    if not any(extra):
        return x
    return ops.pad(x, widths=((0, 0), (0, 0), (0, extra[0]), (0, extra[1])), value=value)


@scope("max_pool2d")
def max_pool2d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               dilation: Size = 1, ceil_mode: bool = False) -> Tensor:
    """The maximum of each window of (N, C, H, W); padding counts as -inf.

    Args:
        x: input of shape (N, C, H, W).
        kernel_size: an int or an (h, w) pair.
        stride: an int or an (h, w) pair; defaults to kernel_size.
        padding: an int or an (h, w) pair, at most half the kernel.
        dilation: an int or an (h, w) pair.
        ceil_mode: round the output size up, as PyTorch does (a last window may hang over the padded input,
            but starts inside it).

    Returns:
        (N, C, H_out, W_out). Tied maxima in a window share its gradient evenly (PyTorch gives it all to one).

    Raises:
        ShapeError: a non-4D input, padding over half the kernel, or a kernel larger than the padded input.
    """
    x, window, _, extra = _window("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min if x.dtype.kind in "iu" else False
    return ops.max_pool2d(_extended(x, extra, low), **window)


@scope("avg_pool2d")
def avg_pool2d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """The mean of each window of (N, C, H, W); zero padding, counted in the mean unless ``count_include_pad=False``.

    Args:
        x: input of shape (N, C, H, W).
        kernel_size: an int or an (h, w) pair.
        stride: an int or an (h, w) pair; defaults to kernel_size.
        padding: an int or an (h, w) pair, at most half the kernel.
        ceil_mode: round the output size up, as PyTorch does; positions past the padded input are not counted.
        count_include_pad: divide by the window's positions inside the padded input (True) or inside the
            input (False).

    Returns:
        (N, C, H_out, W_out).

    Raises:
        ShapeError: a non-4D input, padding over half the kernel, or a kernel larger than the padded input.
    """
    x, window, out, extra = _window("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    k, p = window["kernel_size"], window["padding"]
    cols = ops.unfold(_extended(x, extra, 0.0), **window)
    cols = cols.reshape(x.shape[0], x.shape[1], k[0] * k[1], -1)
    if not any(extra) and (count_include_pad or not any(p)):
        y = cols.mean(axis=2)
    else:  # divide each window by its counted positions (a constant of the shapes)
        h, w = x.shape[2:]
        counted = np.zeros((1, 1, h + 2 * p[0] + extra[0], w + 2 * p[1] + extra[1]), dtype=x.dtype)
        counted[..., :h + 2 * p[0], :w + 2 * p[1]] = 1 if count_include_pad else 0
        counted[..., p[0]:p[0] + h, p[1]:p[1] + w] = 1
        window = dict(window, padding=(0, 0))
        y = cols.sum(axis=2) / ops.ARRAYS.unfold(counted, **window).sum(axis=1)[0]
    return y.reshape(cols.shape[0], cols.shape[1], *out)


@scope("adaptive_avg_pool2d")
def adaptive_avg_pool2d(x: Tensor, output_size: Size) -> Tensor:
    """Average pooling of (N, C, H, W) to (N, C, *output_size); each output size must divide the input size.

    Args:
        x: input of shape (N, C, H, W).
        output_size: an int or an (h, w) pair; None in a place keeps that input size.

    Returns:
        (N, C, h, w).

    Raises:
        ShapeError: a non-4D input, or an output size that does not divide the input's.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 4:
        raise ShapeError(f"adaptive_avg_pool2d: expected a 4D input (N, C, H, W), got shape {x.shape}")
    size = _output_size("adaptive_avg_pool2d", output_size)
    size = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(size))
    if any(n % s for s, n in zip(size, x.shape[2:])):
        raise ShapeError(f"adaptive_avg_pool2d: output size {size} must divide the input's spatial size "
                         f"{x.shape[2:]} (input {x.shape}); other sizes are not supported")
    k = tuple(n // s for n, s in zip(x.shape[2:], size))
    return avg_pool2d(x, k, k)


def _output_size(name: str, output_size: Size | tuple[int | None, ...]) -> tuple[int | None, int | None]:
    """An adaptive pool's output size as a pair of positive ints (None keeps the input's size)."""
    size = tuple(output_size) if isinstance(output_size, tuple | list) else (output_size, output_size)
    if len(size) != 2:
        raise ValueError(f"{name}: output_size must be an int or a pair, got {output_size!r}")
    return tuple(None if s is None else _pair(name, "output_size", s, 1)[0] for s in size)  # type: ignore


class _Pool(Module):
    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0, dilation: Size = 1,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        _arguments(type(self).__name__, kernel_size, stride, padding, dilation)
        validate.flag(type(self).__name__, ceil_mode, "ceil_mode")
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (", ceil_mode=True" if self.ceil_mode else ""))


class MaxPool2d(_Pool):
    """:func:`max_pool2d` as a layer: the maximum of each window.

    Args:
        kernel_size: an int or an (h, w) pair.
        stride: an int or an (h, w) pair; defaults to kernel_size.
        padding: an int or an (h, w) pair (counting as -inf), at most half the kernel.
        dilation: an int or an (h, w) pair.
        return_indices: only False (the indices of the maxima are not returned).
        ceil_mode: round the output size up, as PyTorch does.

    Raises:
        NotImplementedError: ``return_indices=True``.
    """

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0, dilation: Size = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        if return_indices:
            raise NotImplementedError("MaxPool2d: return_indices=True is not supported (there is no MaxUnpool2d)")
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.dilation = dilation

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``x``.

        Args:
            x: input of shape (N, C, H, W).

        Returns:
            (N, C, H_out, W_out).
        """
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


class AvgPool2d(_Pool):
    """:func:`avg_pool2d` as a layer: the mean of each window.

    Args:
        kernel_size: an int or an (h, w) pair.
        stride: an int or an (h, w) pair; defaults to kernel_size.
        padding: an int or an (h, w) pair of zeros, at most half the kernel.
        ceil_mode: round the output size up, as PyTorch does.
        count_include_pad: divide by the window's positions inside the padded input (True) or inside the input.
    """

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``x``.

        Args:
            x: input of shape (N, C, H, W).

        Returns:
            (N, C, H_out, W_out).
        """
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """:func:`adaptive_avg_pool2d` as a layer (output sizes that divide the input's; 1 gives global pooling).

    Args:
        output_size: an int or an (h, w) pair; None in a place keeps that input size.
    """

    def __init__(self, output_size: Size) -> None:
        super().__init__()
        _output_size(type(self).__name__, output_size)
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``x``.

        Args:
            x: input of shape (N, C, H, W).

        Returns:
            (N, C, *output_size).
        """
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"output_size={self.output_size}"


class Flatten(Module):
    """Merge axes ``start_dim`` to ``end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default.

    Args:
        start_dim: the first axis merged.
        end_dim: the last axis merged (negative counts from the end).

    Raises:
        TypeError: ``start_dim`` or ``end_dim`` is not an int.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        for what, v in (("start_dim", start_dim), ("end_dim", end_dim)):  # any int: its range depends on the input
            validate.integer("Flatten", v, what, low=-sys.maxsize - 1)
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        """Flatten ``x``.

        Args:
            x: a Tensor with at least ``start_dim + 1`` axes.

        Returns:
            ``x`` reshaped with axes start_dim..end_dim merged.

        Raises:
            IndexError: start_dim or end_dim is out of range for ``x`` (an AxisError, as in PyTorch).
            ShapeError: start_dim comes after end_dim for this shape.
        """
        s = validate.axis("Flatten", self.start_dim, x.ndim, x.shape, "start_dim")
        e = validate.axis("Flatten", self.end_dim, x.ndim, x.shape, "end_dim")
        if s > e:
            raise ShapeError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} for shape "
                             f"{x.shape}")
        return x.reshape(*x.shape[:s], -1, *x.shape[e + 1:])

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
