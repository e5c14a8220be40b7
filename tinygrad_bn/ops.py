"""Every primitive op: its forward and its vector-Jacobian product, side by side.

A primitive is two functions. The forward takes the inputs' ndarrays (keyword arguments are the op's
attributes) and returns the output array. The vjp, declared with ``@op.defvjp``, is
``vjp(F, need, g, out, *inputs, **attrs)``: it maps the output's gradient ``g`` to one gradient per
input, None where ``need[i]`` is False or there is none. It is written with operators and the
primitives of the namespace ``F``, so one code path serves both backward passes: the plain backward
passes ndarrays and ``F = ARRAYS`` (the forwards themselves: numpy calls, no Tensor, no Node), and
``create_graph=True`` passes Tensors and ``F`` = this module, so the backward pass is recorded and
can be differentiated again. Masks computed from ``np.asarray(x)`` are constants in both. Gradients
may keep the output's broadcast shape: the engine undoes broadcasting with the one ``autograd.unbroadcast``.
"""

from __future__ import annotations

import builtins
import functools
import math
import operator
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import anomaly
from .autograd import Node, _grad_enabled, _recording, _tape, current_module, unbroadcast
from .tensor import ShapeError, Tensor, _result

Forward = Callable[..., np.ndarray]
Vjp = Callable[..., tuple[Any, ...]]

ARRAYS = SimpleNamespace()
"""The library's primitives as functions of ndarrays (their forwards): ``F`` in a plain backward pass."""
_data = operator.attrgetter("data")


def primitive(fn: Forward | None = None, *, random: bool = False) -> Callable[..., Tensor]:
    """Declare a primitive op from its forward function (see the module docstring).

    Positional arguments are the op's input tensors; keyword arguments are its attributes, stored
    on the graph node. Non-Tensor inputs (numbers, arrays) become constants, Python and numpy
    scalars taking the dtype of the tensor they are combined with. In grad mode a node is recorded
    when an input requires grad, when the op is random, when an input was itself recorded (so a
    value computed from a dropout mask stays in the graph for ``viz``), or always inside ``record()``.
    The returned op has ``defvjp``, the decorator that declares its vjp.
    """
    if fn is None:
        return functools.partial(primitive, random=random)
    name = fn.__name__.rstrip("_")
    vjp: Vjp | None = None

    @functools.wraps(fn)
    def apply(*args: Any, **attrs: Any) -> Tensor:
        inputs = args
        for a in args:
            if not isinstance(a, Tensor):
                inputs = _tensors(args)
                break
        try:
            data = fn(*map(_data, inputs), **attrs)
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
                if needs and vjp is None:
                    raise TypeError(f"{name}: an input requires grad but the op has no vjp (declare one "
                                    f"with @{name}.defvjp)")
                out.requires_grad = needs
                out.node = Node(name, inputs, attrs, vjp if needs else None, random, fn)
                tape = _tape.get()
                if tape is not None:  # a jit recording replays the ops in the order they ran
                    tape[3].append(out)
        if anomaly._state.forward:
            anomaly.check_forward(name, inputs, out, current_module())
        return out

    def defvjp(v: Vjp) -> Vjp:
        """Declare ``v(F, need, g, out, *inputs, **attrs)`` as the op's vector-Jacobian product."""
        nonlocal vjp
        vjp = v
        return v

    apply.op_name = name  # type: ignore[attr-defined]
    apply.defvjp = defvjp  # type: ignore[attr-defined]
    if fn.__module__ == __name__:  # the library's own: callable in vjps as F.<name>
        setattr(ARRAYS, name, fn)
    return apply


def _tensors(args: tuple) -> tuple[Tensor, ...]:
    ref = None
    for a in args:
        if isinstance(a, Tensor) and a.data.dtype.kind == "f":
            ref = a.data.dtype
            break
    return tuple([a if isinstance(a, Tensor) else _constant(a, ref) for a in args])


