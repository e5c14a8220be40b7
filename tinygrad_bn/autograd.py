"""The graph node, grad mode, module scope, and the reverse-mode engine."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .tensor import Tensor

_grad_enabled: ContextVar[bool] = ContextVar("grad_enabled", default=True)
_module_path: ContextVar[str | None] = ContextVar("module_path", default=None)


class Node:
    """How a tensor was made: an op applied to input tensors.

    Public attributes, read by ``viz``: ``op`` (primitive name), ``inputs`` (tensors, in order),
    ``attrs`` (keyword arguments of the op, e.g. ``axis``), ``module`` (path of the module that was
    running, or None) and ``random`` (the op drew random numbers). ``vjp`` is the saved
    vector-Jacobian product; backward frees it unless ``retain_graph=True``.
    """

    __slots__ = ("op", "inputs", "attrs", "module", "random", "vjp")

    def __init__(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any],
                 vjp: Callable | None, random: bool = False) -> None:
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.vjp = vjp
        self.random = random
        self.module = _module_path.get()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())
        return f"Node({self.op}{', ' + args if args else ''}, module={self.module!r})"


def is_grad_enabled() -> bool:
    """Whether ops record the graph right now (False inside ``no_grad``)."""
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


@contextmanager
def module_scope(path: str | None) -> Iterator[None]:
    """Record ``path`` as the running module on every node created inside the block."""
    token = _module_path.set(path)
    try:
        yield
    finally:
        _module_path.reset(token)


def current_module() -> str | None:
    """Path of the module whose forward is running, or None."""
    return _module_path.get()


def toposort(roots: Sequence[Tensor]) -> list[Tensor]:
    """Tensors that require grad reachable from ``roots``, outputs first; no recursion."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in reversed(roots)]
    push = stack.append
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        key = id(t)
        if key in seen:
            continue
        seen.add(key)
        push((t, True))
        if t.node is not None:
            for i in t.node.inputs:
                if i.requires_grad and id(i) not in seen:
                    push((i, False))
    order.reverse()
    return order


def unbroadcast(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``g`` over the axes that broadcasting added or stretched, so it has ``shape``."""
    if g.data.shape == shape:
        return g
    from .ops import sum as total  # the primitive: these axes are already sorted and non-negative
    lead = g.data.ndim - len(shape)
    if lead > 0:
        g = total(g, axis=tuple(range(lead)))
    if g.data.shape != shape:
        stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.data.shape[i] != 1)
        if stretched:
            g = total(g, axis=stretched, keepdims=True)
    return g if g.data.shape == shape else g.reshape(shape)


def run_backward(roots: Sequence[Tensor], root_grads: Sequence[Tensor], *, retain_graph: bool,
                 create_graph: bool, retain_grads: bool = False,
                 capture: Sequence[Tensor] | None = None) -> dict[int, Tensor]:
    """Propagate ``root_grads`` back from ``roots``.

    Without ``capture`` gradients accumulate into ``.grad`` of leaves (and of intermediates when
    ``retain_grads`` or ``retain_grad()`` asked for it). With ``capture`` nothing is written to
    ``.grad``; the gradients of the captured tensors are returned, keyed by ``id``.
    """
    wanted = None if capture is None else {id(t) for t in capture}
    found: dict[int, Tensor] = {}
    handed = {_memory(g.data) for g in root_grads}  # arrays the caller holds: never stored as a .grad
    pending: dict[int, Tensor] = {}
    for r, g in zip(roots, root_grads):
        pending[id(r)] = pending[id(r)] + g if id(r) in pending else g
    token = _grad_enabled.set(create_graph)
    try:
        for t in toposort(roots):
            g = pending.pop(id(t), None)
            if g is None:
                continue
            for hook in t._hooks:
                replaced = hook(g)
                if replaced is not None:
                    g = replaced
            if wanted is not None:
                if id(t) in wanted:
                    found[id(t)] = g
            elif t.node is None or retain_grads or t._retains_grad:
                _accumulate(t, g, create_graph, handed)
            node = t.node
            if node is None:
                continue
            if node.vjp is None:
                raise RuntimeError(
                    f"backward: the saved values of op '{node.op}' were already freed by an earlier "
                    "backward; pass retain_graph=True to the first backward to go through the graph twice")
            grads = node.vjp(g, t)
            if not retain_graph:
                node.vjp = None
            for inp, gi in zip(node.inputs, grads):
                if gi is None or not inp.requires_grad:
                    continue
                if gi.data.shape != inp.data.shape:
                    gi = unbroadcast(gi, inp.data.shape)
                key = id(inp)
                pending[key] = pending[key] + gi if key in pending else gi
    finally:
        _grad_enabled.reset(token)
    return found


def _accumulate(t: Tensor, g: Tensor, create_graph: bool, handed: set[int]) -> None:
    """Add ``g`` into ``t.grad``. Outside ``create_graph`` every ``.grad`` gets a writable array of its
    own: ``g``'s array is kept when nothing else holds its memory, else copied (``handed`` holds the
    owners of the memory already given out). Copying every time would double the large allocations of a step."""
    from .tensor import Tensor
    if g.dtype != t.dtype:
        g = g.astype(t.dtype)
    if t.grad is not None:
        t.grad = t.grad + g
    elif create_graph:
        t.grad = g
    else:
        a = g.data
        fresh = a.flags.writeable and _memory(a) not in handed and (a.base is None or type(a.base) is np.ndarray)
        t.grad = Tensor(a if fresh else a.copy())
    handed.add(_memory(t.grad.data))


def _memory(a: np.ndarray) -> int:
    """Identity of the array that owns ``a``'s memory (numpy points a view's ``base`` at it)."""
    return id(a if a.base is None else a.base)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Tensor | Sequence[Tensor | None] | None = None, *, create_graph: bool = False,
         retain_graph: bool | None = None, allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    With ``create_graph=True`` the returned gradients carry a graph of their own, so they can be
    differentiated again (second derivatives, Hessian-vector products).
    """
    from .tensor import Tensor
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    root_grads = [_root_grad(o, g, "grad") for o, g in zip(outs, grad_outputs, strict=True)]
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
    from .tensor import Tensor
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
