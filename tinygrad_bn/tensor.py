"""Tensor: a numpy array that remembers how it was made, so gradients can flow back through it."""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import autograd, validate
from .validate import AxisError, ShapeError  # noqa: F401  (re-exported: ``from .tensor import ShapeError``)

_default_dtype: np.dtype = np.dtype(np.float32)
_rng: np.random.Generator = np.random.default_rng()

Axis = int | Sequence[int] | None


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python numbers, lists and factories get (float32 unless changed)."""
    global _default_dtype
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_dtype = d


def get_default_dtype() -> np.dtype:
    """The dtype that Python numbers, lists and factories get."""
    return _default_dtype


def manual_seed(seed: int) -> None:
    """Reseed the generator that factories and dropout use when given none."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator(gen: np.random.Generator | int | None = None) -> np.random.Generator:
    """``gen`` as a numpy Generator: itself, a new one seeded with it, or the library's default."""
    if gen is None:
        return _rng
    if isinstance(gen, np.random.Generator):
        return gen
    return np.random.default_rng(gen)


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    if type(data) is np.ndarray and dtype is None and data.dtype.kind in _NUMERIC:  # the common case, first
        return data
    if dtype is not None or isinstance(data, np.ndarray | np.generic):
        return _numeric("Tensor", data, dtype)
    arr = _numeric("Tensor", data, None)
    if arr.dtype.kind in "biuf":  # Python numbers and lists: the default float dtype
        return arr.astype(_default_dtype) if arr.dtype.kind != "b" else arr
    return arr


_NUMERIC = "biufc"  # bool, integers, floats, complex: what a tensor may hold


def _not_differentiable(op: str, arr: np.ndarray) -> TypeError:
    complex_ = ("; complex tensors hold values only: complex gradients (PyTorch's conjugate convention) are not "
                "implemented" if arr.dtype.kind == "c" else "")
    return TypeError(f"{op}: only floating-point tensors can require gradients, got dtype {arr.dtype} "
                     f"(shape {arr.shape}){complex_}")


