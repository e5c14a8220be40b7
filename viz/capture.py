"""Capture the graph behind tensors as a ``networkx.DiGraph``: one node per tensor and one per op.

Node ids are stable strings numbered in data-flow order: ``"t<k>"`` for tensors, ``"op<k>"`` for
ops. Edges run input tensor -> op -> output tensor; an input edge carries ``index``, the input's
position (the op node's ``inputs`` lists every position, so ``x * x`` is complete too). Only the
public attributes of tensors and ``autograd.Node`` are read. The README's ``viz`` section lists the
node attributes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from tinygrad_bn import Tensor


def capture(target: Tensor | Sequence[Tensor], *, inputs: Sequence[Tensor] | None = None) -> nx.DiGraph:
    """The graph behind ``target`` (a Tensor or a list of them) as a networkx.DiGraph.

    ``inputs`` names the tensors that hold the batch (role ``"input"``, batch axis 0). By default
    they are found by shape: the non-parameter leaves of rank >= 2 whose first axis has the batch
    size, which is the first-axis size (> 1) of such a leaf that most tensors of the graph share.
    """
    roots = [target] if isinstance(target, Tensor) else list(target)
    for i, r in enumerate(roots):
        if not isinstance(r, Tensor):
            raise TypeError(f"capture: expected a Tensor or a list of Tensors, got {type(r).__name__} at position {i}")
    if not roots:
        raise ValueError("capture: expected at least one Tensor")
    order = _walk(roots)
    tid = {id(t): f"t{k}" for k, t in enumerate(order)}
    chosen = _inputs(order) if inputs is None else {id(t) for t in inputs}
    unknown = [t for t in (inputs or ()) if id(t) not in tid]
    if unknown:
        raise ValueError(f"capture: {len(unknown)} of the given inputs (shape {unknown[0].shape}) are not in the graph")
    outputs = {id(r) for r in roots}

    g = nx.DiGraph(outputs=[tid[id(r)] for r in roots], inputs=[tid[id(t)] for t in order if id(t) in chosen])
    for k, t in enumerate(order):
        g.add_node(tid[id(t)], **_tensor_attrs(t, _role(t, id(t) in chosen, id(t) in outputs)))
        node = t.node
        if node is None:
            continue
        op = f"op{k}"
        ins = [tid[id(i)] for i in node.inputs]
        g.add_node(op, kind="op", op=node.op, attrs=dict(node.attrs), module=node.module, random=bool(node.random),
                   inputs=ins, output=tid[id(t)])
        for pos, i in enumerate(ins):
            if not g.has_edge(i, op):
                g.add_edge(i, op, index=pos)
        g.add_edge(op, tid[id(t)])
        g.nodes[tid[id(t)]]["module"] = node.module
    _place_leaves(g)
    return g


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


def _inputs(order: list[Tensor]) -> set[int]:
    """Non-parameter leaves of rank >= 2 whose first axis has the batch size (see ``capture``)."""
    leaves = [t for t in order if t.is_leaf and not t.is_parameter and t.ndim >= 2 and t.shape[0] > 1]
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
        kind="tensor", role=role, name=t.name, shape=tuple(t.shape), dtype=str(t.dtype), module=None,
        is_leaf=t.is_leaf, is_parameter=bool(t.is_parameter), requires_grad=bool(t.requires_grad))
    attrs.update(_summary(t.data))
    grad = t.grad
    if grad is None:
        attrs.update(grad_norm=None, grad_mean_abs=None)
    else:
        g = np.asarray(grad.data, dtype=np.float64)
        mean_abs = float(np.mean(np.abs(g))) if g.size else 0.0
        attrs.update(grad_norm=float(np.sqrt(np.sum(g * g))), grad_mean_abs=mean_abs)
    return attrs


def _summary(data: np.ndarray) -> dict[str, float | None]:
    if data.size == 0 or data.dtype.kind not in "biuf":
        return dict(mean=None, std=None, min=None, max=None)
    a = np.asarray(data, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return dict(mean=float(a.mean()), std=float(a.std()), min=float(a.min()), max=float(a.max()))


def _place_leaves(g: nx.DiGraph) -> None:
    """Parameters and constants belong to the module of the ops that use them, when those agree."""
    for n, d in g.nodes(data=True):
        if d["kind"] == "tensor" and d["role"] in ("parameter", "constant"):
            modules = {g.nodes[op]["module"] for op in g.successors(n)}
            if len(modules) == 1:
                d["module"] = modules.pop()
