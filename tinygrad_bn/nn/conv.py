"""Conv1d and Conv2d on the ``conv2d`` primitive, PyTorch's arguments and init.

Why a primitive and not ``unfold`` followed by ``matmul``: a convolution is fast when it is ONE GEMM
over many samples (the im2col columns of the samples side by side). Composed of primitives, that
GEMM needs the batch axis merged with the positions axis, and the graph would then say the batch axis
is mixed with the positions, so the noise analysis would see batch statistics where there are none
(GroupNorm after a conv looked batch-noisy). Without merging, ``weight @ cols`` is numpy broadcasting
a matrix over the batch — one small GEMM per sample, tens of times slower. The ``conv2d`` primitive
(tinygrad_bn.ops) does im2col and one GEMM per batch of samples inside, its vjp beside it is written
with ``unfold``, ``fold`` and ``matmul``, and viz has one rule for it: the batch axis of the input is the batch axis
of the output, the weight has none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops, validate
from ..graph import scope
from ..tensor import ShapeError, Tensor
from .layers import _uniform_parameter
from .module import Module

Size = int | tuple[int, ...]


MINIMUM = {"kernel_size": 1, "stride": 1, "dilation": 1, "padding": 0, "output_size": 1}
"""PyTorch's smallest value of each size argument of a convolution or pooling."""


def _pair(name: str, what: str, v: Size, n: int = 2) -> tuple[int, ...]:
    """``v`` (an int, or a tuple or list of ``n`` ints) as a tuple of ``n`` ints, each at least ``MINIMUM[what]``.

    Raises:
        TypeError: an item is not an int (a float, a bool, a string), naming the layer and the argument.
        ValueError: a tuple of another length, or a value below the minimum (a stride of 0 or -1, ...).
    """
    t = tuple(v) if isinstance(v, tuple | list) else (v,) * n
    if len(t) != n:
        raise ValueError(f"{name}: {what} must be an int or a tuple of {n} ints, got {v!r}")
    return tuple(validate.integer(name, i, what, low=MINIMUM[what]) for i in t)


def _padding(name: str, padding: Size | str, kernel: tuple[int, ...], dilation: tuple[int, ...],
             stride: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """``(before, after)`` padding per spatial axis; "same" puts the odd pixel after, as PyTorch does."""
    if padding == "valid":
        return ((0, 0),) * len(kernel)
    if padding == "same":
        if stride != (1,) * len(stride):
            raise ValueError(f"{name}: padding='same' needs stride 1, got stride {stride}")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)
    if isinstance(padding, str):
        raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    return tuple((p, p) for p in _pair(name, "padding", padding, len(kernel)))


@scope("conv2d")
def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Size = 1, padding: Size | str = 0,
           dilation: Size = 1, groups: int = 1, *, name: str = "conv2d") -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) of (N, C, H, W) with weight (O, C/groups, kh, kw).

    Args:
        x: input of shape (N, C, H, W).
        weight: filters of shape (O, C/groups, kh, kw).
        bias: optional (O,) added to every output position.
        stride: an int or a (h, w) pair.
        padding: zeros around the input: an int, a (h, w) pair, "valid" (none) or "same" (output size =
            input size; stride 1 only).
        dilation: spacing of the kernel's taps, an int or a (h, w) pair.
        groups: split the channels into this many independent groups.
        name: the layer named in error messages.

    Returns:
        (N, O, H_out, W_out).

    Raises:
        ShapeError: shapes that do not fit (channels, groups, a kernel larger than the padded input),
            naming the layer and the shapes (a ValueError).
        ValueError: a malformed stride, padding or dilation.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    stride, dilation = _pair(name, "stride", stride), _pair(name, "dilation", dilation)
    validate.integer(name, groups, "groups")
    if x.ndim != 4 or weight.ndim != 4:
        raise ShapeError(f"{name}: expected a 4D input (N, C, H, W) and a 4D weight (O, C/groups, kh, kw), got "
                         f"input {x.shape} and weight {weight.shape}")
    out, per_group, kh, kw = weight.shape
    if kh < 1 or kw < 1:
        raise ShapeError(f"{name}: the kernel must be at least 1x1, got weight of shape {weight.shape}")
    if groups < 1 or x.shape[1] % groups or out % groups:
        raise ShapeError(f"{name}: groups={groups} must divide both the input channels ({x.shape[1]}, input "
                         f"{x.shape}) and the output channels ({out}, weight {weight.shape})")
    if x.shape[1] != per_group * groups:
        raise ShapeError(f"{name}: expected an input with {per_group * groups} channels (weight {weight.shape}, "
                         f"groups={groups}), got input of shape {x.shape}")
    if bias is not None and bias.shape != (out,):
        raise ShapeError(f"{name}: bias has shape {bias.shape}, expected ({out},) for weight {weight.shape}")
    (top, bottom), (left, right) = _padding(name, padding, (kh, kw), dilation, stride)
    for size, lo, hi, k, d in ((x.shape[2], top, bottom, kh, dilation[0]), (x.shape[3], left, right, kw, dilation[1])):
        if size + lo + hi < d * (k - 1) + 1:
            raise ShapeError(f"{name}: kernel ({kh}, {kw}) with dilation {dilation} is larger than the input "
                             f"{x.shape} padded by {padding}")
    if (top, left) != (bottom, right):  # asymmetric ("same" with an even kernel): pad explicitly
        x = ops.pad(x, widths=((0, 0), (0, 0), (top, bottom), (left, right)))
        top = left = 0
    y = ops.conv2d(x, weight, stride=stride, padding=(top, left), dilation=dilation, groups=groups)
    return y if bias is None else y + bias.reshape(1, out, 1, 1)


