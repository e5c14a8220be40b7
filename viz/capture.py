"""Capture the graph behind tensors, or one step of a model, as a ``networkx.DiGraph``.

Node ids are stable strings numbered in data-flow order: ``"t<k>"`` for tensors, ``"op<k>"`` for
ops; every node also carries ``order``, its position in that order (an int). Edges run input
tensor -> op -> output tensor; an input edge carries ``index``, the input's position (the op node's
``inputs`` lists every position, so ``x * x`` is complete too). Scopes (module calls and function
scopes) are in ``g.graph["scopes"]``. Only the public attributes of tensors, ``autograd.Node`` and
``autograd.Scope`` are read. The README's ``viz`` section lists the attributes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from tinygrad_bn import Scope, Tensor, nn, record
from tinygrad_bn.autograd import inputs_first

from .graph_parts import add_statistics, paused_gc, place_leaves

Loss = Callable[[Tensor], Tensor]


def capture(what: Tensor | Sequence[Tensor] | nn.Module, /, *, inputs: Sequence[Tensor] | None = None,
            input: Any = None, target: Any = None, mode: str = "train") -> nx.DiGraph:
    """The graph behind tensors, or behind one step of a model, as a networkx.DiGraph.

    Args:
        what: a Tensor or a list of Tensors (their recorded graph), an ``nn.Module``, or a ``torch.nn.Module``
            (captured by :func:`viz.torch_capture.capture_torch`, the same contract; needs torch).
        inputs: tensors holding the batch (role ``"input"``, batch axis 0). By default they are the
            non-parameter leaves of rank >= 2 whose first axis has the batch size (the first-axis size
            (> 1) of such a leaf that most tensors share), leaving out constants a function scope made.
        input: for a module: the batch (a Tensor or array, e.g. of shape (N, C, H, W); for a torch model a
            torch.Tensor, an array, or a tuple of them).
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
    if is_model(what):
        from .torch_capture import capture_torch

        return capture_torch(what, input=input, target=target, mode=mode)
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


def is_model(what: Any) -> bool:
    """Whether ``what`` is a model viz runs one step of: a tinygrad_bn ``nn.Module``, or a ``torch.nn.Module``
    (told by its type's name, without importing torch)."""
    return isinstance(what, nn.Module) or any(c.__name__ == "Module" and c.__module__ == "torch.nn.modules.module"
                                              for c in type(what).__mro__)


def _capture_step(model: nn.Module, x: Any, target: Any, mode: str) -> nx.DiGraph:
    if mode not in ("train", "eval"):
        raise ValueError(f"capture: mode must be 'train' or 'eval', got {mode!r}")
    if x is None:
        raise TypeError(f"capture: drawing a model ({type(model).__name__}) needs input=, e.g. a batch "
                        "Tensor of shape (N, features)")
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x), name="input")
    with nn.utils.preserved_state(model, hooks=False):  # a Monitor's hooks do not record this pass
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
        return _graph(roots, [x], {id(b): name.rsplit(".", 1)[-1].replace("_", " ")
                                   for name, b in model.named_buffers()})


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


# ----- the graph -----------------------------------------------------------------------------

@paused_gc()
def _graph(roots: list[Tensor], inputs: Sequence[Tensor] | None, buffers: dict[int, str] | None = None) -> nx.DiGraph:
    order = inputs_first(roots)
    tid = {id(t): f"t{k}" for k, t in enumerate(order)}
    unknown = [t for t in (inputs or ()) if id(t) not in tid]
    if unknown:
        raise ValueError(f"capture: {len(unknown)} of the given inputs (shape {unknown[0].shape}) are not in the graph")
    scopes = _Scopes()
    made_inside = _scope_constants(order)
    chosen = _inputs(order, made_inside) if inputs is None else {id(t) for t in inputs}
    outputs = {id(r) for r in roots}

    nodes: list[tuple[str, dict[str, Any]]] = []
    edges: list[tuple[str, str, dict[str, int]]] = []
    tensors: list[dict[str, Any]] = []
    modules: dict[int, str | None] = {}  # one module path per shared scope stack
    leaves: dict[str, set[tuple]] = {}  # parameter or constant -> the (module, scopes) of the ops using it
    for k, t in enumerate(order):
        key = id(t)
        role = "constant" if key in made_inside and key not in chosen else _role(t, key in chosen, key in outputs)
        out = tid[key]
        attrs = _tensor_attrs(t, role)
        if buffers and key in buffers and role == "constant":  # a module's buffer read as is (eval running stats)
            attrs.update(role="buffer", name=t.name or buffers[key])
        attrs["order"] = 2 * k + 1
        nodes.append((out, attrs))  # a tensor before the op that made it, so edges list in the order they had
        tensors.append(attrs)
        if attrs["role"] in ("parameter", "constant", "buffer"):
            leaves[out] = set()
        node = t.node
        if node is not None:
            op = f"op{k}"
            ins = [tid[id(i)] for i in node.inputs]
            keys = scopes.keys(node.scopes)
            module = modules.get(id(node.scopes), False)
            if module is False:
                module = modules[id(node.scopes)] = node.module
            nodes.append((op, dict(kind="op", order=2 * k, op=node.op, attrs=dict(node.attrs), module=module,
                                   scopes=keys, random=bool(node.random), inputs=ins, output=out)))
            first = {}
            for pos, i in enumerate(ins):
                first.setdefault(i, pos)
            edges.extend((i, op, {"index": pos}) for i, pos in first.items())
            edges.append((op, out, {}))
            attrs.update(module=module, scopes=keys)
            for i in first:
                if i in leaves:
                    leaves[i].add((module, keys))
    add_statistics([t.data for t in order], [(k, t.grad.data) for k, t in enumerate(order) if t.grad is not None],
                   tensors)
    place_leaves(dict(nodes), leaves)
    g = nx.DiGraph(outputs=[tid[id(r)] for r in roots], inputs=[tid[id(t)] for t in order if id(t) in chosen])
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
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
    dtype = t.data.dtype
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype)
    return dict(kind="tensor", role=role, name=t.name, shape=t.data.shape, dtype=name, module=None, scopes=(),
                is_leaf=t.node is None, is_parameter=bool(t.is_parameter), requires_grad=bool(t.requires_grad))


_DTYPE_NAMES: dict[np.dtype, str] = {}  # str(dtype) costs ~30 µs
