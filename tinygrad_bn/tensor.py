"""Tensor: a numpy array that remembers how it was made, so gradients can flow back through it."""

from __future__ import annotations

import functools
import reprlib
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any, NamedTuple

import numpy as np

from . import tape, validate
from .backward import run_backward
from .graph import Node, Value, inplace_ops, is_grad_enabled, no_grad
from .validate import AxisError, ShapeError  # noqa: F401  (re-exported: ``from .tensor import ShapeError``)

_default_dtype: np.dtype = np.dtype(np.float32)
_rng: np.random.Generator = np.random.default_rng()

Axis = int | Sequence[int] | None


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python numbers, lists and factories get (float32 unless changed).

    Args:
        dtype: a floating numpy dtype or anything ``np.dtype`` accepts (``np.float64``, ``"float32"``).

    Raises:
        TypeError: ``dtype`` is not a floating dtype.
    """
    global _default_dtype
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_dtype = d


def get_default_dtype() -> np.dtype:
    """Return the dtype that Python numbers, lists and factories get (float32 unless changed)."""
    return _default_dtype


def manual_seed(seed: int) -> None:
    """Reseed the generator that factories and dropout use when given none (in place: it stays one object).

    Args:
        seed: the seed, as for ``np.random.default_rng``: the draws that follow are that generator's.
    """
    _rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state


def as_generator(gen: np.random.Generator | int | None = None) -> np.random.Generator:
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


def _filled(op: str, fill: Callable[[tuple[int, ...]], np.ndarray]) -> Callable[..., Tensor]:
    """A factory of constant tensors (``Tensor.zeros``): its arguments are *Factories* in Tensor's docstring."""
    def make(cls: type[Tensor], *shape: int, dtype: Any = None, requires_grad: bool = False,
             name: str | None = None) -> Tensor:
        return cls._make(fill(validate.shape(op, shape)), dtype, requires_grad, name)
    make.__name__ = make.__qualname__ = op
    return make


def _drawn(op: str, draw: str) -> Callable[..., Tensor]:
    """A factory of random tensors (``Tensor.randn``) drawing with the Generator's method ``draw``."""
    def make(cls: type[Tensor], *shape: int, dtype: Any = None, requires_grad: bool = False, name: str | None = None,
             generator: np.random.Generator | int | None = None) -> Tensor:
        draws = getattr(as_generator(generator), draw)(validate.shape(op, shape))
        return cls._make(draws, dtype, requires_grad, name)
    make.__name__ = make.__qualname__ = op
    return make


def _reduction(name: str) -> Callable[..., Tensor]:
    """A reduction method by the primitive ``ops.<name>``: its arguments are *Reductions* in Tensor's docstring."""
    def reduce(self: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
               keepdim: bool | None = None) -> Tensor:
        return self._reduce(name, axis, keepdims, dim, keepdim)
    reduce.__name__ = reduce.__qualname__ = name
    return reduce


