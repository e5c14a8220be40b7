"""The backward pass: the walk of the graph, the vjps, the gradients' accumulation.

It works on arrays: the plain backward runs every vjp on ndarrays and makes a Tensor only for a
``.grad``, a hook or a captured gradient. Its callers (``Tensor.backward``, :func:`tinygrad_bn.grad`)
pass in the primitives (``ops``) and ``wrap`` (an ndarray to a Tensor), so this module sits below
``tensor`` and ``ops`` and imports only the graph, the tape and anomaly detection.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import anomaly, tape
from .graph import Value, _grad_enabled, _recording, inplace_ops

if TYPE_CHECKING:
    from .tensor import Tensor

Wrap = Callable[[np.ndarray], "Tensor"]
_data = operator.attrgetter("data")


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


def run_backward(roots: Sequence[Tensor], root_grads: Sequence[Tensor], *, ops: Any, wrap: Wrap,
                 retain_graph: bool, create_graph: bool, retain_grads: bool = False,
                 capture: Sequence[Tensor] | None = None) -> dict[int, Tensor]:
    """Propagate ``root_grads`` back from ``roots``.

    Without ``capture`` gradients accumulate into ``.grad`` of leaves (and of intermediates when
    ``retain_grads`` or ``retain_grad()`` asked for it). With ``capture`` nothing is written to
    ``.grad``; the gradients of the captured tensors are returned, keyed by ``id``. The plain backward
    runs every vjp on ndarrays (``F = ops.ARRAYS``: no Tensor or Node is made until a ``.grad``);
    ``create_graph=True`` runs them on Tensors (``F = ops``), so the backward pass is recorded.
    ``ops`` is :mod:`tinygrad_bn.ops`; ``wrap`` makes a Tensor of an ndarray.
    """
    if not create_graph:
        tape.refuse("a backward pass (backward() or grad() without create_graph)")
    F = ops if create_graph else ops.ARRAYS
    wanted = None if capture is None else {id(t) for t in capture}
    found: dict[int, Tensor] = {}
    handed = {memory(g.data) for g in root_grads}  # arrays the caller holds: never stored as a .grad
    pending: dict[int, Any] = {}
    owned: set[int] = set()  # tensors whose pending gradient is a sum made here, held by nobody else: add in place
    for r, g in zip(roots, root_grads):
        g = g if create_graph else g.data
        pending[id(r)] = pending[id(r)] + g if id(r) in pending else g
    token, recording = _grad_enabled.set(create_graph), _recording.set(False)
    check = anomaly.checking_backward.get()
    if check:  # the vjps' own ops are not checked as forward ops: their results are checked per node
        forward_check = anomaly.checking_forward.set(False)
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
                    g = run_hooks(t._hooks, g, t.shape, create_graph, wrap)
                if wanted is not None:
                    if k in wanted:
                        found[k] = g if create_graph else wrap(g)
                elif t.node is None or retain_grads or t._retains_grad:
                    accumulate(t, g, create_graph, handed, wrap)
                node = t.node
                if node is None:
                    continue
                vjp, inputs = node.vjp, node.inputs
                if inplace_ops[0]:
                    _check_versions(t, node)
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
            anomaly.checking_forward.reset(forward_check)
        _recording.reset(recording)
        _grad_enabled.reset(token)
    return found


def _check_versions(t: Tensor, node: Any) -> None:
    """Raise if ``t`` or an input of its node was changed in place after the node saved it (PyTorch's check)."""
    saved = node.versions or (0,) * (len(node.inputs) + 1)
    for k, (u, v) in enumerate(zip((t, *node.inputs), saved)):
        if u._version != v:
            what = "its output" if k == 0 else f"its input {k - 1}"
            raise RuntimeError(
                f"backward: one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: {what} (shape {u.shape}) of op '{node.op}' is at version {u._version}; expected "
                f"version {v} instead. Compute the in-place change after backward, or on a clone()")


def run_hooks(hooks: Sequence[Callable[[Tensor], Any]], g: Any, shape: tuple[int, ...], create_graph: bool,
              wrap: Wrap) -> Any:
    """Pass ``g``, the gradient of a tensor of ``shape``, through its ``hooks`` (they see a Tensor and return a
    Tensor, an ndarray or None); a returned value replaces it after a check that it has the gradient's shape."""
    for hook in hooks:
        replaced = hook(g if create_graph else wrap(g))
        if replaced is None:
            continue
        name = getattr(hook, "__qualname__", repr(hook))
        if not isinstance(replaced, Value | np.ndarray | np.generic | float | int):
            raise TypeError(f"register_hook: hook {name} returned a {type(replaced).__name__}; expected a Tensor, "
                            "an ndarray or None")
        if np.shape(replaced) != g.shape:
            raise ValueError(f"register_hook: hook {name} returned a gradient of shape {np.shape(replaced)} for a "
                             f"tensor whose gradient has shape {g.shape} (the tensor's shape is {shape})")
        if create_graph:
            g = replaced if isinstance(replaced, Value) else wrap(np.asarray(replaced, dtype=g.dtype))
        else:
            g = np.asarray(replaced.data if isinstance(replaced, Value) else replaced, dtype=g.dtype)
    return g


def accumulate(t: Tensor, g: Any, create_graph: bool, handed: set[int], wrap: Wrap) -> None:
    """Add ``g`` (an ndarray, or a Tensor under ``create_graph``) into ``t.grad``. Outside ``create_graph``
    every ``.grad`` gets a writable array of its own: ``g`` is kept when nothing else holds its memory, else
    copied (``handed`` holds the owners of the memory already given out). Copying every time would double
    the large allocations of a step."""
    if g.dtype != t.dtype:
        g = g.astype(t.dtype)
    if create_graph:
        t.grad = g if t.grad is None else t.grad + g
    elif t.grad is not None:
        t.grad = wrap(t.grad.data + g)
    else:
        fresh = g.flags.writeable and memory(g) not in handed and (g.base is None or type(g.base) is np.ndarray)
        t.grad = wrap(g if fresh else g.copy())
    handed.add(memory(t.grad.data))


def memory(a: np.ndarray) -> int:
    """Identity of the array that owns ``a``'s memory (numpy points a view's ``base`` at it)."""
    return id(a if a.base is None else a.base)
