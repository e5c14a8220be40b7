"""Capture the graph behind tensors, or one step of a model, as a ``networkx.DiGraph``.

Node ids are stable strings numbered in data-flow order: ``"t<k>"`` for tensors, ``"op<k>"`` for
ops; every node also carries ``order``, its position in that order (an int). Edges run input
tensor -> op -> output tensor; an input edge carries ``index``, the input's position (the op node's
``inputs`` lists every position, so ``x * x`` is complete too). Scopes (module calls and function
scopes) are in ``g.graph["scopes"]``. Only the public attributes of tensors, ``autograd.Node`` and
``autograd.Scope`` are read. The README's ``viz`` section lists the attributes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from tinygrad_bn import Scope, Tensor, nn, record

BINS = 16
"""Number of equal-width bins of the value and gradient histograms on every tensor node."""

Loss = Callable[[Tensor], Tensor]


def capture(what: Tensor | Sequence[Tensor] | nn.Module, /, *, inputs: Sequence[Tensor] | None = None,
            input: Any = None, target: Any = None, mode: str = "train") -> nx.DiGraph:
    """The graph behind tensors, or behind one step of a model, as a networkx.DiGraph.

    Args:
        what: a Tensor or a list of Tensors (their recorded graph), or an ``nn.Module``.
        inputs: tensors holding the batch (role ``"input"``, batch axis 0). By default they are the
            non-parameter leaves of rank >= 2 whose first axis has the batch size (the first-axis size
            (> 1) of such a leaf that most tensors share), leaving out constants a function scope made.
        input: for a module: the batch (a Tensor or array, e.g. of shape (N, C, H, W)).
        target: for a module, optional: class labels (N,) (cross-entropy), an array of the output's
            shape (mean squared error), or a callable ``loss = target(output)``. With it the loss is
            computed and back-propagated, keeping every intermediate gradient.
        mode: for a module: ``"train"`` (batch statistics, dropout on) or ``"eval"``.

    Returns:
        The graph. For a module, one forward pass runs under ``tinygrad_bn.record()`` (so statistics of
        an input that needs no grad are recorded), and afterwards the module's running statistics,
        ``num_batches_tracked``, parameter gradients, random generators and train/eval flags are
        exactly what they were.

    Raises:
        TypeError: ``what`` is neither Tensors nor a Module, or a module is given without ``input``.
        ValueError: a given input is not in the graph, or ``mode`` is not "train"/"eval".
    """
    if isinstance(what, nn.Module):
        return _capture_step(what, input, target, mode)
    if input is not None or target is not None:
        raise TypeError("capture: input= and target= are for a model; for tensors pass inputs=[...]")
    roots = [what] if isinstance(what, Tensor) else list(what)
    for i, r in enumerate(roots):
        if not isinstance(r, Tensor):
            raise TypeError(f"capture: expected a Tensor, a list of Tensors or an nn.Module, got "
                            f"{type(r).__name__}" + (f" at position {i}" if r is not what else ""))
    if not roots:
        raise ValueError("capture: expected at least one Tensor")
    return _graph(roots, inputs)


def _capture_step(model: nn.Module, x: Any, target: Any, mode: str) -> nx.DiGraph:
    if mode not in ("train", "eval"):
        raise ValueError(f"capture: mode must be 'train' or 'eval', got {mode!r}")
    if x is None:
        raise TypeError(f"capture: drawing a model ({type(model).__name__}) needs input=, e.g. a batch "
                        "Tensor of shape (N, features)")
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x), name="input")
    saved = _save_state(model)
    try:
        model.train(mode == "train")
        with record():
            out = model(x)
            loss = _loss(out, target) if target is not None else None
        roots = [loss] if loss is not None else ([out] if isinstance(out, Tensor) else list(out))
        if loss is not None and loss.requires_grad:
            for p in model.parameters():
                p.grad = None
            x.grad = None
            loss.backward(retain_grads=True)
        return _graph(roots, [x])
    finally:
        _restore_state(saved)


def _loss(out: Any, target: Any) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"capture: target= needs the model to return one Tensor, got {type(out).__name__}")
    if callable(target):
        loss = target(out)
        if not isinstance(loss, Tensor):
            raise TypeError(f"capture: the loss callable must return a Tensor, got {type(loss).__name__}")
        return loss
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if y.shape == out.shape and y.dtype.kind == "f":
        return out.mse(y)
    return out.cross_entropy(y)


def _save_state(model: nn.Module) -> list[Callable[[], None]]:
    """Closures that put back what a forward and backward pass change: flags, buffers, grads, generators."""
    undo: list[Callable[[], None]] = []
    for m in model.modules():
        flag = m.training
        undo.append(lambda m=m, flag=flag: object.__setattr__(m, "training", flag))
        for v in vars(m).values():
            if isinstance(v, np.random.Generator):
                state = v.bit_generator.state
                undo.append(lambda v=v, state=state: setattr(v.bit_generator, "state", state))
    for _, b in model.named_buffers():
        data = b.data.copy()
        undo.append(lambda b=b, data=data: b.data.__setitem__(..., data))
    for p in model.parameters():
        undo.append(lambda p=p, grad=p.grad: setattr(p, "grad", grad))
    return undo


def _restore_state(undo: list[Callable[[], None]]) -> None:
    for f in undo:
        f()


# ----- the graph -----------------------------------------------------------------------------

def _graph(roots: list[Tensor], inputs: Sequence[Tensor] | None) -> nx.DiGraph:
    order = _walk(roots)
    tid = {id(t): f"t{k}" for k, t in enumerate(order)}
    unknown = [t for t in (inputs or ()) if id(t) not in tid]
    if unknown:
        raise ValueError(f"capture: {len(unknown)} of the given inputs (shape {unknown[0].shape}) are not in the graph")
    scopes = _Scopes()
    made_inside = _scope_constants(order)
    chosen = _inputs(order, made_inside) if inputs is None else {id(t) for t in inputs}
    outputs = {id(r) for r in roots}

    g = nx.DiGraph(outputs=[tid[id(r)] for r in roots], inputs=[tid[id(t)] for t in order if id(t) in chosen])
    for k, t in enumerate(order):
        role = "constant" if id(t) in made_inside and id(t) not in chosen else _role(t, id(t) in chosen,
                                                                                    id(t) in outputs)
        g.add_node(tid[id(t)], order=2 * k + 1, **_tensor_attrs(t, role))
        node = t.node
        if node is None:
            continue
        op = f"op{k}"
        ins = [tid[id(i)] for i in node.inputs]
        keys = scopes.keys(node.scopes)
        g.add_node(op, kind="op", order=2 * k, op=node.op, attrs=dict(node.attrs), module=node.module,
                   scopes=keys, random=bool(node.random), inputs=ins, output=tid[id(t)])
        for pos, i in enumerate(ins):
            if not g.has_edge(i, op):
                g.add_edge(i, op, index=pos)
        g.add_edge(op, tid[id(t)])
        g.nodes[tid[id(t)]].update(module=node.module, scopes=keys)
    _place_leaves(g)
    g.graph["scopes"] = scopes.table
    g.graph["unrecorded"] = [key for key, s in scopes.objects.items()
                             if scopes.training[key] is not False and _unrecorded(s, tid)]
    return g


class _Scopes:
    """Numbers each Scope object (one per call) ``s<k>`` and describes it as a plain dict."""

    def __init__(self) -> None:
        self.table: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, Scope] = {}
        self.training: dict[str, bool | None] = {}  # a function scope runs in its enclosing module's mode
        self._ids: dict[int, str] = {}
        self._stacks: dict[int, tuple[str, ...]] = {}

    def keys(self, stack: tuple[Scope, ...]) -> tuple[str, ...]:
        known = self._stacks.get(id(stack))
        if known is not None:
            return known
        keys, parent = [], None
        for s in stack:
            key = self._ids.get(id(s))
            if key is None:
                key = self._ids[id(s)] = f"s{len(self._ids)}"
                self.objects[key] = s
                self.training[key] = s.training if s.kind == "module" else self.training.get(parent)
                self.table[key] = dict(path=s.path, kind=s.kind, name=s.name, extra_repr=s.extra_repr,
                                       training=s.training, input_shapes=s.input_shapes,
                                       output_shapes=s.output_shapes, parent=parent)
            keys.append(key)
            parent = key
        self._stacks[id(stack)] = out = tuple(keys)
        return out


def _unrecorded(s: Scope, tid: dict[int, str]) -> bool:
    """A call whose floating batch input (rank >= 2) is missing: it computed from it unrecorded."""
    return any(t.dtype.kind == "f" and t.ndim >= 2 and id(t) not in tid for t in s.inputs)


def _walk(roots: list[Tensor]) -> list[Tensor]:
    """Every tensor reachable from ``roots``, inputs before the ops that use them (iterative DFS)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t.node is not None:
            stack.extend((i, False) for i in reversed(t.node.inputs) if id(i) not in seen)
    return order