class Tensor(Value):
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``data`` is the numpy array itself (writable); ``grad`` is a Tensor or None; ``node`` is the
    :class:`~tinygrad_bn.graph.Node` that made this tensor, None for leaves.

    Args:
        data: a number, (nested) list, numpy array (kept, not copied, when ``dtype`` is None) or Tensor.
        requires_grad: whether backward accumulates a gradient into ``.grad`` (floating dtypes only).
        name: an optional name (shown by ``viz``).
        dtype: the dtype; None keeps an array's and gives Python floats the default dtype (float32).

    *Factories* (``zeros``, ``ones``, ``randn``, ``rand``, and ``uniform``, ``arange``, ``eye``) take the sizes
    as ints or one sequence, ``dtype`` (default: the default dtype, float32), ``requires_grad`` and ``name``
    (shown by ``viz``); the random ones a ``generator``: a numpy Generator or a seed, None for the library's
    (:func:`~tinygrad_bn.manual_seed`). They return a leaf Tensor.

    *Reductions* (``sum``, ``mean``, ``max``, ``min``, ``var``, ``std``) take ``axis``: an axis, a tuple of axes,
    or None for every axis, and ``keepdims``: keep the reduced axes with size 1. ``dim`` and ``keepdim`` are
    PyTorch's names for the same two arguments (give one spelling of each). They return a Tensor.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "node", "_hooks", "_retains_grad", "_version", "__weakref__")
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
        self.node: Node | None = None
        self._hooks: tuple[Callable[[Tensor], Tensor | None], ...] = ()  # a new tuple per registration
        self._retains_grad = False
        self._version = 0

    # ----- factories -----------------------------------------------------------------------
    zeros = classmethod(_filled("zeros", np.zeros))
    """Return a tensor of zeros: ``Tensor.zeros(*shape, dtype=None, requires_grad=False, name=None)`` (*Factories*)."""
    ones = classmethod(_filled("ones", np.ones))
    """Return a tensor of ones: ``Tensor.ones(*shape, dtype=None, requires_grad=False, name=None)`` (*Factories*)."""
    randn = classmethod(_drawn("randn", "standard_normal"))
    """Standard normal samples: ``Tensor.randn(*shape, dtype=None, requires_grad=False, name=None, generator=None)``
    (*Factories*)."""
    rand = classmethod(_drawn("rand", "random"))
    """Uniform samples on [0, 1): ``Tensor.rand(*shape, dtype=None, requires_grad=False, name=None, generator=None)``
    (*Factories*)."""

    @classmethod
    def _make(cls, data: np.ndarray, dtype: Any, requires_grad: bool, name: str | None) -> Tensor:
        return cls(data.astype(dtype or _default_dtype, copy=False), requires_grad=requires_grad, name=name)

    @classmethod
    def uniform(cls, *shape: int, low: float = 0.0, high: float = 1.0, dtype: Any = None,
                requires_grad: bool = False, name: str | None = None,
                generator: np.random.Generator | int | None = None) -> Tensor:
        """Uniform samples on [low, high).

        Args:
            *shape: the sizes, as ints or one sequence.
            low: the lower bound (included).
            high: the upper bound (excluded).
            dtype: the dtype (default: the default dtype, float32).
            requires_grad: whether backward accumulates a gradient into it.
            name: an optional name (shown by ``viz``).
            generator: a numpy Generator or a seed; None uses the library's generator (:func:`manual_seed`).

        Returns:
            A leaf Tensor of that shape.
        """
        size = validate.shape("uniform", shape)
        return cls._make(as_generator(generator).uniform(low, high, size), dtype, requires_grad, name)

    @classmethod
    def arange(cls, start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
               requires_grad: bool = False, name: str | None = None) -> Tensor:
        """Evenly spaced values, like ``np.arange``.

        Args:
            start: the first value; the stop when ``stop`` is None (then the values start at 0).
            stop: the end (excluded).
            step: the spacing.
            dtype: the dtype (default: the default dtype, float32).
            requires_grad: whether backward accumulates a gradient into it.
            name: an optional name (shown by ``viz``).

        Returns:
            A 1-D leaf Tensor.
        """
        return cls._make(np.arange(start, stop, step) if stop is not None else np.arange(start),
                         dtype, requires_grad, name)

    @classmethod
    def eye(cls, n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False,
            name: str | None = None) -> Tensor:
        """Return the identity matrix of shape (n, m).

        Args:
            n: the number of rows.
            m: the number of columns (default ``n``).
            dtype: the dtype (default: the default dtype, float32).
            requires_grad: whether backward accumulates a gradient into it.
            name: an optional name (shown by ``viz``).
        """
        return cls._make(np.eye(*validate.shape("eye", (n,) if m is None else (n, m))), dtype, requires_grad, name)

    # ----- array facts ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The sizes of the axes."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of ``data``."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return self.data.ndim

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """Return the shape (PyTorch's ``torch.Size``, a tuple), or the size of axis ``dim``; :meth:`numel` is the
        number of elements (numpy's ``size``).

        Args:
            dim: an axis (negative counts from the end), or None for every axis.

        Raises:
            AxisError: ``dim`` is not an axis of this tensor.
        """
        return self.data.shape if dim is None else self.data.shape[validate.axis("size", dim, self.ndim, self.shape)]

    def numel(self) -> int:
        """Return the number of elements."""
        return self.data.size

    def dim(self) -> int:
        """Return the number of axes (``ndim``)."""
        return self.data.ndim

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
        """Return the underlying ndarray (shared, not copied)."""
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The data for numpy (``np.asarray(t)``): the array itself, or a copy when a dtype or ``copy`` asks."""
        if copy or (dtype is not None and np.dtype(dtype) != self.dtype):
            return self.data.astype(self.dtype if dtype is None else dtype, copy=True)
        return self.data

    def item(self) -> float:
        """Return the value of a one-element tensor as a Python number.

        Raises:
            ValueError: the tensor has more than one element.
        """
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        """Return the data as a (nested) list of Python numbers, like ``ndarray.tolist``."""
        return self.data.tolist()

    def detach(self) -> Tensor:
        """Return a leaf tensor sharing this data, cut from the graph (no gradient flows back)."""
        return Tensor(self.data, name=self.name)

    def astype(self, dtype: Any) -> Tensor:
        """Return a copy cast to ``dtype`` (differentiable: the gradient is cast back).

        Args:
            dtype: anything ``np.dtype`` accepts; an integer or bool copy does not require grad (as in PyTorch),
                nor does a complex one (complex tensors never do here).
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            return constant(functools.partial(np.ndarray.astype, dtype=dtype), self)
        return ops.astype(self, dtype=dtype)

    def float(self) -> Tensor:
        """Return ``self.astype(np.float32)``."""
        return self.astype(np.float32)

    def double(self) -> Tensor:
        """Return ``self.astype(np.float64)``."""
        return self.astype(np.float64)

    def long(self) -> Tensor:
        """Return ``self.astype(np.int64)`` (no gradient flows through an integer tensor)."""
        return self.astype(np.int64)

    def contiguous(self) -> Tensor:
        """Return ``self`` when its array is C-contiguous, else a contiguous copy that stays in the graph."""
        return self if self.data.flags.c_contiguous else ops.clone(self)

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Tensor:
        """Return the tensor cast to a dtype, on a device: ``to(np.float64)``, ``to("cpu")``, ``to(dtype=...)``,
        ``to(device="cpu", dtype=...)``, as ``torch.Tensor.to``. The only device is the CPU (numpy).

        Args:
            *args: a dtype, a device (``"cpu"``), or both (device first), or a Tensor whose dtype to take.
            dtype: the dtype.
            device: ``"cpu"`` (or a ``torch.device("cpu")``).

        Returns:
            ``self`` when nothing changes, else a cast copy (differentiable).
        """
        dtype = target_dtype("to", args, dtype, device)
        return self if dtype is None or dtype == self.dtype else self.astype(dtype)

    def clone(self) -> Tensor:
        """Return a copy with its own memory that stays in the graph (the gradient flows back through it)."""
        return ops.clone(self)

    def __repr__(self) -> str:
        extra = (", requires_grad=True" if self.requires_grad else "") + (f", name={self.name!r}" if self.name else "")
        op = f", op={self.node.op!r}" if self.node is not None else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{op}{extra})"

    # ----- autograd ------------------------------------------------------------------------
    def backward(self, grad: Tensor | np.ndarray | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, retain_grads: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad``.

        Args:
            grad: the gradient of the final result with respect to ``self``, of ``self``'s shape; may be
                omitted for a one-element tensor (it is then 1).
            retain_graph: keep the graph for another backward (default: ``create_graph``).
            create_graph: record the backward pass so gradients can be differentiated again.
            retain_grads: also keep ``.grad`` on every intermediate tensor (for ``viz``).

        Raises:
            RuntimeError: ``self`` does not require grad, or ``grad`` is omitted for a tensor of more than one
                element.
            ValueError: ``grad`` does not have ``self``'s shape.
        """
        root = root_grad(self, grad, "backward")
        keep = create_graph if retain_graph is None else retain_graph
        run_backward([self], [root], ops=ops, wrap=_result, retain_graph=keep, create_graph=create_graph,
                     retain_grads=retain_grads)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retains_grad = True

    def register_hook(self, fn: Callable[[Tensor], Tensor | None]) -> Callable[[], None]:
        """Call ``fn(grad)`` when this tensor's gradient is computed; a returned Tensor replaces it.

        Args:
            fn: called with the gradient (a Tensor of this tensor's shape); returns None or the new gradient.

        Returns:
            A function that removes the hook.

        Raises:
            RuntimeError: the tensor does not require grad.
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        self._hooks = (*self._hooks, fn)

        def remove() -> None:
            hooks = list(self._hooks)
            if fn in hooks:
                hooks.remove(fn)
            self._hooks = tuple(hooks)
        return remove

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place.

        Args:
            flag: the new value.

        Returns:
            ``self``.

        Raises:
            TypeError: ``flag`` is True and the dtype is not floating.
        """
        if flag and self.dtype.kind != "f":
            raise _not_differentiable("requires_grad_", self.data)
        self.requires_grad = flag
        return self

    def zero_grad(self) -> None:
        """Drop the accumulated gradient (``.grad`` becomes None)."""
        self.grad = None

    # ----- in place (PyTorch's autograd rules; a version counter catches a saved value changed) -------------
    def add_(self, other: Any, *, alpha: float = 1) -> Tensor:
        """``self += alpha * other`` in place (``torch.Tensor.add_``); see :meth:`copy_` for the rules.

        Args:
            other: a Tensor, array or number broadcastable to ``self``'s shape.
            alpha: the factor of ``other``.

        Returns:
            ``self``.
        """
        return self._inplace("add_", lambda old, o: old + o * alpha if alpha != 1 else old + o, other)

    def sub_(self, other: Any, *, alpha: float = 1) -> Tensor:
        """``self -= alpha * other`` in place.

        Args:
            other: a Tensor, array or number broadcastable to ``self``'s shape.
            alpha: the factor of ``other``.

        Returns:
            ``self``.
        """
        return self._inplace("sub_", lambda old, o: old - o * alpha if alpha != 1 else old - o, other)

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place.

        Args:
            other: a Tensor, array or number broadcastable to ``self``'s shape.

        Returns:
            ``self``.
        """
        return self._inplace("mul_", lambda old, o: old * o, other)

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place.

        Args:
            other: a Tensor, array or number broadcastable to ``self``'s shape.

        Returns:
            ``self``.
        """
        return self._inplace("div_", lambda old, o: old / o, other)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Limit to [min, max] in place (``torch.Tensor.clamp_``).

        Args:
            min: the lower bound, or None.
            max: the upper bound, or None.

        Returns:
            ``self``.
        """
        return self._inplace("clamp_", lambda old: old.clip(min, max))

    def fill_(self, value: float) -> Tensor:
        """Set every entry to ``value`` in place (no gradient flows to the old values).

        Args:
            value: the number.

        Returns:
            ``self``.
        """
        return self._inplace("fill_", lambda old: ops.where(np.ones(old.shape, bool), value, old))

    def zero_(self) -> Tensor:
        """Set every entry to 0 in place.

        Returns:
            ``self``.
        """
        return self.fill_(0)

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast to ``self``'s shape, cast to its dtype) into ``self``, in place.

        The in-place ops follow PyTorch's autograd rules: on a leaf that requires grad they raise (outside
        ``no_grad``); on a tensor in a graph they make it the result of the op (the old value keeps its place
        for the ops that used it); and a tensor that a recorded op saved for its backward, changed in place
        afterwards, makes that ``backward()`` raise naming the op (each tensor counts its in-place changes).
        A jit refuses them inside the recorded function.

        Args:
            src: a Tensor, array or number.

        Returns:
            ``self``.
        """
        return self._inplace("copy_", lambda old, s: ops.where(np.ones(old.shape, bool), s, old), src)

    def _inplace(self, name: str, fn: Callable[..., Tensor], *others: Any) -> Tensor:
        tape.refuse(f"an in-place op ({name})")
        needs = is_grad_enabled() and (self.requires_grad or any(isinstance(o, Tensor) and o.requires_grad
                                                                 for o in others))
        if needs and self.node is None and self.requires_grad:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad (shape {self.shape}) is being used in an "
                               "in-place operation; do it inside no_grad(), or on a clone()")
        inplace_ops[0] += 1
        old = self
        if needs:  # the old value keeps this tensor's place in the graph, for the ops that used it
            old = _result(self.data.copy())
            old.node, old.requires_grad, old._version = self.node, self.requires_grad, self._version
        with nullcontext() if needs else no_grad():  # self as an operand too means its old value (x.mul_(x))
            new = fn(old, *(old if o is self else o for o in others))
        if new.shape != self.shape:
            raise ShapeError(f"{name}: the result has shape {new.shape}, which does not fit in place into a tensor "
                             f"of shape {self.shape}")
        if not np.can_cast(new.dtype, self.dtype, casting="same_kind"):
            raise TypeError(f"{name}: the result type {new.dtype} cannot be cast to this tensor's dtype {self.dtype}")
        self.data[...] = new.data
        self._version += 1
        if needs:
            self.node, self.requires_grad = new.node, True
            if new.node is not None:
                new.node.versions = (self._version, *new.node.versions[1:])
        return self

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
        """``fn(self, o)`` as a constant of the graph (a jit replay compares each call's values)."""
        try:
            if isinstance(o, Tensor):
                return constant(fn, self, o)
            return constant(functools.partial(_against, fn, o), self)
        except ValueError:
            raise ShapeError(f"{fn.__name__}: shapes {self.shape} and {np.shape(o)} cannot be broadcast "
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
        """Return ``e ** x``, elementwise."""
        return ops.exp(self)

    def log(self) -> Tensor:
        """Return the natural logarithm, elementwise."""
        return ops.log(self)

    def sqrt(self) -> Tensor:
        """Return the square root, elementwise."""
        return ops.sqrt(self)

    def relu(self) -> Tensor:
        """Return ``max(x, 0)``, elementwise."""
        return ops.relu(self)

    def tanh(self) -> Tensor:
        """Return the hyperbolic tangent, elementwise."""
        return ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """Return ``1 / (1 + exp(-x))``, elementwise."""
        return ops.sigmoid(self)

    def abs(self) -> Tensor:
        """Return the absolute value, elementwise."""
        return ops.abs(self)

    def maximum(self, o: Any) -> Tensor:
        """Return the elementwise larger of ``self`` and ``o`` (broadcast); a tie splits the gradient evenly.

        Args:
            o: a Tensor, array or number.
        """
        return ops.maximum(self, o)

    def minimum(self, o: Any) -> Tensor:
        """Return the elementwise smaller of ``self`` and ``o`` (broadcast); a tie splits the gradient evenly.

        Args:
            o: a Tensor, array or number.
        """
        return ops.minimum(self, o)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Return the values limited to [min, max]; the gradient passes where min <= x <= max.

        Args:
            min: the lower bound, or None for none.
            max: the upper bound, or None for none.
        """
        return ops.clip(self, min=min, max=max)

    clamp = clip

    def logsigmoid(self) -> Tensor:
        """Return ``log(sigmoid(x))``, finite and exact in both tails."""
        return ops.logsigmoid(self)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
        """Return ``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold`` (as in PyTorch).

        Args:
            beta: the sharpness.
            threshold: above ``beta * x > threshold`` the result is ``x`` itself.
        """
        return composites.softplus(self, beta, threshold)

    # ----- reductions (their arguments: *Reductions* in the class docstring) ---------------
    sum = _reduction("sum")
    """Return the sum over ``axis`` (*Reductions*)."""
    mean = _reduction("mean")
    """Return the mean over ``axis`` (*Reductions*)."""
    amax = _reduction("max")
    """Return the maximum over ``axis`` (one or several axes); the gradient is split evenly between tied maxima,
    as ``torch.amax`` (*Reductions*)."""
    amin = _reduction("min")
    """Return the minimum over ``axis`` (one or several axes); the gradient is split evenly between tied minima,
    as ``torch.amin`` (*Reductions*)."""

    def max(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
            keepdim: bool | None = None) -> Tensor | ValuesIndices:
        """The maximum, as ``torch.max``: of every entry (a Tensor; tied maxima share the gradient), or along one
        axis a ``(values, indices)`` named tuple whose values pass the gradient to the first maximum's index.

        Args:
            axis: one axis, or None for every entry (several axes: :attr:`amax`).
            keepdims: keep the reduced axis with size 1.
            dim: PyTorch's name for ``axis``.
            keepdim: PyTorch's name for ``keepdims``.

        Returns:
            A Tensor without ``axis``; with it, ``ValuesIndices(values, indices)`` (int64 indices).
        """
        return self._extreme("max", np.argmax, axis, keepdims, dim, keepdim)

    def min(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
            keepdim: bool | None = None) -> Tensor | ValuesIndices:
        """The minimum, as ``torch.min``: of every entry (a Tensor), or along one axis ``(values, indices)``.

        Args:
            axis: one axis, or None for every entry (several axes: :attr:`amin`).
            keepdims: keep the reduced axis with size 1.
            dim: PyTorch's name for ``axis``.
            keepdim: PyTorch's name for ``keepdims``.

        Returns:
            A Tensor without ``axis``; with it, ``ValuesIndices(values, indices)`` (int64 indices).
        """
        return self._extreme("min", np.argmin, axis, keepdims, dim, keepdim)

    def _extreme(self, name: str, arg: Callable, axis: int | None, keepdims: bool, dim: int | None,
                 keepdim: bool | None) -> Tensor | ValuesIndices:
        if dim is not None or keepdim is not None:
            axis, keepdims = validate.spelling(name, axis, keepdims, dim, keepdim)
        if axis is None:
            return self._reduce(name, None, keepdims, None, None)
        if not isinstance(axis, int | np.integer) or isinstance(axis, bool):
            raise TypeError(f"{name}: dim must be one axis (an int) for values and indices, got {axis!r}; for the "
                            f"{name} over several axes use a{name}")
        keepdims = validate.flag(name, keepdims)
        a = validate.axis(name, axis, self.ndim, self.shape)
        if self.shape[a] == 0:
            raise ShapeError(f"{name}: cannot reduce an empty axis: axis {a} of size 0 (empty tensor of shape "
                             f"{self.shape})")
        picked = constant(functools.partial(_first_hit, arg, a), self, name=f"arg{name} (one-hot)")
        values = ops.where(picked, self, 0.0).sum(axis=a, keepdims=keepdims)
        indices = constant(functools.partial(_index_of, arg, a, keepdims), self, name=f"arg{name}")
        return ValuesIndices(values, indices)

    def var(self, axis: Axis = None, keepdims: bool = False, correction: int = 1, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        """Return the variance over ``axis``; unbiased (``correction=1``) by default, as in PyTorch (the
        normalizers ask for the biased one, ``correction=0``, the BN paper's).

        Args:
            axis: an axis, a tuple of axes, or None for every axis.
            keepdims: keep the reduced axes with size 1.
            correction: subtract it from the count in the denominator (0: biased, 1: unbiased).
            dim: PyTorch's name for ``axis`` (give one of the two).
            keepdim: PyTorch's name for ``keepdims``.

        Raises:
            TypeError: ``correction`` is not a number.
        """
        if not isinstance(correction, int | float | np.integer | np.floating) or isinstance(correction, bool):
            raise TypeError(f"var: correction must be a number, got {correction!r} ({type(correction).__name__})")
        return self._reduce("var", axis, keepdims, dim, keepdim, correction=correction)

    def std(self, axis: Axis = None, keepdims: bool = False, correction: int = 1, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        """Return the standard deviation over ``axis``: the square root of :meth:`var` (unbiased by default).

        Args:
            axis: an axis, a tuple of axes, or None for every axis.
            keepdims: keep the reduced axes with size 1.
            correction: subtract it from the count in the denominator (0: biased, 1: unbiased).
            dim: PyTorch's name for ``axis`` (give one of the two).
            keepdim: PyTorch's name for ``keepdims``.
        """
        return self.var(axis, keepdims, correction, dim=dim, keepdim=keepdim).sqrt()

    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        """Index of the (first) maximum along ``axis`` (alias ``dim``), or in the flattened tensor when None.

        Args:
            axis: the axis, or None for the index in the flattened tensor.
            keepdims: keep the reduced axis with size 1.
            dim: PyTorch's name for ``axis``.
            keepdim: PyTorch's name for ``keepdims``.

        Returns:
            A non-differentiable int64 tensor.
        """
        return self._arg("argmax", np.argmax, axis, keepdims, dim, keepdim)

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        """Index of the (first) minimum along ``axis`` (alias ``dim``), or in the flattened tensor when None.

        Args:
            axis: the axis, or None for the index in the flattened tensor.
            keepdims: keep the reduced axis with size 1.
            dim: PyTorch's name for ``axis``.
            keepdim: PyTorch's name for ``keepdims``.

        Returns:
            A non-differentiable int64 tensor.
        """
        return self._arg("argmin", np.argmin, axis, keepdims, dim, keepdim)

    def _arg(self, name: str, fn: Callable, axis: int | None, keepdims: bool, dim: int | None,
             keepdim: bool | None) -> Tensor:
        axis, keepdims = validate.spelling(name, axis, keepdims, dim, keepdim)
        keepdims = validate.flag(name, keepdims)
        if self.data.size == 0:
            raise ShapeError(f"{name}: cannot take the {name} of an empty tensor of shape {self.shape}")
        a = None if axis is None else validate.axis(name, axis, self.ndim, self.shape)
        return constant(functools.partial(_index_of, fn, a, keepdims), self, name=name)  # a jit recomputes it

    def _reduce(self, name: str, axis: Axis, keepdims: bool, dim: Axis, keepdim: bool | None,
                **attrs: Any) -> Tensor:
        op = getattr(ops, name)
        if dim is not None or keepdim is not None:
            axis, keepdims = validate.spelling(name, axis, keepdims, dim, keepdim)
        if type(keepdims) is not bool:
            keepdims = validate.flag(name, keepdims)
        return op(self, axis=validate.axes(name, axis, self.data.shape), keepdims=keepdims, **attrs)

    # ----- shape ---------------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """Return the same data with a new shape (same number of elements).

        Args:
            *shape: the sizes, as ints or one sequence; one size may be -1 (inferred).

        Raises:
            ShapeError: the sizes do not match the number of elements.
        """
        return ops.reshape(self, shape=validate.shape("reshape", shape, infer=True, of=self.data.shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Return the tensor with axes ``start_dim`` to ``end_dim`` (inclusive) merged into one (``torch.flatten``).

        Args:
            start_dim: the first axis to merge.
            end_dim: the last axis to merge.

        Raises:
            ShapeError: ``start_dim`` comes after ``end_dim``.
        """
        shape = self.data.shape
        lo = validate.axis("flatten", start_dim, self.ndim, shape, "start_dim")
        hi = validate.axis("flatten", end_dim, self.ndim, shape, "end_dim")
        if lo > hi:
            raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (tensor of shape {shape})")
        return self.reshape(*shape[:lo], -1, *shape[hi + 1:]) if self.ndim else self.reshape(1)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        """Return the tensor with its axes reordered.

        Args:
            *axes: a permutation of the axes, as ints or one sequence: ``axes[i]`` is the input axis that
                becomes axis i.

        Raises:
            ShapeError: ``axes`` is not a permutation of the axes.
        """
        items = axes[0] if len(axes) == 1 and isinstance(axes[0], Sequence) else axes
        perm = tuple(validate.axis("permute", a, self.ndim, self.shape) for a in items)
        if sorted(perm) != list(range(self.ndim)):
            raise ShapeError(f"permute: {tuple(items)} is not a permutation of the axes of shape {self.shape}")
        return ops.transpose(self, axes=perm)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Return the tensor with two axes swapped (PyTorch's meaning); ``.T`` reverses all of them.

        Args:
            dim0: one axis.
            dim1: the other.
        """
        perm = list(range(self.ndim))
        a = validate.axis("transpose", dim0, self.ndim, self.shape, "dim0")
        b = validate.axis("transpose", dim1, self.ndim, self.shape, "dim1")
        if self.ndim:
            perm[a], perm[b] = perm[b], perm[a]
        return ops.transpose(self, axes=tuple(perm))

    @property
    def T(self) -> Tensor:
        """The tensor with all its axes reversed (``numpy``'s ``.T``)."""
        return ops.transpose(self, axes=tuple(reversed(range(self.ndim))))

    def broadcast_to(self, *shape: int | Sequence[int]) -> Tensor:
        """Return the tensor broadcast to ``shape``, like ``np.broadcast_to`` (the gradient is summed back).

        Args:
            *shape: the target sizes, as ints or one sequence.
        """
        return ops.broadcast_to(self, shape=validate.shape("broadcast_to", shape, of=self.data.shape))

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Return the tensor with a size-1 axis inserted at ``axis``.

        Args:
            axis: where the new axis goes, in ``[-ndim - 1, ndim]``.
            dim: PyTorch's name for ``axis`` (give one of the two).

        Raises:
            TypeError: neither ``axis`` nor ``dim`` is given.
        """
        axis, _ = validate.spelling("unsqueeze", axis, False, dim, None)
        if axis is None:
            raise TypeError("unsqueeze: missing the axis argument (axis= or dim=)")
        a = validate.axis("unsqueeze", axis, self.ndim + 1, self.shape)
        return ops.reshape(self, shape=(*self.shape[:a], 1, *self.shape[a:]))

    def squeeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Return the tensor without the size-1 axis ``axis``, or without every size-1 axis when it is None.

        Args:
            axis: the axis to remove, or None.
            dim: PyTorch's name for ``axis``.

        Raises:
            ShapeError: that axis does not have size 1.
        """
        axis, _ = validate.spelling("squeeze", axis, False, dim, None)
        shape = self.shape
        if axis is None:
            return ops.reshape(self, shape=tuple(n for n in shape if n != 1))
        a = validate.axis("squeeze", axis, self.ndim, shape)
        if self.ndim and shape[a] != 1:
            raise ShapeError(f"squeeze: axis {axis} of shape {shape} has size {shape[a]}, not 1")
        return ops.reshape(self, shape=shape[:a] + shape[a + 1:])

    def matmul(self, o: Any) -> Tensor:
        """Return the matrix product ``self @ o`` (numpy's ``matmul`` rules: batched, 1-D promoted).

        Args:
            o: a Tensor or array, of shape (..., K, M) when ``self`` is (..., N, K).
        """
        return ops.matmul(self, o)

    def t(self) -> Tensor:
        """Return the transpose of a matrix; a 0-D or 1-D tensor is returned as it is (PyTorch's ``t``).

        Raises:
            ShapeError: the tensor has more than 2 axes.
        """
        if self.ndim > 2:
            raise ShapeError(f"t: expects a tensor with at most 2 dimensions, got shape {self.shape} (use transpose)")
        return self.T if self.ndim == 2 else self

    def pow(self, exponent: Any) -> Tensor:
        """Return ``self ** exponent``.

        Args:
            exponent: a number or a Tensor (broadcast).
        """
        return self ** exponent

    # ----- composites (plain functions of primitives: ops.composites, ops.losses) ----------
    def softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """Return the softmax along ``axis``.

        Args:
            axis: the axis that sums to 1.
            dim: PyTorch's name for ``axis``.
        """
        return composites.softmax(self, axis if dim is None else dim)

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """Return the log-softmax along ``axis``.

        Args:
            axis: the axis over which the probabilities sum to 1.
            dim: PyTorch's name for ``axis``.
        """
        return composites.log_softmax(self, axis if dim is None else dim)

    def cross_entropy(self, labels: Any) -> Tensor:
        """Return the mean cross-entropy of these logits (N, C) against integer class labels.

        Args:
            labels: integer class indices in ``[0, C)``, shape (N,).
        """
        return losses.cross_entropy(self, labels)

    def binary_cross_entropy_with_logits(self, target: Any, weight: Any = None, reduction: str = "mean",
                                         pos_weight: Any = None) -> Tensor:
        """Binary cross-entropy of ``sigmoid(self)`` against ``target``, stable for any logit (``nn.functional``).

        Args:
            target: probabilities in [0, 1], of ``self``'s shape.
            weight: an optional rescaling of each element's loss, broadcastable to ``self``.
            reduction: ``"mean"``, ``"sum"`` or ``"none"``.
            pos_weight: an optional weight of the positive term, broadcastable to ``self`` (e.g. one per class).

        Returns:
            A scalar Tensor, or one of ``self``'s shape for ``reduction="none"``.
        """
        return composites.binary_cross_entropy_with_logits(self, target, weight, reduction, pos_weight)

    def mse(self, target: Any) -> Tensor:
        """Return the mean squared error against ``target``, a scalar Tensor.

        Args:
            target: a Tensor or array of ``self``'s shape.
        """
        return losses.mse(self, target)


class ValuesIndices(NamedTuple):
    """What ``max``/``min`` along an axis return, as PyTorch's ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


def _index_of(fn: Callable, axis: int | None, keepdims: bool, a: np.ndarray) -> np.ndarray:
    """``np.argmax``/``np.argmin`` of ``a`` along ``axis`` (None: of the flattened array) as int64."""
    if axis is None:
        i = fn(a)
        return np.full((1,) * a.ndim, i, dtype=np.int64) if keepdims else np.asarray(i, dtype=np.int64)
    data = a.reshape(1) if a.ndim == 0 else a
    return fn(data, axis=axis, keepdims=keepdims and a.ndim > 0).astype(np.int64, copy=False)


def _first_hit(fn: Callable, axis: int, a: np.ndarray) -> np.ndarray:
    """Booleans of ``a``'s shape, True at the first ``fn`` (argmax/argmin) of each line along ``axis``."""
    hit = np.zeros(a.shape, dtype=bool)
    np.put_along_axis(hit, fn(a, axis=axis, keepdims=True), True, axis=axis)
    return hit


def target_dtype(op: str, args: tuple, dtype: Any, device: Any) -> np.dtype | None:
    """The dtype a ``to(...)`` call asks for (None: keep), after refusing any device but the CPU by name."""
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, str) or type(a).__name__ == "device":
            device = a
        else:
            dtype = a
    if device is not None and str(device).split(":")[0] != "cpu":
        raise ValueError(f"{op}: device {str(device)!r} is not available: tinygrad_bn computes with numpy on the CPU "
                         "(use 'cpu' or leave the device out)")
    return None if dtype is None else np.dtype(dtype)


def _against(fn: Callable, other: Any, a: np.ndarray) -> np.ndarray:
    return fn(a, other)


def _result(data: np.ndarray | np.generic) -> Tensor:
    """A plain Tensor around an op's freshly computed array, without the constructor's conversions."""
    t = object.__new__(Tensor)
    t.data = data if type(data) is np.ndarray else np.asarray(data)
    t.requires_grad = t._retains_grad = False
    t._version = 0
    t.grad = t.name = t.node = None
    t._hooks = ()
    return t


def constant(fn: Callable[..., Any], *tensors: Tensor, name: str | None = None) -> Tensor:
    """A constant (no gradient flows into it) computed from the tensors' values by ``fn(*arrays)``.

    For values the graph treats as given although they depend on other values: the stability shift of
    ``log_softmax``, a comparison mask. A :func:`tinygrad_bn.jit` recording remembers how the constant was
    made and recomputes it from each call's values when it replays.

    Args:
        fn: computes the constant's array from the tensors' ndarrays.
        *tensors: the values it is computed from.
        name: the constant's name (shown by ``viz``).

    Returns:
        A Tensor without a node that does not require grad.
    """
    t = Tensor(fn(*[u.data for u in tensors]), name=name)
    recording = tape.current()
    if recording is not None:
        recording.constant(t, fn, tensors)
    return t


def root_grad(out: Tensor, g: Tensor | Any | None, where: str) -> Tensor:
    """The gradient a backward pass starts from at ``out``: ``g`` checked (or 1 for a one-element ``out``)."""
    if not out.requires_grad:
        named = f", {out.name!r}" if out.name else ""
        why = ("no input with requires_grad=True was used to compute it" if out.node is not None else
               "it has no graph (computed under no_grad, detached, or replayed by a jit with backward=False) or "
               "no input with requires_grad=True was used to compute it")
        raise RuntimeError(f"{where}: the output (shape {out.shape}{named}) does not require grad; {why}")
    if g is None:
        if out.data.size != 1:
            raise RuntimeError(f"{where}: the output has shape {out.shape}; a gradient can be created "
                               "implicitly only for a scalar output, so pass grad= with the output's shape")
        return Tensor(np.ones(out.shape, dtype=out.dtype))
    g = g if isinstance(g, Tensor) else Tensor(g, dtype=out.dtype)
    if g.shape != out.shape:
        raise ValueError(f"{where}: grad has shape {g.shape} but the output has shape {out.shape}")
    return g




def _index(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, list):
        try:
            return np.asarray(index)
        except ValueError:
            raise IndexError(f"getitem: the index list {index!r:.60} is ragged (its rows have different lengths); "
                             "an index list must be rectangular") from None
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
    """Elementwise ``a`` where ``cond`` else ``b``; differentiable in ``a`` and ``b``.

    Args:
        cond: a boolean Tensor or array (other dtypes are cast to bool).
        a: the values where ``cond`` is true (Tensor, array or number).
        b: the values where it is false.

    Returns:
        A Tensor of the broadcast shape of the three.
    """
    if not isinstance(cond, Tensor):
        cond = Tensor(np.asarray(cond, dtype=bool))
    elif cond.dtype != bool:  # cast, as a constant of the graph (a jit replay casts each call's values)
        cond = constant(functools.partial(np.asarray, dtype=bool), cond)
    return ops.where(cond, a, b)


def concatenate(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis.

    Args:
        tensors: Tensors (or arrays) whose shapes agree except along ``axis``.
        axis: the axis to join along.
        dim: PyTorch's name for ``axis``.

    Returns:
        A Tensor whose ``axis`` is the sum of theirs.

    Raises:
        ValueError: ``tensors`` is empty.
    """
    if not tensors:
        raise ValueError("concatenate: expected at least one tensor")
    shape = np.shape(tensors[0].data if isinstance(tensors[0], Tensor) else tensors[0])
    return ops.concatenate(*tensors, axis=validate.axis("concatenate", axis if dim is None else dim, len(shape),
                                                        shape))


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along a new axis.

    Args:
        tensors: Tensors (or arrays) of one shape.
        axis: where the new axis goes.
        dim: PyTorch's name for ``axis``.

    Returns:
        A Tensor with one more axis, of size ``len(tensors)``.

    Raises:
        ValueError: ``tensors`` is empty.
    """
    if not tensors:
        raise ValueError("stack: expected at least one tensor")
    shape = np.shape(tensors[0].data if isinstance(tensors[0], Tensor) else tensors[0])
    return ops.stack(*tensors, axis=validate.axis("stack", axis if dim is None else dim, len(shape) + 1, shape))


# the one import circle of the library: ops makes Tensors, and Tensor's methods call ops
from . import ops  # noqa: E402
from .ops import composites, losses  # noqa: E402
