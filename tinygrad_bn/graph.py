"""The bottom of the engine: the graph node, the scope stack, and the grad and record modes.

Every other module of tinygrad_bn builds on this one; it imports nothing of the library. A
:class:`Value` is what a :class:`Node` takes as inputs (:class:`~tinygrad_bn.Tensor` is the one kind).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_grad_enabled: ContextVar[bool] = ContextVar("grad_enabled", default=True)
_recording: ContextVar[bool] = ContextVar("recording", default=False)
inplace_ops = [0]
"""How many in-place ops (``add_``, ``mul_``, ...) have run in this process: while 0, every tensor is at version 0,
so nodes save no versions and backward checks none."""


class Value:
    """The base of :class:`~tinygrad_bn.Tensor`: a value that can be a node's input, a scope's input or output.
    ``_version`` counts the in-place ops that changed it (as PyTorch's version counter)."""

    __slots__ = ()
    _version: int


class Scope:
    """One entry of the scope stack: a module call or a function scope (see :func:`scope`).

    Public attributes, read by ``viz``: ``path`` (dotted: ``"1"``, ``"block.bn"``; a function scope
    appends its name to the enclosing scope's path, e.g. ``"1.batch_norm"``), ``kind`` (``"module"`` or
    ``"function"``), ``name`` (the module's class name, or the function scope's name), ``extra_repr``
    (the module's :meth:`~tinygrad_bn.nn.Module.extra_repr`, computed when first read; ``""`` for functions),
    ``training`` (the
    module's flag; None for functions), ``inputs`` (the Tensor arguments of the call, in order),
    ``input_shapes`` and ``output_shapes`` (tuples of shapes; the outputs are set when the call returns,
    ``None`` until then). Each call gets its own Scope object, so two calls of one module are told apart.

    Args:
        path: the dotted path, or None outside every module.
        kind: ``"module"`` or ``"function"``.
        name: the module's class name or the function scope's name.
        extra_repr: the module's ``extra_repr()``, or the bound method itself (called when first read, so a
            call pays for the formatting only when someone looks).
        training: the module's training flag (None for a function scope).
        inputs: the Tensor arguments of the call.
    """

    __slots__ = ("path", "kind", "name", "_extra_repr", "training", "inputs", "input_shapes", "output_shapes")

    def __init__(self, path: str | None, kind: str, name: str | None, extra_repr: str | Callable[[], str] = "",
                 training: bool | None = None, inputs: tuple[Value, ...] = ()) -> None:
        self.path, self.kind, self.name, self._extra_repr, self.training = path, kind, name, extra_repr, training
        self.inputs = inputs
        self.input_shapes = tuple(t.shape for t in inputs)
        self.output_shapes: tuple[tuple[int, ...], ...] | None = None

    @property
    def extra_repr(self) -> str:
        """The module's ``extra_repr()`` (``""`` for a function scope)."""
        if not isinstance(self._extra_repr, str):
            self._extra_repr = self._extra_repr()
        return self._extra_repr

    def finish(self, result: Any) -> None:
        """Record the shapes of the Tensors in ``result`` as ``output_shapes``.

        Args:
            result: what the call returned: a Tensor, or a tuple/list of them (other items are skipped).
        """
        items = result if isinstance(result, tuple | list) else (result,)
        self.output_shapes = tuple(t.shape for t in items if isinstance(t, Value))

    def __repr__(self) -> str:
        return f"Scope({self.kind} {self.path!r}, {self.name}({self.extra_repr}))"


_scopes: ContextVar[tuple[Scope, ...]] = ContextVar("scopes", default=())


class Node:
    """How a tensor was made: an op applied to input tensors.

    Public attributes, read by ``viz``: ``op`` (primitive name), ``inputs`` (tensors, in order),
    ``attrs`` (keyword arguments of the op, e.g. ``axis``), ``scopes`` (the tuple of :class:`Scope`
    the op ran in, outermost first; shared by every op of one call, never copied), ``module`` (path of
    the innermost module scope, or None) and ``random`` (the op drew random numbers). ``vjp`` is the
    saved vector-Jacobian product (None when no input needs a gradient); backward frees it unless
    ``retain_graph=True``. ``fn`` is the primitive's forward on ndarrays (what :func:`tinygrad_bn.jit`
    replays). ``stack`` (where the op was created) is set only under ``detect_anomaly``.

    Args:
        op: the primitive's name.
        inputs: the input tensors, in order.
        attrs: the op's keyword arguments.
        vjp: the vector-Jacobian product, or None when no input needs a gradient.
        random: whether the op drew random numbers.
        fn: the forward function ``fn(*input_arrays, **attrs)``, or None.
    """

    __slots__ = ("op", "inputs", "attrs", "scopes", "random", "vjp", "fn", "stack", "versions")

    def __init__(self, op: str, inputs: tuple[Value, ...], attrs: dict[str, Any],
                 vjp: Callable | None, random: bool = False, fn: Callable | None = None) -> None:
        # the versions of the output (0: just made) and of the inputs, as the vjp will need them; None: all 0
        self.versions: tuple[int, ...] | None = (0, *(t._version for t in inputs)) if inplace_ops[0] else None
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.vjp = vjp
        self.random = random
        self.fn = fn
        self.scopes = _scopes.get()

    @property
    def module(self) -> str | None:
        """Path of the innermost module scope the op ran in, or None outside every module."""
        return _innermost_module(self.scopes)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())
        return f"Node({self.op}{', ' + args if args else ''}, module={self.module!r})"