def _numeric(op: str, data: Any, dtype: Any, copy: bool = False) -> np.ndarray:
    """``data`` as a numeric array, or a clear error naming what it is (never an object or string array)."""
    try:
        arr = np.array(data, dtype=dtype) if copy else np.asarray(data, dtype=dtype)
    except (ValueError, TypeError, OverflowError) as e:
        if isinstance(data, list | tuple) and "inhomogeneous" in str(e):
            raise ValueError(f"{op}: ragged nested sequence: the rows have different lengths "
                             f"({reprlib.repr(data)})") from None
        raise TypeError(f"{op}: cannot make a tensor of dtype {dtype} from {type(data).__name__} "
                        f"{reprlib.repr(data)} ({e})") from None
    if arr.dtype.kind not in _NUMERIC:
        if arr.dtype == object and arr.size and all(isinstance(v, int) for v in arr.flat):
            raise ValueError(f"{op}: integers too large for int64 ({reprlib.repr(data)}); pass them as floats")
        kind = type(data).__name__ if not isinstance(data, np.ndarray) else f"an array of dtype {arr.dtype}"
        raise TypeError(f"{op}: cannot make a numeric tensor from {kind} {reprlib.repr(data)}; expected "
                        "numbers, (nested) lists of numbers or a numeric array")
    return arr


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``data`` is the numpy array itself (writable); ``grad`` is a Tensor or None; ``node`` is the
    :class:`~tinygrad_bn.autograd.Node` that made this tensor, None for leaves.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "node", "_hooks", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # numpy scalars and arrays defer to our reflected operators
    is_parameter = False

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None,
                 dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data: np.ndarray = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise _not_differentiable("Tensor", self.data)
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        self.name = name
        self.node: autograd.Node | None = None
        self._hooks: list[Callable[[Tensor], Tensor | None]] = []
        self._retains_grad = False

    # ----- factories -----------------------------------------------------------------------
    @classmethod
    def _make(cls, data: np.ndarray, dtype: Any, requires_grad: bool, name: str | None) -> Tensor:
        return cls(data.astype(dtype or _default_dtype, copy=False), requires_grad=requires_grad, name=name)

    @classmethod
    def zeros(cls, *shape: int, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
        """A tensor of zeros."""
        return cls._make(np.zeros(validate.shape("zeros", shape)), dtype, requires_grad, name)

    @classmethod
    def ones(cls, *shape: int, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
        """A tensor of ones."""
        return cls._make(np.ones(validate.shape("ones", shape)), dtype, requires_grad, name)

    @classmethod
    def randn(cls, *shape: int, dtype: Any = None, requires_grad: bool = False, name: str | None = None,
              generator: np.random.Generator | int | None = None) -> Tensor:
        """Standard normal samples; ``generator`` is a numpy Generator or a seed."""
        return cls._make(_gen(generator).standard_normal(validate.shape("randn", shape)), dtype, requires_grad, name)

    @classmethod
    def rand(cls, *shape: int, dtype: Any = None, requires_grad: bool = False, name: str | None = None,
             generator: np.random.Generator | int | None = None) -> Tensor:
        """Uniform samples on [0, 1)."""
        return cls._make(_gen(generator).random(validate.shape("rand", shape)), dtype, requires_grad, name)

    @classmethod
    def uniform(cls, *shape: int, low: float = 0.0, high: float = 1.0, dtype: Any = None,
                requires_grad: bool = False, name: str | None = None,
                generator: np.random.Generator | int | None = None) -> Tensor:
        """Uniform samples on [low, high)."""
        size = validate.shape("uniform", shape)
        return cls._make(_gen(generator).uniform(low, high, size), dtype, requires_grad, name)

    @classmethod
    def arange(cls, start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
               requires_grad: bool = False, name: str | None = None) -> Tensor:
        """Evenly spaced values, like ``np.arange``."""
        return cls._make(np.arange(start, stop, step) if stop is not None else np.arange(start),
                         dtype, requires_grad, name)

    @classmethod
    def eye(cls, n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False,
            name: str | None = None) -> Tensor:
        """The identity matrix."""
        return cls._make(np.eye(*validate.shape("eye", (n,) if m is None else (n, m))), dtype, requires_grad, name)

    # ----- array facts ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (inputs, parameters, constants)."""
        return self.node is None

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        return bool(self.data)  # numpy's rule: ambiguous for more than one element

    def __float__(self) -> float:
        return float(self.item())

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The data for numpy (``np.asarray(t)``): the array itself, or a copy when a dtype or ``copy`` asks."""
        if copy or (dtype is not None and np.dtype(dtype) != self.dtype):
            return self.data.astype(self.dtype if dtype is None else dtype, copy=True)
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data, name=self.name)

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype`` (differentiable)."""
        return ops.astype(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def clone(self) -> Tensor:
        """A copy with its own memory that stays in the graph (the gradient flows back through it)."""
        return ops.clone(self)

    def __repr__(self) -> str:
        extra = (", requires_grad=True" if self.requires_grad else "") + (f", name={self.name!r}" if self.name else "")
        op = f", op={self.node.op!r}" if self.node is not None else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{op}{extra})"

    # ----- autograd ------------------------------------------------------------------------
    def backward(self, grad: Tensor | np.ndarray | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, retain_grads: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad``.

        ``retain_grads=True`` also keeps ``.grad`` on every intermediate tensor (for ``viz``).
        ``create_graph=True`` records the backward pass so gradients can be differentiated again.
        """
        root = autograd._root_grad(self, grad, "backward")
        keep = create_graph if retain_graph is None else retain_graph
        autograd.run_backward([self], [root], retain_graph=keep, create_graph=create_graph,
                              retain_grads=retain_grads)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retains_grad = True

    def register_hook(self, fn: Callable[[Tensor], Tensor | None]) -> Callable[[], None]:
        """Call ``fn(grad)`` when this tensor's gradient is computed; a returned Tensor replaces it.

        Returns a function that removes the hook.
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        self._hooks.append(fn)
        return lambda: self._hooks.remove(fn)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.dtype.kind != "f":
            raise _not_differentiable("requires_grad_", self.data)
        self.requires_grad = flag
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # ----- arithmetic ----------------------------------------------------------------------
    def __add__(self, o: Any) -> Tensor:
        return ops.add(self, o)

    def __radd__(self, o: Any) -> Tensor:
        return ops.add(o, self)

    def __sub__(self, o: Any) -> Tensor:
        return ops.sub(self, o)

    def __rsub__(self, o: Any) -> Tensor:
        return ops.sub(o, self)

    def __mul__(self, o: Any) -> Tensor:
        return ops.mul(self, o)

    def __rmul__(self, o: Any) -> Tensor:
        return ops.mul(o, self)

    def __truediv__(self, o: Any) -> Tensor:
        return ops.div(self, o)

    def __rtruediv__(self, o: Any) -> Tensor:
        return ops.div(o, self)

    def __pow__(self, o: Any) -> Tensor:
        return ops.pow(self, o) if isinstance(o, Tensor) else ops.pow(self, exponent=o)

    def __rpow__(self, o: Any) -> Tensor:
        return ops.pow(o, self)

    def __matmul__(self, o: Any) -> Tensor:
        return ops.matmul(self, o)

    def __rmatmul__(self, o: Any) -> Tensor:
        return ops.matmul(o, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index=_index(index))

    # comparisons give non-differentiable boolean tensors
    def _compare(self, o: Any, fn: Callable) -> Tensor:
        other = o.data if isinstance(o, Tensor) else o
        try:
            return Tensor(fn(self.data, other))
        except ValueError:
            raise ShapeError(f"{fn.__name__}: shapes {self.shape} and {np.shape(other)} cannot be broadcast "
                             "together") from None

    def __lt__(self, o: Any) -> Tensor:
        return self._compare(o, np.less)

    def __le__(self, o: Any) -> Tensor:
        return self._compare(o, np.less_equal)

    def __gt__(self, o: Any) -> Tensor:
        return self._compare(o, np.greater)

    def __ge__(self, o: Any) -> Tensor:
        return self._compare(o, np.greater_equal)

    def __eq__(self, o: Any) -> Tensor:  # type: ignore[override]
        return self._compare(o, np.equal)

    def __ne__(self, o: Any) -> Tensor:  # type: ignore[override]
        return self._compare(o, np.not_equal)

    __hash__ = object.__hash__

    # ----- elementwise ---------------------------------------------------------------------
    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def sqrt(self) -> Tensor:
        return ops.sqrt(self)

    def relu(self) -> Tensor:
        return ops.relu(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return ops.sigmoid(self)

    def abs(self) -> Tensor:
        return ops.abs(self)

    def maximum(self, o: Any) -> Tensor:
        return ops.maximum(self, o)

    def minimum(self, o: Any) -> Tensor:
        return ops.minimum(self, o)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Limit values to [min, max]; the gradient passes where min <= x <= max."""
        return ops.clip(self, min=min, max=max)

    clamp = clip

    def logsigmoid(self) -> Tensor:
        """``log(sigmoid(x))``, finite and exact in both tails."""
        return ops.logsigmoid(self)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
        """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold`` (as in PyTorch)."""
        from .nn import functional as F
        return F.softplus(self, beta, threshold)

    # ----- reductions ----------------------------------------------------------------------
    # ``axis``/``keepdims`` (numpy's names) and ``dim``/``keepdim`` (PyTorch's) are the same arguments
    def sum(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        """Sum over ``axis`` (an int, a tuple, or None for every axis)."""
        return self._reduce(ops.sum, axis, keepdims, dim, keepdim)

    def mean(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
             keepdim: bool | None = None) -> Tensor:
        """Mean over ``axis`` (an int, a tuple, or None for every axis)."""
        return self._reduce(ops.mean, axis, keepdims, dim, keepdim)

    def var(self, axis: Axis = None, keepdims: bool = False, correction: int = 0, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        """Variance; ``correction=0`` (biased, the BN paper's) by default, 1 for the unbiased one."""
        if not isinstance(correction, int | float | np.integer | np.floating) or isinstance(correction, bool):
            raise TypeError(f"var: correction must be a number, got {correction!r} ({type(correction).__name__})")
        return self._reduce(ops.var, axis, keepdims, dim, keepdim, correction=correction)

    def std(self, axis: Axis = None, keepdims: bool = False, correction: int = 0, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        """Standard deviation: the square root of :meth:`var`."""
        return self.var(axis, keepdims, correction, dim=dim, keepdim=keepdim).sqrt()

    def max(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        """Maximum; the gradient is split evenly between tied maxima (like ``torch.amax``)."""
        return self._reduce(ops.max, axis, keepdims, dim, keepdim)

    def min(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        """Minimum; the gradient is split evenly between tied minima (like ``torch.amin``)."""
        return self._reduce(ops.min, axis, keepdims, dim, keepdim)

    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        """Index of the (first) maximum along ``axis`` (alias ``dim``), or in the flattened tensor when None.

        Returns:
            A non-differentiable int64 tensor.
        """
        return self._arg("argmax", np.argmax, axis, keepdims, dim, keepdim)

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        """Index of the (first) minimum along ``axis`` (alias ``dim``), or in the flattened tensor when None."""
        return self._arg("argmin", np.argmin, axis, keepdims, dim, keepdim)

    def _arg(self, name: str, fn: Callable, axis: int | None, keepdims: bool, dim: int | None,
             keepdim: bool | None) -> Tensor:
        axis, keepdims = validate.spelling(name, axis, keepdims, dim, keepdim)
        keepdims = validate.flag(name, keepdims)
        if self.size == 0:
            raise ShapeError(f"{name}: cannot take the {name} of an empty tensor of shape {self.shape}")
        if axis is None:
            i = fn(self.data)
            return Tensor(np.full((1,) * self.ndim, i, dtype=np.int64) if keepdims else np.asarray(i, dtype=np.int64))
        a = validate.axis(name, axis, self.ndim, self.shape)
        data = self.data.reshape(1) if self.ndim == 0 else self.data
        return Tensor(fn(data, axis=a, keepdims=keepdims and self.ndim > 0).astype(np.int64, copy=False))

    def _reduce(self, op: Callable[..., Tensor], axis: Axis, keepdims: bool, dim: Axis, keepdim: bool | None,
                **attrs: Any) -> Tensor:
        name = op.op_name  # type: ignore[attr-defined]
        if dim is not None or keepdim is not None:
            axis, keepdims = validate.spelling(name, axis, keepdims, dim, keepdim)
        if type(keepdims) is not bool:
            keepdims = validate.flag(name, keepdims)
        return op(self, axis=validate.axes(name, axis, self.data.shape), keepdims=keepdims, **attrs)

    # ----- shape ---------------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """The same data with ``shape`` (ints or one sequence; one size may be -1, inferred)."""
        return ops.reshape(self, shape=validate.shape("reshape", shape, infer=True, of=self.data.shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge axes ``start_dim`` to ``end_dim`` (inclusive) into one, as ``torch.flatten``."""
        shape = self.data.shape
        lo = validate.axis("flatten", start_dim, self.ndim, shape, "start_dim")
        hi = validate.axis("flatten", end_dim, self.ndim, shape, "end_dim")
        if lo > hi:
            raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (tensor of shape {shape})")
        return self.reshape(*shape[:lo], -1, *shape[hi + 1:]) if self.ndim else self.reshape(1)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        """Reorder the axes: ``axes[i]`` is the input axis that becomes axis i."""
        items = axes[0] if len(axes) == 1 and isinstance(axes[0], Sequence) else axes
        perm = tuple(validate.axis("permute", a, self.ndim, self.shape) for a in items)
        if sorted(perm) != list(range(self.ndim)):
            raise ShapeError(f"permute: {tuple(items)} is not a permutation of the axes of shape {self.shape}")
        return ops.transpose(self, axes=perm)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Swap two axes (PyTorch's meaning); ``.T`` reverses all of them."""
        perm = list(range(self.ndim))
        a = validate.axis("transpose", dim0, self.ndim, self.shape, "dim0")
        b = validate.axis("transpose", dim1, self.ndim, self.shape, "dim1")
        if self.ndim:
            perm[a], perm[b] = perm[b], perm[a]
        return ops.transpose(self, axes=tuple(perm))

    @property
    def T(self) -> Tensor:
        return ops.transpose(self, axes=tuple(reversed(range(self.ndim))))

    def broadcast_to(self, *shape: int | Sequence[int]) -> Tensor:
        return ops.broadcast_to(self, shape=validate.shape("broadcast_to", shape, of=self.data.shape))

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Insert a size-1 axis at ``axis`` (alias ``dim``; in ``[-ndim - 1, ndim]``)."""
        axis, _ = validate.spelling("unsqueeze", axis, False, dim, None)
        if axis is None:
            raise TypeError("unsqueeze: missing the axis argument (axis= or dim=)")
        a = validate.axis("unsqueeze", axis, self.ndim + 1, self.shape)
        return ops.reshape(self, shape=(*self.shape[:a], 1, *self.shape[a:]))

    def squeeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Remove the size-1 axis ``axis`` (alias ``dim``), or every size-1 axis when it is None."""
        axis, _ = validate.spelling("squeeze", axis, False, dim, None)
        shape = self.shape
        if axis is None:
            return ops.reshape(self, shape=tuple(n for n in shape if n != 1))
        a = validate.axis("squeeze", axis, self.ndim, shape)
        if self.ndim and shape[a] != 1:
            raise ShapeError(f"squeeze: axis {axis} of shape {shape} has size {shape[a]}, not 1")
        return ops.reshape(self, shape=shape[:a] + shape[a + 1:])

    def matmul(self, o: Any) -> Tensor:
        return ops.matmul(self, o)

    def t(self) -> Tensor:
        """The transpose of a matrix; a 0-D or 1-D tensor is returned as it is (PyTorch's ``t``)."""
        if self.ndim > 2:
            raise ShapeError(f"t: expects a tensor with at most 2 dimensions, got shape {self.shape} (use transpose)")
        return self.T if self.ndim == 2 else self

    def pow(self, exponent: Any) -> Tensor:
        """``self ** exponent`` (a number or a tensor)."""
        return self ** exponent

    # ----- composites (plain functions of primitives, defined in nn.functional) ------------
    def softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """Softmax along ``axis`` (alias ``dim``)."""
        from .nn import functional as F
        return F.softmax(self, axis if dim is None else dim)

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """Log-softmax along ``axis`` (alias ``dim``)."""
        from .nn import functional as F
        return F.log_softmax(self, axis if dim is None else dim)

    def cross_entropy(self, labels: Any) -> Tensor:
        """Mean cross-entropy of these logits (N, C) against integer class labels (N,)."""
        from .nn import functional as F
        return F.cross_entropy(self, labels)

    def binary_cross_entropy_with_logits(self, target: Any, weight: Any = None, reduction: str = "mean",
                                         pos_weight: Any = None) -> Tensor:
        """Binary cross-entropy of ``sigmoid(self)`` against ``target``, stable for any logit (``nn.functional``)."""
        from .nn import functional as F
        return F.binary_cross_entropy_with_logits(self, target, weight, reduction, pos_weight)

    def mse(self, target: Any) -> Tensor:
        """Mean squared error against ``target``."""
        from .nn import functional as F
        return F.mse(self, target)


def _result(data: np.ndarray | np.generic) -> Tensor:
    """A plain Tensor around an op's freshly computed array, without the constructor's conversions."""
    t = object.__new__(Tensor)
    t.data = data if type(data) is np.ndarray else np.asarray(data)
    t.requires_grad = t._retains_grad = False
    t.grad = t.name = t.node = None
    t._hooks = []
    return t


def _gen(gen: np.random.Generator | int | None) -> np.random.Generator:
    return generator(gen)


def _index(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new tensor holding a copy of ``data``, like ``torch.tensor``.

    Args:
        data: a number, (nested) list, numpy array or Tensor.
        dtype: the dtype; by default Python floats get the default float dtype (float32), Python ints
            int64 and bools bool, and arrays keep theirs.
        requires_grad: whether gradients are accumulated into it (floating dtypes only).
        name: an optional name (shown by ``viz``).

    Returns:
        A leaf Tensor that shares no memory with ``data``.
    """
    if isinstance(data, Tensor):
        data = data.data
    arr = _numeric("tensor", data, dtype, copy=True)
    if dtype is None and not isinstance(data, np.ndarray | np.generic) and arr.dtype.kind == "f":
        arr = arr.astype(_default_dtype, copy=False)
    return Tensor(arr, requires_grad=requires_grad, name=name)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a`` where ``cond`` else ``b``; differentiable in ``a`` and ``b``."""
    cond = cond if isinstance(cond, Tensor) and cond.dtype == bool else Tensor(np.asarray(
        cond.data if isinstance(cond, Tensor) else cond, dtype=bool))
    return ops.where(cond, a, b)


def concatenate(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (alias ``dim``)."""
    if not tensors:
        raise ValueError("concatenate: expected at least one tensor")
    shape = np.shape(tensors[0].data if isinstance(tensors[0], Tensor) else tensors[0])
    return ops.concatenate(*tensors, axis=validate.axis("concatenate", axis if dim is None else dim, len(shape),
                                                        shape))


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along a new axis (alias ``dim``)."""
    if not tensors:
        raise ValueError("stack: expected at least one tensor")
    shape = np.shape(tensors[0].data if isinstance(tensors[0], Tensor) else tensors[0])
    return ops.stack(*tensors, axis=validate.axis("stack", axis if dim is None else dim, len(shape) + 1, shape))


from . import ops  # noqa: E402  (ops builds Tensors; the methods above call into it)
