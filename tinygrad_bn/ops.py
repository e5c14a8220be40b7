"""Every primitive op: its forward (numpy) and its vector-Jacobian product (Tensor ops), side by side.

A primitive ``f(*inputs, **attrs)`` returns ``(out_array, vjp)`` where ``vjp(g, out)`` maps the
gradient of the output to one gradient per input (None where there is none). The vjp is written with
Tensor ops, so under ``create_graph=True`` the backward pass is itself recorded; otherwise it runs
under ``no_grad`` and costs one numpy call per op. Gradients may keep the output's broadcast shape:
the engine undoes broadcasting for every input with the one shared ``autograd.unbroadcast``.
"""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .autograd import Node, _grad_enabled, _recording
from .tensor import ShapeError, Tensor, _result

Forward = Callable[..., tuple[np.ndarray, Callable | None]]


def primitive(fn: Forward | None = None, *, random: bool = False) -> Callable[..., Tensor]:
    """Declare a primitive op from its forward function (see the module docstring).

    Positional arguments are the op's input tensors; keyword arguments are its attributes, stored
    on the graph node. Non-Tensor inputs (numbers, arrays) become constants, Python and numpy
    scalars taking the dtype of the tensor they are combined with. In grad mode a node is recorded
    when an input requires grad, when the op is random, when an input was itself recorded (so a
    value computed from a dropout mask stays in the graph for ``viz``), or always inside ``record()``.
    """
    if fn is None:
        return functools.partial(primitive, random=random)
    name = fn.__name__.rstrip("_")

    @functools.wraps(fn)
    def apply(*args: Any, **attrs: Any) -> Tensor:
        inputs = args
        for a in args:
            if not isinstance(a, Tensor):
                inputs = _tensors(args)
                break
        try:
            data, vjp = fn(*inputs, **attrs)
        except (ValueError, IndexError, TypeError) as e:
            if isinstance(e, ShapeError):
                raise
            shapes = ", ".join(str(t.shape) for t in inputs)
            raise ShapeError(f"{name}: {e} (input shapes {shapes})") from None
        out = _result(data)
        if _grad_enabled.get():  # record when a gradient is needed or a random value flows through
            needs, traced = False, random
            for t in inputs:
                needs = needs or t.requires_grad
                traced = traced or t.node is not None
            if needs or traced or _recording.get():
                out.requires_grad = needs
                out.node = Node(name, inputs, attrs, vjp if needs else None, random=random)
        return out

    apply.op_name = name  # type: ignore[attr-defined]
    return apply


def _tensors(args: tuple) -> tuple[Tensor, ...]:
    ref = next((a.dtype for a in args if isinstance(a, Tensor) and a.dtype.kind == "f"), None)
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, np.ndarray) and a.ndim > 0 and a.dtype.kind == "f":
            out.append(Tensor(a))
        elif ref is not None and isinstance(a, int | float):  # Python numbers, the common constant
            out.append(_result(np.array(a, dtype=ref)))
        else:
            out.append(Tensor(a, dtype=ref if ref is not None and np.asarray(a).dtype.kind in "biuf" else None))
    return tuple(out)


def _broadcast(name: str, fn: Callable, a: Tensor, b: Tensor) -> np.ndarray:
    """``fn(a, b)`` on the arrays under numpy broadcasting; a ShapeError naming the shapes if they do not fit."""
    try:
        return fn(a.data, b.data)
    except ValueError:
        raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def _expand(g: Tensor, x: Tensor, axis: tuple[int, ...], keepdims: bool) -> Tensor:
    """Bring a reduction's output gradient back to the input's rank, ready to broadcast."""
    if not keepdims:
        g = reshape(g, shape=tuple(1 if i in axis else n for i, n in enumerate(x.shape)))
    return g


def _mean(a: np.ndarray, axis: tuple[int, ...], keepdims: bool, n: int) -> np.ndarray:
    """``a.mean`` without numpy's Python-level wrapper for float32/float64 (the same sum, then divide)."""
    if not n:  # an empty axis: nan, as in numpy and PyTorch (without numpy's warning)
        return np.add.reduce(a, axis=axis, keepdims=keepdims) * np.nan
    if a.dtype.kind == "f" and a.dtype.itemsize >= 4:
        return np.add.reduce(a, axis=axis, keepdims=keepdims) / n
    return a.mean(axis=axis, keepdims=keepdims)