def is_grad_enabled() -> bool:
    """Return whether ops record the graph right now (False inside ``no_grad``)."""
    return _grad_enabled.get()


class _GradMode:
    enabled: bool

    def __new__(cls, fn: Callable | None = None) -> Any:
        """``no_grad()`` makes the context manager; ``no_grad(fn)``, the decorator without parentheses, wraps ``fn``.

        Args:
            fn: the function to wrap, or None for the context manager.

        Returns:
            The context manager, or the wrapped function.
        """
        mode = super().__new__(cls)
        return mode if fn is None else mode(fn)

    def __init__(self, fn: Callable | None = None) -> None:  # the signature the docs show; __new__ took ``fn``
        pass

    def __enter__(self) -> None:
        self._token = _grad_enabled.set(self.enabled)

    def __exit__(self, *exc: object) -> None:
        _grad_enabled.reset(self._token)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator (``@no_grad`` or ``@no_grad()``): ops inside record no graph. Thread- and
    task-local.

    Args:
        fn: a function to wrap (the decorator without parentheses), or None.
    """

    enabled = False


class enable_grad(_GradMode):
    """Context manager and decorator (``@enable_grad`` or ``@enable_grad()``): turn graph recording back on inside
    ``no_grad``.

    Args:
        fn: a function to wrap (the decorator without parentheses), or None.
    """

    enabled = True


class record(_GradMode):
    """Context manager and decorator (``@record`` or ``@record()``): in grad mode every op records a graph node, even
    when no input needs a gradient (only ops that need one keep a vjp), so ``viz`` sees statistics of a raw input.

    Nothing else about grad mode changes: inside ``no_grad`` nothing is recorded, and a backward pass
    records nothing (unless ``create_graph=True``). Thread- and task-local.

    Args:
        fn: a function to wrap (the decorator without parentheses), or None.
    """

    def __enter__(self) -> None:
        self._token = _recording.set(True)

    def __exit__(self, *exc: object) -> None:
        _recording.reset(self._token)


class scope:
    """Context manager and decorator: ops inside belong to a function scope called ``name``.

    ``viz`` boxes (and collapses) a scope like a module::

        @tinygrad_bn.scope("attention")
        def attention(q, k, v): ...

        with tinygrad_bn.scope("head"):
            y = x @ w

    As a decorator the Tensor arguments and results are recorded as the scope's inputs and outputs.

    Args:
        name: the scope's name (appended to the enclosing scope's path).

    Raises:
        TypeError: ``name`` is not a non-empty string.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"scope: name must be a non-empty string, got {name!r}")
        self.name = name

    def __enter__(self) -> Scope:
        s = _function_scope(self.name, ())
        self._token = _scopes.set(_scopes.get() + (s,))
        return s

    def __exit__(self, *exc: object) -> None:
        _scopes.reset(self._token)

    def __call__(self, fn: Callable) -> Callable:
        name = self.name

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            s = _function_scope(name, args)
            token = _scopes.set(_scopes.get() + (s,))
            try:
                result = fn(*args, **kwargs)
            finally:
                _scopes.reset(token)
            s.finish(result)
            return result
        return wrapper


def _function_scope(name: str, args: tuple) -> Scope:
    parent = _scopes.get()
    base = parent[-1].path if parent else None
    return Scope(f"{base}.{name}" if base else name, "function", name,
                 inputs=tuple(a for a in args if isinstance(a, Value)))


def push_scope(s: Scope) -> Any:
    """Push ``s`` on the scope stack; returns the token that :func:`pop_scope` takes (for ``Module.__call__``)."""
    return _scopes.set(_scopes.get() + (s,))


def pop_scope(token: Any) -> None:
    """Undo the :func:`push_scope` that returned ``token``."""
    _scopes.reset(token)


@contextmanager
def module_scope(path: str | None) -> Iterator[None]:
    """Context manager: record ``path`` as the running module on every node created inside the block.

    Args:
        path: the module's dotted path; None runs the block outside every module.
    """
    token = _scopes.set(_scopes.get() + (Scope(path, "module", None),) if path is not None else ())
    try:
        yield
    finally:
        _scopes.reset(token)




def current_module() -> str | None:
    """Path of the module whose forward is running, or None."""
    return _innermost_module(_scopes.get())


def _innermost_module(scopes: tuple[Scope, ...]) -> str | None:
    for s in reversed(scopes):
        if s.kind == "module":
            return s.path
    return None