@scope("conv1d")
def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Size = 1, padding: Size | str = 0,
           dilation: Size = 1, groups: int = 1, *, name: str = "conv1d") -> Tensor:
    """1-D convolution of (N, C, L) with weight (O, C/groups, k): :func:`conv2d` over a height of 1.

    Args:
        x: input of shape (N, C, L).
        weight: filters of shape (O, C/groups, k).
        bias: optional (O,).
        stride: an int or a 1-tuple.
        padding: an int, a 1-tuple, "same" or "valid".
        dilation: an int or a 1-tuple.
        groups: independent channel groups.
        name: the layer named in error messages.

    Returns:
        (N, O, L_out).

    Raises:
        ShapeError: a non-3D input or weight, or shapes that do not fit (as :func:`conv2d`).
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 3 or weight.ndim != 3:
        raise ShapeError(f"{name}: expected a 3D input (N, C, L) and a 3D weight (O, C/groups, k), got input "
                         f"{x.shape} and weight {weight.shape}")
    pad = padding if isinstance(padding, str) else (0, _pair(name, "padding", padding, 1)[0])
    y = conv2d(x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]), weight.reshape(*weight.shape[:2], 1, -1), bias,
               (1, _pair(name, "stride", stride, 1)[0]), pad, (1, _pair(name, "dilation", dilation, 1)[0]), groups,
               name=name)
    return y.reshape(y.shape[0], y.shape[1], y.shape[3])


class _ConvNd(Module):
    """Shared construction: PyTorch's weight layout (out, in/groups, *kernel) and default init."""

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size | str = 0, dilation: Size = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = None,
                 generator: np.random.Generator | int | None = None) -> None:
        super().__init__()
        name, n = type(self).__name__, self._dims
        for what, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            validate.integer(name, v, what)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(name, "kernel_size", kernel_size, n)
        self.stride, self.dilation = _pair(name, "stride", stride, n), _pair(name, "dilation", dilation, n)
        _padding(name, padding, self.kernel_size, self.dilation, self.stride)
        self.padding = padding if isinstance(padding, str) else _pair(name, "padding", padding, n)
        fan_in = in_channels // groups * int(np.prod(self.kernel_size))
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight, self.bias = _uniform_parameter(fan_in, shape, bias, dtype, generator)

    def forward(self, x: Tensor) -> Tensor:
        return (conv2d if self._dims == 2 else conv1d)(x, self.weight, self.bias, self.stride, self.padding,
                                                       self.dilation, self.groups, name=type(self).__name__)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0,) * self._dims, "valid"):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) inputs; weight (out_channels, in_channels/groups, kh, kw).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (filters).
        kernel_size: an int or an (h, w) pair.
        stride: an int or an (h, w) pair.
        padding: an int, an (h, w) pair, "valid" or "same".
        dilation: an int or an (h, w) pair.
        groups: independent channel groups (must divide both channel counts).
        bias: whether to add a learned (out_channels,) bias.
        padding_mode: only "zeros".
        dtype: parameter dtype (the default float dtype when None).
        generator: numpy Generator or seed for the init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch.

    Raises:
        ValueError: groups not dividing both channel counts, a padding_mode other than "zeros", "same"
            padding with a stride, or a malformed size argument (naming the layer).
    """

    _dims = 2


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) inputs; weight (out_channels, in_channels/groups, k).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (filters).
        kernel_size: an int or a 1-tuple.
        stride: an int or a 1-tuple.
        padding: an int, a 1-tuple, "valid" or "same".
        dilation: an int or a 1-tuple.
        groups: independent channel groups (must divide both channel counts).
        bias: whether to add a learned (out_channels,) bias.
        padding_mode: only "zeros".
        dtype: parameter dtype (the default float dtype when None).
        generator: numpy Generator or seed for the init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch.

    Raises:
        ValueError: groups not dividing both channel counts, a padding_mode other than "zeros", "same"
            padding with a stride, or a malformed size argument (naming the layer).
    """

    _dims = 1