def _constant(a: Any, ref: np.dtype | None) -> Tensor:
    """A non-Tensor input as a constant: a Python number takes the dtype ``ref`` of the float tensor beside it."""
    if ref is not None and isinstance(a, _NUMBERS):  # the common constant
        return _result(np.array(a, dtype=ref))
    if isinstance(a, np.ndarray) and a.ndim > 0 and a.dtype.kind == "f":
        return Tensor(a)
    return Tensor(a, dtype=ref if ref is not None and np.asarray(a).dtype.kind in "biuf" else None)


_NUMBERS = (int, float)


def _broadcast(name: str, fn: Callable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``fn(a, b)`` under numpy broadcasting; a ShapeError naming the shapes if they do not fit."""
    try:
        return fn(a, b)
    except ValueError:
        raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def _expand(F: Any, g: Any, shape: tuple[int, ...], axis: tuple[int, ...], keepdims: bool) -> Any:
    """Bring a reduction's output gradient back to the rank of the input ``shape``, ready to broadcast."""
    if not keepdims:
        g = F.reshape(g, shape=tuple(1 if i in axis else n for i, n in enumerate(shape)))
    return g


def _mean(a: np.ndarray, axis: tuple[int, ...], keepdims: bool, n: int) -> np.ndarray:
    """``a.mean`` without numpy's Python-level wrapper for float32/float64 (the same sum, then divide)."""
    if not n:  # an empty axis: nan, as in numpy and PyTorch (without numpy's warning)
        return np.add.reduce(a, axis=axis, keepdims=keepdims) * np.nan
    if a.dtype.kind == "f" and a.dtype.itemsize >= 4:
        return np.add.reduce(a, axis=axis, keepdims=keepdims) / n
    return a.mean(axis=axis, keepdims=keepdims)


def _count(shape: tuple[int, ...], axis: tuple[int, ...]) -> int:
    return math.prod(shape[a] for a in axis)


def _masked(F: Any, off: Any, g: Any) -> Any:
    """``g`` where ``off`` is False, exactly 0 where it is True (even if ``g`` is inf or nan there).

    On arrays of more than 1,024 entries it multiplies by the kept mask, 20x faster than ``np.where`` on a
    random mask (a masked-out negative entry becomes -0.0, which equals 0.0), and falls back to ``where``
    only when an inf or nan met the mask (the product is not finite).
    """
    if F is not ARRAYS:  # under create_graph: a recorded where
        return F.where(off, _zero(g.dtype), g)
    if g.size > 1024:
        kept = g * ~off
        if np.isfinite(kept).all():
            return kept
    return np.where(off, _zero(g.dtype), g)  # off is boolean: the where primitive's cast is not needed


@functools.cache
def _zero(dtype: np.dtype) -> np.ndarray:
    """A read-only 0-d zero of ``dtype``: numpy combines it with an array in half the time of the number 0."""
    z = np.zeros((), dtype)
    z.flags.writeable = False
    return z


# ----- elementwise binary -------------------------------------------------------------------

@primitive
def add(a: np.ndarray, b: np.ndarray):
    return _broadcast("add", np.add, a, b)


@add.defvjp
def _add_vjp(F, need, g, out, a, b):
    return g, g


@primitive
def sub(a: np.ndarray, b: np.ndarray):
    return _broadcast("sub", np.subtract, a, b)


@sub.defvjp
def _sub_vjp(F, need, g, out, a, b):
    return g, -unbroadcast(F, g, b.shape) if need[1] else None  # negate after summing a broadcast b


@primitive
def mul(a: np.ndarray, b: np.ndarray):
    return _broadcast("mul", np.multiply, a, b)


@mul.defvjp
def _mul_vjp(F, need, g, out, a, b):
    return g * b if need[0] else None, g * a if need[1] else None


@primitive
def div(a: np.ndarray, b: np.ndarray):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _broadcast("div", np.divide, a, b)


@div.defvjp
def _div_vjp(F, need, g, out, a, b):
    ga = g / b
    return ga if need[0] else None, -unbroadcast(F, ga * out, b.shape) if need[1] else None


@primitive
def pow(x: np.ndarray, y: np.ndarray | None = None, *, exponent: float | None = None):
    """``x ** exponent`` (a number, stored as an attribute) or ``x ** y`` (a tensor)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if y is None:
            return x ** np.asarray(exponent, dtype=x.dtype)
        return _broadcast("pow", np.power, x, y)


@pow.defvjp
def _pow_vjp(F, need, g, out, x, y=None, *, exponent=None):
    if y is None:
        p = exponent
        return (_masked(F, np.ones(g.shape, bool), g) if p == 0 else g if p == 1 else g * p * F.pow(x, exponent=p - 1),)
    # PyTorch's choices at 0 ** 0: no gradient through a zero exponent, none into it from a zero base
    xv, yv = np.asarray(x), np.asarray(y)
    gx = F.where(yv == 0, 0.0, g * y * F.pow(x, y - 1)) if need[0] else None
    gy = F.where((xv == 0) & (yv >= 0), 0.0, g * out * F.log(x)) if need[1] else None
    return gx, gy


@primitive
def maximum(a: np.ndarray, b: np.ndarray):
    """Elementwise maximum; at ties the gradient is split evenly."""
    return _broadcast("maximum", np.maximum, a, b)


@maximum.defvjp
def _maximum_vjp(F, need, g, out, a, b):
    return _pick(F, g, np.asarray(a), np.asarray(b), np.less)


@primitive
def minimum(a: np.ndarray, b: np.ndarray):
    """Elementwise minimum; at ties the gradient is split evenly."""
    return _broadcast("minimum", np.minimum, a, b)


@minimum.defvjp
def _minimum_vjp(F, need, g, out, a, b):
    return _pick(F, g, np.asarray(a), np.asarray(b), np.greater)


def _pick(F: Any, g: Any, a: np.ndarray, b: np.ndarray, loses: Callable) -> tuple[Any, Any]:
    """PyTorch's rule: the gradient goes to each operand that does not lose (halved at ties, whole for nan),
    selected with ``where`` so an inf or nan arriving for the losing operand gives it 0, not nan."""
    tie = a == b
    shared = F.where(tie, g * 0.5, g) if tie.any() else g
    return _masked(F, loses(a, b), shared), _masked(F, loses(b, a), shared)


@primitive
def where(cond: np.ndarray, a: np.ndarray, b: np.ndarray):
    """``a`` where ``cond`` else ``b``; ``cond`` gets no gradient."""
    try:
        return np.where(cond.astype(bool, copy=False), a, b)
    except ValueError:
        raise ShapeError(f"where: shapes {cond.shape} and {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None


@where.defvjp
def _where_vjp(F, need, g, out, cond, a, b):
    mask = np.asarray(cond).astype(bool, copy=False)
    return None, _masked(F, ~mask, g) if need[1] else None, _masked(F, mask, g) if need[2] else None


# ----- elementwise unary --------------------------------------------------------------------

@primitive
def neg(x: np.ndarray):
    return -x


@neg.defvjp
def _neg_vjp(F, need, g, out, x):
    return (-g,)


@primitive
def exp(x: np.ndarray):
    return np.exp(x)


@exp.defvjp
def _exp_vjp(F, need, g, out, x):
    return (g * out,)


@primitive
def log(x: np.ndarray):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x)


@log.defvjp
def _log_vjp(F, need, g, out, x):
    return (g / x,)


@primitive
def sqrt(x: np.ndarray):
    with np.errstate(invalid="ignore"):
        return np.sqrt(x)


@sqrt.defvjp
def _sqrt_vjp(F, need, g, out, x):
    return (g / (out + out),)


@primitive
def relu(x: np.ndarray):
    return np.maximum(x, _zero(x.dtype))


@relu.defvjp
def _relu_vjp(F, need, g, out, x):
    return (_masked(F, np.asarray(x) <= _zero(x.dtype), g),)


@primitive
def tanh(x: np.ndarray):
    return np.tanh(x)


@tanh.defvjp
def _tanh_vjp(F, need, g, out, x):
    return (g * (1 - out * out),)


@primitive
def sigmoid(x: np.ndarray):
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow, and full relative precision in both tails
    return (np.where(x >= 0, 1, e) / (1 + e)).astype(x.dtype, copy=False)


@sigmoid.defvjp
def _sigmoid_vjp(F, need, g, out, x):
    return (g * out * (1 - out),)


@primitive
def abs(x: np.ndarray):
    return np.abs(x)


@abs.defvjp
def _abs_vjp(F, need, g, out, x):
    x = np.asarray(x)  # PyTorch's sgn: 0 at 0 and at nan
    return (g * ((x > 0).astype(x.dtype) - (x < 0)),)


@primitive
def clip(x: np.ndarray, *, min: float | None = None, max: float | None = None):
    """Limit to [min, max]; the gradient passes where min <= x <= max."""
    return np.clip(x, -np.inf if min is None else min, np.inf if max is None else max).astype(x.dtype, copy=False)


@clip.defvjp
def _clip_vjp(F, need, g, out, x, *, min=None, max=None):
    v = np.asarray(x)  # the in-range mask: no gradient at nan, as PyTorch
    return (_masked(F, ~((v >= (-np.inf if min is None else min)) & (v <= (np.inf if max is None else max))), g),)


@primitive
def astype(x: np.ndarray, *, dtype: np.dtype):
    return x.astype(dtype)


@astype.defvjp
def _astype_vjp(F, need, g, out, x, *, dtype):
    return (g.astype(x.dtype),)


@primitive
def clone(x: np.ndarray):
    """A copy of ``x`` with its own memory; the gradient passes unchanged."""
    return x.copy()


@clone.defvjp
def _clone_vjp(F, need, g, out, x):
    return (g,)


@primitive
def logsigmoid(x: np.ndarray):
    """``log(sigmoid(x)) = -log(1 + exp(-x))``, finite and exact in both tails."""
    return -np.logaddexp(0, -x)


@logsigmoid.defvjp
def _logsigmoid_vjp(F, need, g, out, x):
    return (g * F.sigmoid(-x),)


@primitive
def softplus(x: np.ndarray, *, beta: float = 1.0, threshold: float = 20.0):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold`` (PyTorch's rule)."""
    bx = x * beta
    return np.where(bx > threshold, x, np.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)


@softplus.defvjp
def _softplus_vjp(F, need, g, out, x, *, beta=1.0, threshold=20.0):
    return (g * F.where(np.asarray(x) * beta > threshold, 1.0, F.sigmoid(x * beta)),)


@primitive
def erf(x: np.ndarray):
    """The error function (scipy's); its derivative is ``2/sqrt(pi) * exp(-x**2)``."""
    from scipy.special import erf as _erf
    return _erf(x).astype(x.dtype, copy=False)


@erf.defvjp
def _erf_vjp(F, need, g, out, x):
    return (g * (2 / math.sqrt(math.pi)) * F.exp(-(x * x)),)


# ----- reductions (axis: a sorted tuple of non-negative axes, normalized by Tensor) ---------

@primitive
def sum(x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False):
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


@sum.defvjp
def _sum_vjp(F, need, g, out, x, *, axis, keepdims=False):
    return (F.broadcast_to(_expand(F, g, x.shape, axis, keepdims), shape=x.shape),)


@primitive
def mean(x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False):
    return _mean(x, axis, keepdims, _count(x.shape, axis))


@mean.defvjp
def _mean_vjp(F, need, g, out, x, *, axis, keepdims=False):
    n = _count(x.shape, axis)
    return (F.broadcast_to(_expand(F, g, x.shape, axis, keepdims) * (1 / n if n else 0.0), shape=x.shape),)


@primitive
def var(x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False, correction: int = 0):
    """Variance over ``axis`` divided by ``n - correction``."""
    n = _count(x.shape, axis)
    dof = builtins.max(n - correction, 0)  # PyTorch's divisor (inf/nan when correction >= n); vjp: n - correction
    centred = x - _mean(x, axis, True, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.add.reduce(centred * centred, axis=axis, keepdims=keepdims) / dof


@var.defvjp
def _var_vjp(F, need, g, out, x, *, axis, keepdims=False, correction=0):
    n = _count(x.shape, axis)
    scale = 2.0 / (n - correction) if n != correction else np.inf
    return (_expand(F, g, x.shape, axis, keepdims) * scale * (x - F.mean(x, axis=axis, keepdims=True)),)


def _extreme(name: str, fn: Callable) -> Callable[..., Tensor]:
    def forward(x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False):
        empty = [a for a in axis if x.shape[a] == 0]
        if empty:
            raise ShapeError(f"{name}: cannot reduce an empty axis: axis {empty[0]} of size 0 (empty tensor of shape "
                             f"{x.shape})")
        return fn(x, axis=axis, keepdims=keepdims)
    forward.__name__ = name
    forward.__doc__ = f"{name.capitalize()} over ``axis``; ties share the gradient evenly."
    op = primitive(forward)

    @op.defvjp
    def vjp(F, need, g, out, x, *, axis, keepdims=False):
        v = np.asarray(x)
        hit = v == fn(v, axis=axis, keepdims=True)
        return (_expand(F, g, x.shape, axis, keepdims) * (hit / hit.sum(axis=axis, keepdims=True)).astype(v.dtype),)
    return op


max = _extreme("max", np.max)
min = _extreme("min", np.min)


# ----- shape --------------------------------------------------------------------------------

@primitive
def reshape(x: np.ndarray, *, shape: tuple[int, ...]):
    try:
        return x.reshape(shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape shape {x.shape} ({x.size} elements) to {shape}") from None


@reshape.defvjp
def _reshape_vjp(F, need, g, out, x, *, shape):
    return (F.reshape(g, shape=x.shape),)


@primitive
def transpose(x: np.ndarray, *, axes: tuple[int, ...]):
    """Permute axes: output axis i is input axis ``axes[i]``."""
    return x.transpose(axes)


@transpose.defvjp
def _transpose_vjp(F, need, g, out, x, *, axes):
    return (F.transpose(g, axes=tuple(sorted(range(len(axes)), key=axes.__getitem__))),)


@primitive
def broadcast_to(x: np.ndarray, *, shape: tuple[int, ...]):
    """Broadcast to ``shape``; the engine's ``unbroadcast`` sums the gradient back."""
    try:
        return np.broadcast_to(x, shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None


@broadcast_to.defvjp
def _broadcast_to_vjp(F, need, g, out, x, *, shape):
    return (g,)


@primitive
def getitem(x: np.ndarray, *, index: Any):
    """Basic and integer-array indexing; the gradient is scattered back with ``np.add.at``."""
    return x[index]


@getitem.defvjp
def _getitem_vjp(F, need, g, out, x, *, index):
    return (F.scatter_add(g, index=index, shape=x.shape),)


@primitive
def scatter_add(g: np.ndarray, *, index: Any, shape: tuple[int, ...]):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated positions add up)."""
    data = np.zeros(shape, dtype=g.dtype)
    np.add.at(data, index, g)
    return data


@scatter_add.defvjp
def _scatter_add_vjp(F, need, gg, out, g, *, index, shape):
    return (F.getitem(gg, index=index),)


@primitive
def concatenate(*xs: np.ndarray, axis: int = 0):
    return np.concatenate(xs, axis=axis)


@concatenate.defvjp
def _concatenate_vjp(F, need, g, out, *xs, axis=0):
    edges = np.cumsum([0] + [x.shape[axis] for x in xs])
    cut = (slice(None),) * axis
    return tuple(g[(*cut, slice(lo, hi))] for lo, hi in zip(edges[:-1], edges[1:]))


@primitive
def stack(*xs: np.ndarray, axis: int = 0):
    return np.stack(xs, axis=axis)


@stack.defvjp
def _stack_vjp(F, need, g, out, *xs, axis=0):
    return tuple(g[(slice(None),) * axis + (i,)] for i in range(len(xs)))


# ----- linear algebra -----------------------------------------------------------------------

@primitive
def matmul(a: np.ndarray, b: np.ndarray):
    """Matrix product with numpy's rules: 1-D, 2-D and batched (broadcast) operands."""
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit: the last axis of the first "
                         "must equal the second-to-last (or only) axis of the second")
    try:
        return a @ b
    except ValueError:
        raise ShapeError(f"matmul: batch shapes of {a.shape} and {b.shape} cannot be broadcast") from None


@matmul.defvjp
def _matmul_vjp(F, need, g, out, a, b):
    a2 = F.reshape(a, shape=(1, -1)) if a.ndim == 1 else a  # vectors as 1-row / 1-column matrices
    b2 = F.reshape(b, shape=(-1, 1)) if b.ndim == 1 else b
    if a.ndim == 1:
        g = F.reshape(g, shape=(*g.shape[:-1], 1, g.shape[-1]) if b.ndim > 1 else (1, *g.shape))
    if b.ndim == 1:
        g = F.reshape(g, shape=(*g.shape, 1))
    ga = F.matmul(g, _mT(F, b2)) if need[0] else None
    gb = None
    if need[1]:  # in b's memory order (b is often a transposed weight): no strided copy later
        v = np.asarray(b)
        f_order = v.ndim == 2 and v.flags.f_contiguous and not v.flags.c_contiguous
        gb = _mT(F, F.matmul(_mT(F, g), a2)) if f_order else F.matmul(_mT(F, a2), g)
        if b.ndim == 1:
            gb = F.reshape(gb, shape=gb.shape[:-1])
    return ga, gb


def _mT(F: Any, t: Any) -> Any:
    """Swap the last two axes."""
    n = t.ndim
    return F.transpose(t, axes=(*range(n - 2), n - 1, n - 2))


# ----- random -------------------------------------------------------------------------------

@primitive(random=True)
def bernoulli(*, p: float, shape: tuple[int, ...], dtype: np.dtype, generator: np.random.Generator):
    """A 0/1 mask of ``shape``, each entry 1 with probability ``p`` (a random source in the graph, no vjp)."""
    return (generator.random(shape) < p).astype(dtype)


# ----- sliding windows (convolution and pooling) --------------------------------------------

@primitive
def pad(x: np.ndarray, *, widths: tuple[tuple[int, int], ...], value: float = 0.0):
    """Constant padding: ``widths[i] = (before, after)`` entries of ``value`` around axis i."""
    data = np.full(tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths)), value, dtype=x.dtype)
    data[_inner(x.shape, widths)] = x
    return data


