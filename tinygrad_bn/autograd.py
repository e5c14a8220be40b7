"""The graph node, grad mode, record mode, module and function scopes, and the reverse-mode engine."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np

from . import anomaly

if TYPE_CHECKING:
    from .tensor import Tensor

_grad_enabled: ContextVar[bool] = ContextVar("grad_enabled", default=True)
_recording: ContextVar[bool] = ContextVar("recording", default=False)
_data = operator.attrgetter("data")


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
                 training: bool | None = None, inputs: tuple[Tensor, ...] = ()) -> None:
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
        Tensor = _tensor.Tensor
        items = result if isinstance(result, tuple | list) else (result,)
        self.output_shapes = tuple(t.shape for t in items if isinstance(t, Tensor))

    def __repr__(self) -> str:
        return f"Scope({self.kind} {self.path!r}, {self.name}({self.extra_repr}))"


_scopes: ContextVar[tuple[Scope, ...]] = ContextVar("scopes", default=())
# a jit recording's effects, constants, the modules called, and every op output and constant in creation order
_tape: ContextVar[tuple[list, dict, list, list] | None] = ContextVar("tape", default=None)


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

    __slots__ = ("op", "inputs", "attrs", "scopes", "random", "vjp", "fn", "stack")

    def __init__(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any],
                 vjp: Callable | None, random: bool = False, fn: Callable | None = None) -> None:
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
    """Context manager and decorator: ops inside record no graph. Thread- and task-local."""

    enabled = False


class enable_grad(_GradMode):
    """Context manager and decorator: turn graph recording back on inside ``no_grad``."""

    enabled = True


class record(_GradMode):
    """Context manager and decorator: in grad mode every op records a graph node, even when no input
    needs a gradient (only ops that need one keep a vjp), so ``viz`` sees statistics of a raw input.

    Nothing else about grad mode changes: inside ``no_grad`` nothing is recorded, and a backward pass
    records nothing (unless ``create_graph=True``). Thread- and task-local.
    """

    def __enter__(self) -> None:
        self._token = _recording.set(True)

    def __exit__(self, *exc: object) -> None:
        _recording.reset(self._token)


def is_recording() -> bool:
    """Whether every op records a node right now (inside :class:`record`)."""
    return _recording.get()


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
    Tensor = _tensor.Tensor
    parent = _scopes.get()
    base = parent[-1].path if parent else None
    return Scope(f"{base}.{name}" if base else name, "function", name,
                 inputs=tuple(a for a in args if isinstance(a, Tensor)))


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


class JitError(RuntimeError):
    """A function cannot be replayed: its two recordings differ, or it does what a replay cannot repeat."""


def refuse_in_recording(what: str) -> None:
    """Raise :class:`JitError` if a :func:`tinygrad_bn.jit` recording is running: ``what`` cannot be replayed.

    Args:
        what: the action, e.g. "an optimizer step".

    Raises:
        JitError: inside a recording.
    """
    if _tape.get() is not None:
        raise JitError(f"jit: the recorded function ran {what}, which a replay would not repeat; return the loss "
                       "and keep backward, zero_grad and the optimizer's step outside the jitted function")


def effect(fn: Callable[..., None], *tensors: Tensor) -> None:
    """Run ``fn(*arrays)`` on the tensors' values now: a change of state outside the graph.

    The running statistics of the normalizers are updated this way, so that a :func:`tinygrad_bn.jit`
    recording, which replays the graph's ops, runs the update again on each call's values.

    Args:
        fn: called with the tensors' ndarrays; its result is ignored.
        *tensors: the values it reads.
    """
    fn(*[t.data for t in tensors])
    tape = _tape.get()
    if tape is not None:  # with its place among the ops: after the ones made so far
        tape[0].append((fn, tensors, len(tape[3])))


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
    t = _tensor.Tensor(fn(*[u.data for u in tensors]), name=name)
    tape = _tape.get()
    if tape is not None:
        tape[1][id(t)] = (t, fn, tensors)
        tape[3].append(t)
    return t


def current_module() -> str | None:
    """Path of the module whose forward is running, or None."""
    return _innermost_module(_scopes.get())


def current_scopes() -> tuple[Scope, ...]:
    """The scope stack right now, outermost first."""
    return _scopes.get()


def _innermost_module(scopes: tuple[Scope, ...]) -> str | None:
    for s in reversed(scopes):
        if s.kind == "module":
            return s.path
    return None


def toposort(roots: Sequence[Tensor]) -> list[Tensor]:
    """Tensors that require grad reachable from ``roots``, outputs first; no recursion."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[Tensor | None] = list(reversed(roots))  # None marks "the tensor below is expanded: emit it"
    push, pop = stack.append, stack.pop
    while stack:
        t = pop()
        if t is None:
            order.append(pop())
            continue
        key = id(t)
        if key in seen:
            continue
        seen.add(key)
        push(t)
        push(None)
        node = t.node
        if node is not None:
            for i in node.inputs:
                if i.requires_grad and id(i) not in seen:
                    push(i)
    order.reverse()
    return order