def _scope_constants(order: list[Tensor]) -> set[int]:
    """Leaves a function scope made for itself (e.g. log_softmax's max shift): every op using the leaf
    ran inside one function-scope call, and the leaf is not an input of any call it is used in."""
    users: dict[int, list[tuple]] = {}
    for t in order:
        if t.node is not None:
            for i in t.node.inputs:
                if i.node is None and not i.requires_grad and not i.is_parameter:
                    users.setdefault(id(i), []).append(t.node.scopes)
    made = set()
    for key, stacks in users.items():
        shared = set.intersection(*({id(s) for s in st if s.kind == "function"} for st in stacks))
        passed = any(key == id(x) for st in stacks for s in st for x in s.inputs)
        if shared and not passed:
            made.add(key)
    return made


def _inputs(order: list[Tensor], exclude: set[int]) -> set[int]:
    """Non-parameter leaves of rank >= 2 whose first axis has the batch size (see ``capture``)."""
    leaves = [t for t in order if t.is_leaf and not t.is_parameter and t.ndim >= 2 and t.shape[0] > 1
              and id(t) not in exclude]
    if not leaves:
        return set()
    sizes = Counter(t.shape[0] for t in order if t.ndim >= 2)
    batch = max({t.shape[0] for t in leaves}, key=lambda n: (sizes[n], n))
    return {id(t) for t in leaves if t.shape[0] == batch}