@pad.defvjp
def _pad_vjp(F, need, g, out, x, *, widths, value=0.0):
    return (g[_inner(x.shape, widths)],)


def _inner(shape: tuple[int, ...], widths: tuple[tuple[int, int], ...]) -> tuple[slice, ...]:
    return tuple(slice(lo, lo + n) for n, (lo, _) in zip(shape, widths))


def _windows(op: str, shape: tuple[int, ...], kernel: tuple[int, int], dilation: tuple[int, int],
             padding: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    """Output height and width of sliding ``kernel`` over the last two axes of ``shape``."""
    out = tuple((shape[i + 2] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in (0, 1))
    if out[0] < 1 or out[1] < 1:
        raise ShapeError(f"{op}: kernel {kernel} with dilation {dilation} is larger than the input {shape[2:]} "
                         f"padded by {padding}")
    return out  # type: ignore[return-value]


@primitive
def unfold(x: np.ndarray, *, kernel_size: tuple[int, int], dilation: tuple[int, int] = (1, 1),
           padding: tuple[int, int] = (0, 0), stride: tuple[int, int] = (1, 1)):
    """Sliding blocks of (N, C, H, W) as (N, C*kh*kw, L) (im2col), like ``torch.nn.functional.unfold``.

    The forward is one copy of a strided view of the zero-padded input; the vjp is :func:`fold`.
    """
    view = _blocks("unfold", x, kernel_size, dilation, padding, stride)
    n, c, kh, kw, oh, ow = view.shape
    return view.reshape(n, c * kh * kw, oh * ow)


def _blocks(op: str, x: np.ndarray, kernel: tuple[int, int], dilation: tuple[int, int], padding: tuple[int, int],
            stride: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """Every window of (N, C, H, W) ``x`` padded with ``fill``: a strided view (N, C, kh, kw, H_out, W_out)."""
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = kernel, padding
    oh, ow = _windows(op, x.shape, kernel, dilation, padding, stride)
    xp = x
    if ph or pw:
        xp = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, dtype=x.dtype)
        xp[:, :, ph:ph + h, pw:pw + w] = x
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (n, c, kh, kw, oh, ow),
        (s[0], s[1], s[2] * dilation[0], s[3] * dilation[1], s[2] * stride[0], s[3] * stride[1]), writeable=False)


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
    oh, ow = _windows("fold", (n, 0, h, w), kernel_size, dilation, padding, stride)
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
    :func:`_batches`). The vjp is one GEMM and :func:`fold` for the input, :func:`unfold` and one GEMM
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
    oh, ow = _windows("conv2d", x.shape, (kh, kw), dilation, padding, stride)
    k, length = w.shape[1] * kh * kw, oh * ow
    y = np.empty((n, o, length), dtype=np.result_type(x, w))
    for sl in _batches(n, x.shape[1] * kh * kw * length * x.itemsize):
        cols = _columns(_blocks("conv2d", x[sl], (kh, kw), dilation, padding, stride), groups, k)
        part = _gemms(ARRAYS, w.reshape(groups, o // groups, k), cols)  # (groups, O/groups, n*L), n of this batch
        y[sl] = part.reshape(o, cols.shape[2] // length, length).transpose(1, 0, 2)
    return y.reshape(n, o, oh, ow)


_BATCH_BYTES = 1 << 22


def _batches(n: int, nbytes: int) -> list[slice]:
    """Slices of the batch whose im2col columns (``nbytes`` per sample) take about ``_BATCH_BYTES``.

    conv2d works a few samples at a time so the columns a GEMM writes are still in cache when they
    are read (the fold, the next GEMM): 10-15% faster than whole-batch columns seven times the size.
    """
    step = builtins.max(1, _BATCH_BYTES // builtins.max(nbytes, 1))
    return [slice(i, i + step) for i in range(0, n, step)] or [slice(0, 0)]


def _columns(view: np.ndarray, groups: int, k: int) -> np.ndarray:
    """The windows' view (N, C, kh, kw, H_out, W_out) as one contiguous copy (groups, k = C/groups*kh*kw, N*L)."""
    n, oh, ow = view.shape[0], *view.shape[4:]
    return np.ascontiguousarray(view.transpose(1, 2, 3, 0, 4, 5)).reshape(groups, k, n * oh * ow)


@conv2d.defvjp
def _conv2d_vjp(F, need, g, out, x, w, *, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    window = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if F is not ARRAYS:  # create_graph: the whole batch at once, in differentiable ops
        return _conv2d_grads(F, need, g, x, w, **window)
    gx = np.empty(x.shape, np.result_type(g, w)) if need[0] else None
    gw = np.zeros(w.shape, np.result_type(g, x)) if need[1] else None
    for sl in _batches(x.shape[0], x.shape[1] * w.shape[2] * w.shape[3] * g.shape[2] * g.shape[3] * x.itemsize):
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
        cols = _gemms(F, _mT(F, F.reshape(w, shape=(groups, o // groups, k))), gy)  # (groups, K, N*L)
        cols = F.transpose(F.reshape(cols, shape=(groups * k, n, length)), axes=(1, 0, 2))
        gx = F.fold(cols, output_size=x.shape[2:], **window)
    if need[1]:
        if F is ARRAYS:  # the forward's columns again, in one copy (unfold, then the transpose, are two)
            cols = _columns(_blocks("conv2d", x, (kh, kw), dilation, padding, stride), groups, k)
        else:
            cols = F.reshape(F.unfold(x, **window), shape=(n, groups, k, length))
            cols = F.reshape(F.transpose(cols, axes=(1, 2, 0, 3)), shape=(groups, k, n * length))
        gw = F.reshape(_gemms(F, gy, _mT(F, cols)), shape=w.shape)
    return gx, gw


def _gemms(F: Any, a: Any, b: Any) -> Any:
    """(G, M, K) @ (G, K, P): one 2-D GEMM when G is 1, else contiguous operands.

    numpy runs a stacked matmul with a transposed operand without BLAS (tens of times slower).
    """
    if a.shape[0] == 1:
        return F.reshape(F.matmul(F.reshape(a, shape=a.shape[1:]), F.reshape(b, shape=b.shape[1:])),
                         shape=(1, a.shape[1], b.shape[2]))
    a, b = (t if np.asarray(t).flags.c_contiguous else F.clone(t) for t in (a, b))
    return F.matmul(a, b)


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
    view = _blocks("max_pool2d", x, kernel_size, dilation, padding, stride, fill=-np.inf)
    out = view[:, :, 0, 0].copy()
    for i, j in np.ndindex(*kernel_size):
        np.maximum(out, view[:, :, i, j], out=out)
    return out


@max_pool2d.defvjp
def _max_pool2d_vjp(F, need, g, out, x, *, kernel_size, stride, padding=(0, 0), dilation=(1, 1)):
    view = _blocks("max_pool2d", np.asarray(x), kernel_size, dilation, padding, stride, fill=-np.inf)
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


# ----- lookup (embeddings) ------------------------------------------------------------------

@primitive
def embedding(weight: np.ndarray, indices: np.ndarray, *, padding_idx: int | None = None):
    """Rows of the (V, D) ``weight`` picked by integer ``indices`` of any shape: ``indices.shape + (D,)``.

    The vjp sums the gradient rows by index (:func:`embedding_grad`: a sort and one ``np.add.reduceat``,
    no scatter); positions holding ``padding_idx`` pass no gradient, as in PyTorch.

    Args:
        weight: the (V, D) table.
        indices: integer indices in [0, V), any shape (an input of the node, so viz sees its batch axis).
        padding_idx: an index whose positions pass no gradient, or None.

    Returns:
        ``indices.shape + (D,)``.

    Raises:
        IndexError: an index outside [0, V) (numpy would wrap a negative one).
    """
    if indices.size and not 0 <= int(indices.min()) <= int(indices.max()) < weight.shape[0]:
        bad = np.flatnonzero((indices.reshape(-1) < 0) | (indices.reshape(-1) >= weight.shape[0]))[0]
        raise IndexError(f"index {indices.reshape(-1)[bad]} at flat position {bad} is out of range for "
                         f"{weight.shape[0]} rows")
    return weight[indices]


@embedding.defvjp
def _embedding_vjp(F, need, g, out, weight, indices, *, padding_idx=None):
    return F.embedding_grad(g, indices, rows=weight.shape[0], padding_idx=padding_idx), None


@primitive
def embedding_grad(g: np.ndarray, indices: np.ndarray, *, rows: int, padding_idx: int | None = None):
    """(rows, D): row v is the sum of the rows of ``g`` (shape ``indices.shape + (D,)``) whose index is v.

    Positions holding ``padding_idx`` are left out. The adjoint of :func:`embedding`, and the other way round.

    Args:
        g: gradient rows, shape ``indices.shape + (D,)``.
        indices: integer indices in [0, rows).
        rows: V, the number of rows of the result.
        padding_idx: an index whose positions are left out, or None.

    Returns:
        (rows, D).
    """
    flat, vectors = indices.reshape(-1), g.reshape(indices.size, *g.shape[indices.ndim:])
    if padding_idx is not None:
        keep = flat != padding_idx
        flat, vectors = flat[keep], vectors[keep]
    out = np.zeros((rows, *vectors.shape[1:]), dtype=g.dtype)
    if flat.size:
        order = np.argsort(flat, kind="stable")
        ordered = flat[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        out[ordered[starts]] = np.add.reduceat(vectors[order], starts, axis=0)
    return out


@embedding_grad.defvjp
def _embedding_grad_vjp(F, need, gg, out, g, indices, *, rows, padding_idx=None):
    picked = F.embedding(gg, indices)
    if padding_idx is not None:
        picked = picked * (np.asarray(indices) != padding_idx)[..., None].astype(picked.dtype)
    return picked, None