def inputs_first(roots: Sequence[Tensor], made_from: Mapping[int, Sequence[Tensor]] | None = None,
                 leaves: set[int] | None = None) -> list[Tensor]:
    """Every tensor the ``roots`` were computed from, and the roots, each after its inputs; no recursion.

    Args:
        roots: where to start (the first root's ancestors come first).
        made_from: for tensors without a node, by ``id``, the tensors they were made from (a jit recording's
            constants), followed like a node's inputs.
        leaves: ids of tensors whose inputs are not followed (a jit's arguments).

    Returns:
        The tensors in an order where every input precedes the ops that use it.
    """
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if leaves and id(t) in leaves:
            continue
        inputs = t.node.inputs if t.node is not None else made_from.get(id(t), ()) if made_from else ()
        stack.extend((u, False) for u in reversed(inputs) if id(u) not in seen)
    return order


def unbroadcast(F: Any, g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` over the axes that broadcasting added or stretched, so it has ``shape``.

    ``g`` is an ndarray with ``F = ops.ARRAYS`` (the plain backward) or a Tensor with ``F = ops``.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead > 0:
        g = F.sum(g, axis=tuple(range(lead)))
    if g.shape != shape:
        stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
        if stretched:
            g = F.sum(g, axis=stretched, keepdims=True)
    return g if g.shape == shape else F.reshape(g, shape=shape)


def run_backward(roots: Sequence[Tensor], root_grads: Sequence[Tensor], *, retain_graph: bool,
                 create_graph: bool, retain_grads: bool = False,
                 capture: Sequence[Tensor] | None = None) -> dict[int, Tensor]:
    """Propagate ``root_grads`` back from ``roots``.

    Without ``capture`` gradients accumulate into ``.grad`` of leaves (and of intermediates when
    ``retain_grads`` or ``retain_grad()`` asked for it). With ``capture`` nothing is written to
    ``.grad``; the gradients of the captured tensors are returned, keyed by ``id``. The plain backward
    runs every vjp on ndarrays (``F = ops.ARRAYS``: no Tensor or Node is made until a ``.grad``);
    ``create_graph=True`` runs them on Tensors (``F = ops``), so the backward pass is recorded.
    """
    if not create_graph:
        refuse_in_recording("a backward pass (backward() or grad() without create_graph)")
    ops = _ops
    Tensor = _tensor.Tensor
    F = ops if create_graph else ops.ARRAYS
    wanted = None if capture is None else {id(t) for t in capture}
    found: dict[int, Tensor] = {}
    handed = {_memory(g.data) for g in root_grads}  # arrays the caller holds: never stored as a .grad
    pending: dict[int, Any] = {}
    owned: set[int] = set()  # tensors whose pending gradient is a sum made here, held by nobody else: add in place
    for r, g in zip(roots, root_grads):
        g = g if create_graph else g.data
        pending[id(r)] = pending[id(r)] + g if id(r) in pending else g
    token, recording = _grad_enabled.set(create_graph), _recording.set(False)
    check = anomaly._state.backward
    if check:  # the vjps' own ops are not checked as forward ops: their results are checked per node
        anomaly._state.forward = False
    try:
        with np.errstate(divide="ignore", invalid="ignore"):  # as in the forwards: inf and nan, no warnings
            for t in toposort(roots):
                k = id(t)
                g = pending.pop(k, None)
                if g is None:
                    continue
                if owned:
                    owned.discard(k)
                if t._hooks:
                    g = _run_hooks(t, g, create_graph)
                if wanted is not None:
                    if k in wanted:
                        found[k] = g if create_graph else Tensor(g)
                elif t.node is None or retain_grads or t._retains_grad:
                    _accumulate(t, g, create_graph, handed)
                node = t.node
                if node is None:
                    continue
                vjp, inputs = node.vjp, node.inputs
                if vjp is None:
                    raise RuntimeError(
                        f"backward: the saved values of op '{node.op}' were already freed by an earlier "
                        "backward; pass retain_graph=True to the first backward to go through the graph twice")
                need = [i.requires_grad for i in inputs]
                if create_graph:
                    grads = vjp(F, need, g, t, *inputs, **node.attrs)
                else:
                    grads = vjp(F, need, g, t.data, *map(_data, inputs), **node.attrs)
                if check:
                    anomaly.check_backward(node, grads)
                if not retain_graph:
                    node.vjp = None
                for inp, needed, gi in zip(inputs, need, grads):
                    if gi is None or not needed:
                        continue
                    if gi.shape != inp.data.shape:
                        gi = unbroadcast(F, gi, inp.data.shape)
                    key = id(inp)
                    if key not in pending:
                        pending[key] = gi
                    elif key in owned:  # a sum made here, held by nobody else
                        pending[key] += gi
                    else:
                        pending[key] = pending[key] + gi
                        if not create_graph:
                            owned.add(key)
    finally:
        if check:
            anomaly._state.forward = True
        _recording.reset(recording)
        _grad_enabled.reset(token)
    return found


def _run_hooks(t: Tensor, g: Any, create_graph: bool) -> Any:
    """Pass ``g`` through ``t``'s hooks (they see a Tensor and return a Tensor, an ndarray or None); a returned
    value replaces it after a check that it has the gradient's shape."""
    Tensor = _tensor.Tensor
    for hook in t._hooks:
        replaced = hook(g if create_graph else Tensor(g))
        if replaced is None:
            continue
        name = getattr(hook, "__qualname__", repr(hook))
        if not isinstance(replaced, Tensor | np.ndarray | np.generic | float | int):
            raise TypeError(f"register_hook: hook {name} returned a {type(replaced).__name__}; expected a Tensor, "
                            "an ndarray or None")
        if np.shape(replaced) != g.shape:
            raise ValueError(f"register_hook: hook {name} returned a gradient of shape {np.shape(replaced)} for a "
                             f"tensor whose gradient has shape {g.shape} (the tensor's shape is {t.shape})")
        if create_graph:
            g = replaced if isinstance(replaced, Tensor) else Tensor(np.asarray(replaced, dtype=g.dtype))
        else:
            g = np.asarray(replaced.data if isinstance(replaced, Tensor) else replaced, dtype=g.dtype)
    return g


def _accumulate(t: Tensor, g: Any, create_graph: bool, handed: set[int]) -> None:
    """Add ``g`` (an ndarray, or a Tensor under ``create_graph``) into ``t.grad``. Outside ``create_graph``
    every ``.grad`` gets a writable array of its own: ``g`` is kept when nothing else holds its memory, else
    copied (``handed`` holds the owners of the memory already given out). Copying every time would double
    the large allocations of a step."""
    if g.dtype != t.dtype:
        g = g.astype(t.dtype)
    if create_graph:
        t.grad = g if t.grad is None else t.grad + g
    elif t.grad is not None:
        t.grad = _tensor._result(t.grad.data + g)
    else:
        fresh = g.flags.writeable and _memory(g) not in handed and (g.base is None or type(g.base) is np.ndarray)
        t.grad = _tensor._result(g if fresh else g.copy())
    handed.add(_memory(t.grad.data))


def _memory(a: np.ndarray) -> int:
    """Identity of the array that owns ``a``'s memory (numpy points a view's ``base`` at it)."""
    return id(a if a.base is None else a.base)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Tensor | Sequence[Tensor | None] | None = None, *, create_graph: bool = False,
         retain_graph: bool | None = None, allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    Args:
        outputs: a Tensor or a sequence of them.
        inputs: the Tensors (requiring grad) to differentiate with respect to.
        grad_outputs: the gradient with respect to each output, of its shape; None (for each, or for
            one) is allowed for a one-element output, whose gradient is then 1.
        create_graph: record the backward pass, so the returned gradients carry a graph of their own and
            can be differentiated again (second derivatives, Hessian-vector products).
        retain_graph: keep the graph for another backward (default: ``create_graph``).
        allow_unused: return None for an input the outputs do not depend on, instead of raising.

    Returns:
        One gradient per input, of that input's shape (None for an unused input with ``allow_unused``).

    Raises:
        ValueError: the number of ``grad_outputs`` differs from the outputs', a ``grad_outputs`` entry has the
            wrong shape, an input does not require grad, or an input was not used (without ``allow_unused``).
        RuntimeError: an output does not require grad, or a gradient is missing for an output that is not
            one element.
    """
    Tensor = _tensor.Tensor
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor | np.ndarray):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outs)} outputs; give one per output "
                         "(None for a scalar output)")
    root_grads = [_root_grad(o, g, "grad") for o, g in zip(outs, grad_outputs)]
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise ValueError(f"grad: input {i} ({t.name or 'unnamed'}, shape {t.shape}) does not require grad")
    keep = create_graph if retain_graph is None else retain_graph
    found = run_backward(outs, root_grads, retain_graph=keep, create_graph=create_graph, capture=ins)
    result = tuple(found.get(id(t)) for t in ins)
    for i, (t, g) in enumerate(zip(ins, result)):
        if g is None and not allow_unused:
            raise ValueError(f"grad: input {i} ({t.name or 'unnamed'}, shape {t.shape}) was not used to "
                             "compute the outputs; pass allow_unused=True to get None for it")
    return result


def _root_grad(out: Tensor, g: Tensor | Any | None, where: str) -> Tensor:
    Tensor = _tensor.Tensor
    if not out.requires_grad:
        raise RuntimeError(f"{where}: the output (shape {out.shape}) does not require grad; "
                           "no input with requires_grad=True was used to compute it")
    if g is None:
        if out.size != 1:
            raise RuntimeError(f"{where}: the output has shape {out.shape}; a gradient can be created "
                               "implicitly only for a scalar output, so pass grad= with the output's shape")
        return Tensor(np.ones(out.shape, dtype=out.dtype))
    g = g if isinstance(g, Tensor) else Tensor(g, dtype=out.dtype)
    if g.shape != out.shape:
        raise ValueError(f"{where}: grad has shape {g.shape} but the output has shape {out.shape}")
    return g


from . import ops as _ops  # noqa: E402  (both import this module: bound once here, not per call)
from . import tensor as _tensor  # noqa: E402