def _count(x: Tensor, axis: tuple[int, ...]) -> int:
    shape = x.data.shape
    return math.prod(shape[a] for a in axis)


# ----- elementwise binary -------------------------------------------------------------------

@primitive
def add(a: Tensor, b: Tensor):
    return _broadcast("add", np.add, a, b), lambda g, out: (g, g)


@primitive
def sub(a: Tensor, b: Tensor):
    return _broadcast("sub", np.subtract, a, b), lambda g, out: (g, -g if b.requires_grad else None)


@primitive
def mul(a: Tensor, b: Tensor):
    return (_broadcast("mul", np.multiply, a, b),
            lambda g, out: (g * b if a.requires_grad else None, g * a if b.requires_grad else None))


@primitive
def div(a: Tensor, b: Tensor):
    with np.errstate(divide="ignore", invalid="ignore"):
        data = _broadcast("div", np.divide, a, b)

    def vjp(g: Tensor, out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        ga = g / b
        return ga if a.requires_grad else None, -ga * out if b.requires_grad else None
    return data, vjp


@primitive
def pow(x: Tensor, y: Tensor | None = None, *, exponent: float | None = None):
    """``x ** exponent`` (a number, stored as an attribute) or ``x ** y`` (a tensor)."""
    if y is None:
        p = exponent
        with np.errstate(divide="ignore", invalid="ignore"):
            data = x.data ** np.asarray(p, dtype=x.dtype)
        return data, lambda g, out: (_zeros(g) if p == 0 else g if p == 1 else g * p * x ** (p - 1),)
    with np.errstate(divide="ignore", invalid="ignore"):
        data = _broadcast("pow", np.power, x, y)

    def vjp(g: Tensor, out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        # PyTorch's choices at 0 ** 0: no gradient through a zero exponent, none into it from a zero base
        with np.errstate(divide="ignore", invalid="ignore"):
            gx = where(Tensor(y.data == 0), 0.0, g * y * x ** (y - 1)) if x.requires_grad else None
            gy = where(Tensor((x.data == 0) & (y.data >= 0)), 0.0, g * out * log(x)) if y.requires_grad else None
        return gx, gy
    return data, vjp


def _zeros(g: Tensor) -> Tensor:
    return Tensor(np.zeros(g.shape, dtype=g.dtype))


@primitive
def maximum(a: Tensor, b: Tensor):
    """Elementwise maximum; at ties the gradient is split evenly."""
    return _broadcast("maximum", np.maximum, a, b), lambda g, out: _pick(g, a.data, b.data, np.less)


@primitive
def minimum(a: Tensor, b: Tensor):
    """Elementwise minimum; at ties the gradient is split evenly."""
    return _broadcast("minimum", np.minimum, a, b), lambda g, out: _pick(g, a.data, b.data, np.greater)


def _pick(g: Tensor, a: np.ndarray, b: np.ndarray, loses: Callable) -> tuple[Tensor, Tensor]:
    """PyTorch's rule: the gradient goes to each operand that does not lose (halved at ties, whole for nan),
    selected with ``where`` so an inf or nan arriving for the losing operand gives it 0, not nan."""
    tie = a == b
    shared = where(Tensor(tie), g * 0.5, g) if tie.any() else g
    return _masked(loses(a, b), shared), _masked(loses(b, a), shared)


def _masked(off: np.ndarray, g: Tensor) -> Tensor:
    """``g`` where ``off`` is False, exactly 0 where it is True (even if ``g`` is inf or nan there)."""
    return where(Tensor(off), 0.0, g)


@primitive
def where(cond: Tensor, a: Tensor, b: Tensor):
    """``a`` where ``cond`` else ``b``; ``cond`` gets no gradient."""
    mask = cond.data.astype(bool)
    try:
        data = np.where(mask, a.data, b.data)
    except ValueError:
        raise ShapeError(f"where: shapes {cond.shape} and {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None
    return data, lambda g, out: (None, _masked(~mask, g) if a.requires_grad else None,
                                 _masked(mask, g) if b.requires_grad else None)


# ----- elementwise unary --------------------------------------------------------------------

@primitive
def neg(x: Tensor):
    return -x.data, lambda g, out: (-g,)


@primitive
def exp(x: Tensor):
    return np.exp(x.data), lambda g, out: (g * out,)


@primitive
def log(x: Tensor):
    with np.errstate(divide="ignore", invalid="ignore"):
        data = np.log(x.data)
    return data, lambda g, out: (g / x,)


@primitive
def sqrt(x: Tensor):
    with np.errstate(invalid="ignore"):
        data = np.sqrt(x.data)
    return data, lambda g, out: (g / (out + out),)


@primitive
def relu(x: Tensor):
    return np.maximum(x.data, 0), lambda g, out: (_masked(x.data <= 0, g),)


@primitive
def tanh(x: Tensor):
    return np.tanh(x.data), lambda g, out: (g * (1 - out * out),)


@primitive
def sigmoid(x: Tensor):
    e = np.exp(-np.abs(x.data))  # in (0, 1]: no overflow, and full relative precision in both tails
    data = np.where(x.data >= 0, 1, e) / (1 + e)
    return data.astype(x.dtype, copy=False), lambda g, out: (g * out * (1 - out),)


@primitive
def abs(x: Tensor):
    return np.abs(x.data), lambda g, out: (g * np.sign(x.data),)


@primitive
def clip(x: Tensor, *, min: float | None = None, max: float | None = None):
    """Limit to [min, max]; the gradient passes where min <= x <= max."""
    lo = -np.inf if min is None else min
    hi = np.inf if max is None else max
    data = np.clip(x.data, lo, hi).astype(x.dtype, copy=False)
    return data, lambda g, out: (_masked((x.data < lo) | (x.data > hi), g),)


@primitive
def astype(x: Tensor, *, dtype: np.dtype):
    return x.data.astype(dtype), lambda g, out: (g.astype(x.dtype),)


@primitive
def clone(x: Tensor):
    """A copy of ``x`` with its own memory; the gradient passes unchanged."""
    return x.data.copy(), lambda g, out: (g,)


@primitive
def logsigmoid(x: Tensor):
    """``log(sigmoid(x)) = -log(1 + exp(-x))``, finite and exact in both tails."""
    return -np.logaddexp(0, -x.data), lambda g, out: (g * sigmoid(-x),)


@primitive
def softplus(x: Tensor, *, beta: float = 1.0, threshold: float = 20.0):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold`` (PyTorch's rule)."""
    bx = x.data * beta
    linear = bx > threshold
    data = np.where(linear, x.data, np.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)
    return data, lambda g, out: (g * where(Tensor(linear), 1.0, sigmoid(x * beta)),)


@primitive
def erf(x: Tensor):
    """The error function (scipy's); its derivative is ``2/sqrt(pi) * exp(-x**2)``."""
    from scipy.special import erf as _erf
    return _erf(x.data).astype(x.dtype, copy=False), lambda g, out: (g * (2 / math.sqrt(math.pi)) * exp(-(x * x)),)


# ----- reductions (axis: a sorted tuple of non-negative axes, normalized by Tensor) ---------

@primitive
def sum(x: Tensor, *, axis: tuple[int, ...], keepdims: bool = False):
    return (np.add.reduce(x.data, axis=axis, keepdims=keepdims),
            lambda g, out: (broadcast_to(_expand(g, x, axis, keepdims), shape=x.shape),))


@primitive
def mean(x: Tensor, *, axis: tuple[int, ...], keepdims: bool = False):
    n = _count(x, axis)
    return (_mean(x.data, axis, keepdims, n),
            lambda g, out: (broadcast_to(_expand(g, x, axis, keepdims) * (1 / n if n else 0.0), shape=x.shape),))


@primitive
def var(x: Tensor, *, axis: tuple[int, ...], keepdims: bool = False, correction: int = 0):
    """Variance over ``axis`` divided by ``n - correction``."""
    n = _count(x, axis)
    dof = builtins.max(n - correction, 0)  # PyTorch's divisor (inf/nan when correction >= n); vjp: n - correction
    centred = x.data - _mean(x.data, axis, True, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        data = np.add.reduce(centred * centred, axis=axis, keepdims=keepdims) / dof

    def vjp(g: Tensor, out: Tensor) -> tuple[Tensor]:
        # the plain backward reuses the forward's centred x; a recorded one (create_graph) differentiates it
        c = x - x.mean(axis=axis, keepdims=True) if _grad_enabled.get() else Tensor(centred)
        with np.errstate(invalid="ignore"):
            return (_expand(g, x, axis, keepdims) * (2.0 / (n - correction) if n != correction else np.inf) * c,)
    return data, vjp


def _extreme(name: str, fn: Callable) -> Callable[..., Tensor]:
    def forward(x: Tensor, *, axis: tuple[int, ...], keepdims: bool = False):
        empty = [a for a in axis if x.shape[a] == 0]
        if empty:
            raise ShapeError(f"{name}: cannot reduce axis {empty[0]} of size 0 (tensor of shape {x.shape})")
        data = fn(x.data, axis=axis, keepdims=keepdims)

        def vjp(g: Tensor, out: Tensor) -> tuple[Tensor]:
            hit = x.data == fn(x.data, axis=axis, keepdims=True)
            share = (hit / hit.sum(axis=axis, keepdims=True)).astype(x.dtype)
            return (_expand(g, x, axis, keepdims) * share,)
        return data, vjp
    forward.__name__ = name
    forward.__doc__ = f"{name.capitalize()} over ``axis``; ties share the gradient evenly."
    return primitive(forward)


max = _extreme("max", np.max)
min = _extreme("min", np.min)


# ----- shape --------------------------------------------------------------------------------

@primitive
def reshape(x: Tensor, *, shape: tuple[int, ...]):
    try:
        data = x.data.reshape(shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape shape {x.shape} ({x.size} elements) to {shape}") from None
    return data, lambda g, out: (g.reshape(x.shape),)


@primitive
def transpose(x: Tensor, *, axes: tuple[int, ...]):
    """Permute axes: output axis i is input axis ``axes[i]``."""
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    return x.data.transpose(axes), lambda g, out: (transpose(g, axes=inverse),)


@primitive
def broadcast_to(x: Tensor, *, shape: tuple[int, ...]):
    """Broadcast to ``shape``; the engine's ``unbroadcast`` sums the gradient back."""
    try:
        data = np.broadcast_to(x.data, shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    return data, lambda g, out: (g,)


@primitive
def getitem(x: Tensor, *, index: Any):
    """Basic and integer-array indexing; the gradient is scattered back with ``np.add.at``."""
    return x.data[index], lambda g, out: (scatter_add(g, index=index, shape=x.shape),)


@primitive
def scatter_add(g: Tensor, *, index: Any, shape: tuple[int, ...]):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated positions add up)."""
    data = np.zeros(shape, dtype=g.dtype)
    np.add.at(data, index, g.data)
    return data, lambda gg, out: (gg[index],)


@primitive
def concatenate(*xs: Tensor, axis: int = 0):
    data = np.concatenate([x.data for x in xs], axis=axis)
    edges = np.cumsum([0] + [x.shape[axis] for x in xs])

    def vjp(g: Tensor, out: Tensor) -> tuple[Tensor, ...]:
        cut = [slice(None)] * g.ndim
        return tuple(g[tuple(cut[:axis] + [slice(lo, hi)])] for lo, hi in zip(edges[:-1], edges[1:]))
    return data, vjp


@primitive
def stack(*xs: Tensor, axis: int = 0):
    data = np.stack([x.data for x in xs], axis=axis)
    return data, lambda g, out: tuple(g[(slice(None),) * axis + (i,)] for i in range(len(xs)))


# ----- linear algebra -----------------------------------------------------------------------

@primitive
def matmul(a: Tensor, b: Tensor):
    """Matrix product with numpy's rules: 1-D, 2-D and batched (broadcast) operands."""
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit: the last axis of the first "
                         "must equal the second-to-last (or only) axis of the second")
    try:
        data = a.data @ b.data
    except ValueError:
        raise ShapeError(f"matmul: batch shapes of {a.shape} and {b.shape} cannot be broadcast") from None

    def vjp(g: Tensor, out: Tensor) -> tuple[Tensor, Tensor]:
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        if a.ndim == 1:
            g = g.unsqueeze(-2 if b.ndim > 1 else 0)
        if b.ndim == 1:
            g = g.unsqueeze(-1)
        ga = matmul(g, _mT(b2)) if a.requires_grad else None
        gb = None
        if b.requires_grad:  # in b's memory order (b is often a transposed weight): no strided copy later
            f_order = b.ndim == 2 and b.data.flags.f_contiguous and not b.data.flags.c_contiguous
            gb = _mT(matmul(_mT(g), a2)) if f_order else matmul(_mT(a2), g)
        return ga, (gb.squeeze(-1) if b.ndim == 1 and gb is not None else gb)
    return data, vjp


def _mT(t: Tensor) -> Tensor:
    """Swap the last two axes."""
    n = t.data.ndim
    return transpose(t, axes=(*range(n - 2), n - 1, n - 2))


# ----- random -------------------------------------------------------------------------------

@primitive(random=True)
def bernoulli(*, p: float, shape: tuple[int, ...], dtype: np.dtype, generator: np.random.Generator):
    """A 0/1 mask of ``shape``, each entry 1 with probability ``p`` (a random source in the graph)."""
    return (generator.random(shape) < p).astype(dtype), None


# ----- sliding windows (convolution and pooling) --------------------------------------------

@primitive
def pad(x: Tensor, *, widths: tuple[tuple[int, int], ...], value: float = 0.0):
    """Constant padding: ``widths[i] = (before, after)`` entries of ``value`` around axis i."""
    data = np.full(tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths)), value, dtype=x.dtype)
    inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, widths))
    data[inner] = x.data
    return data, lambda g, out: (g[inner],)


def _windows(op: str, shape: tuple[int, ...], kernel: tuple[int, int], dilation: tuple[int, int],
             padding: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    """Output height and width of sliding ``kernel`` over the last two axes of ``shape``."""
    out = tuple((shape[i + 2] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in (0, 1))
    if out[0] < 1 or out[1] < 1:
        raise ShapeError(f"{op}: kernel {kernel} with dilation {dilation} is larger than the input {shape[2:]} "
                         f"padded by {padding}")
    return out  # type: ignore[return-value]


@primitive
def unfold(x: Tensor, *, kernel_size: tuple[int, int], dilation: tuple[int, int] = (1, 1),
           padding: tuple[int, int] = (0, 0), stride: tuple[int, int] = (1, 1)):
    """Sliding blocks of (N, C, H, W) as (N, C*kh*kw, L) (im2col), like ``torch.nn.functional.unfold``.

    The forward is one copy of a strided view of the zero-padded input; the vjp is :func:`fold`.
    """
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = kernel_size, padding
    oh, ow = _windows("unfold", x.shape, kernel_size, dilation, padding, stride)
    xp = x.data
    if ph or pw:
        xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
        xp[:, :, ph:ph + h, pw:pw + w] = x.data
    s = xp.strides
    view = np.lib.stride_tricks.as_strided(
        xp, (n, c, kh, kw, oh, ow),
        (s[0], s[1], s[2] * dilation[0], s[3] * dilation[1], s[2] * stride[0], s[3] * stride[1]), writeable=False)
    data = view.reshape(n, c * kh * kw, oh * ow)
    return data, lambda g, out: (fold(g, output_size=(h, w), kernel_size=kernel_size, dilation=dilation,
                                      padding=padding, stride=stride),)


@primitive
def fold(cols: Tensor, *, output_size: tuple[int, int], kernel_size: tuple[int, int],
         dilation: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0), stride: tuple[int, int] = (1, 1)):
    """Sum sliding blocks (N, C*kh*kw, L) back into (N, C, H, W) (col2im), like ``torch.nn.functional.fold``.

    One strided add per kernel offset (no scatter); the vjp is :func:`unfold`.
    """
    (h, w), (kh, kw), (ph, pw) = output_size, kernel_size, padding
    n, ckk, length = cols.shape
    oh, ow = _windows("fold", (n, 0, h, w), kernel_size, dilation, padding, stride)
    if ckk % (kh * kw) or length != oh * ow:
        raise ShapeError(f"fold: expected (N, C*{kh}*{kw}, {oh * ow}) blocks for output size {output_size}, "
                         f"got {cols.shape}")
    c = ckk // (kh * kw)
    blocks = cols.data.reshape(n, c, kh, kw, oh, ow)
    data = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    (dh, dw), (sh, sw) = dilation, stride
    for i in range(kh):
        for j in range(kw):
            data[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw] += blocks[:, :, i, j]
    if ph or pw:
        data = np.ascontiguousarray(data[:, :, ph:ph + h, pw:pw + w])
    return data, lambda g, out: (unfold(g, kernel_size=kernel_size, dilation=dilation, padding=padding,
                                        stride=stride),)