def _role(t: Tensor, is_input: bool, is_output: bool) -> str:
    if is_output:
        return "output"
    if not t.is_leaf:
        return "intermediate"
    if t.is_parameter:
        return "parameter"
    if is_input:
        return "input"
    return "parameter" if t.requires_grad else "constant"


def _tensor_attrs(t: Tensor, role: str) -> dict[str, Any]:
    attrs: dict[str, Any] = dict(
        kind="tensor", role=role, name=t.name, shape=tuple(t.shape), dtype=str(t.dtype), module=None, scopes=(),
        is_leaf=t.is_leaf, is_parameter=bool(t.is_parameter), requires_grad=bool(t.requires_grad))
    summary, attrs["hist"] = _stats(t.data)
    attrs.update(mean=summary[0], std=summary[1], min=summary[2], max=summary[3])
    bad = [] if summary[2] is None or math.isfinite(summary[2]) and math.isfinite(summary[3]) else ["value"]
    grad = t.grad
    if grad is None:
        attrs.update(grad_norm=None, grad_mean_abs=None, grad_hist=None)
    else:
        g = np.asarray(grad.data, dtype=np.float64)
        mean_abs = float(np.add.reduce(np.abs(g), axis=None)) / g.size if g.size else 0.0
        attrs.update(grad_norm=float(np.sqrt(np.add.reduce(g * g, axis=None))), grad_mean_abs=mean_abs,
                     grad_hist=_stats(g)[1])
        if not np.isfinite(g).all():
            bad.append("gradient")
    attrs["nonfinite"] = " and ".join(bad) or None  # which of value / gradient holds a nan or inf
    return attrs


def _stats(data: np.ndarray) -> tuple[tuple[float | None, ...], dict[str, list] | None]:
    """(mean, std, min, max) of the values, and ``BINS`` equal-width bins of the finite ones
    (``{"counts": [int], "edges": [float]}``, None if there are none)."""
    if data.size == 0 or data.dtype.kind not in "biuf":
        return (None,) * 4, None
    a = np.asarray(data, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        mean = float(np.add.reduce(a)) / a.size
        c = a - mean
        summary = (mean, math.sqrt(float(np.add.reduce(c * c)) / a.size) if math.isfinite(mean) else math.nan,
                   float(a.min()), float(a.max()))
    finite = np.isfinite(a)
    if not finite.all():
        a = a[finite]
        if a.size == 0:
            return summary, None
    lo, hi = float(a.min()), float(a.max())
    half = hi / 2 - lo / 2  # half the range: never overflows
    half = half if half > 1e-300 else 0.5  # a tiny range: every value in the first bin
    with np.errstate(over="ignore"):
        index = np.clip((a / 2 - lo / 2) * (BINS / half), 0, BINS - 1).astype(np.int64)
        edges = lo + (half / BINS) * 2 * np.arange(BINS + 1)
    return summary, dict(counts=np.bincount(index, minlength=BINS).tolist(), edges=edges.tolist())


def _place_leaves(g: nx.DiGraph) -> None:
    """Parameters and constants belong to the module (and scopes) of the ops that use them, when those agree."""
    for n, d in g.nodes(data=True):
        if d["kind"] == "tensor" and d["role"] in ("parameter", "constant"):
            users = {(g.nodes[op]["module"], g.nodes[op]["scopes"]) for op in g.successors(n)}
            if len(users) == 1:
                d["module"], d["scopes"] = users.pop()
