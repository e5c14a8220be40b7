"""One step of a PyTorch model as the graph :func:`viz.capture` makes of a tinygrad_bn model (the same contract).

``torch.export`` traces the model, and the loss when a target is given, into ATen ops; explicit
decompositions (:func:`decompositions`) turn batch norm, layer/group/instance norm, dropout, linear
and convolution layers and the losses into primitive ops: a BatchNorm becomes ``var_mean`` ->
``sub`` -> ``rsqrt`` -> ``mul``, a Dropout ``rand_like`` -> ``gt`` -> ``mul``. ``torch.fx.Interpreter``
runs the exported graph on the real input, keeping every intermediate; with a target, torch autograd
gives each intermediate its gradient. The ``nn_module_stack`` export records on every node gives the
module scopes (one per call); the ops torch decomposed from one of its composite ops (``batch_norm``,
``dropout``, ``cross_entropy_loss``, ...) sit in a function scope named after it.

Op names: an ATen op that is one of our primitives takes its name (``aten.sub`` -> ``sub``, ``aten.mm``
-> ``matmul``, ``aten.permute`` -> ``transpose``, ``aten.view`` and ``aten.unsqueeze`` -> ``reshape``; a
``var_mean`` becomes a ``var`` and a ``mean`` node), with our attribute names (``axis``, ``keepdims``);
the others are named ``"aten.<name>"`` (``aten.rsqrt``) and their batch-axis rules are in
``viz.batch_axes.ATEN``. Each op node also holds ``aten``, the full overload name. An op without a rule
is drawn as an opaque node under its own name, with a warning, and the noise report says that past it
no entry does not mean no batch noise. torch is imported only when a model is captured.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from .batch_axes import known
from .graph_parts import add_statistics, paused_gc, place_leaves

if TYPE_CHECKING:
    import torch

__all__ = ["TorchExportError", "capture_torch", "decompositions"]

INSTALL = 'pip install "tinygrad-bn[torch]"'

PRIMITIVES = {
    **{op: op for op in ("add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "relu", "tanh", "sigmoid", "abs",
                         "erf", "where", "maximum", "minimum", "pow", "clone", "sum", "mean", "var", "max", "min",
                         "stack", "embedding")},
    "rsub": "sub", "clamp": "clip", "mm": "matmul", "bmm": "matmul", "matmul": "matmul", "permute": "transpose",
    "view": "reshape", "_unsafe_view": "reshape", "reshape": "reshape", "squeeze": "reshape", "unsqueeze": "reshape",
    "flatten": "reshape", "expand": "broadcast_to", "cat": "concatenate", "amax": "max", "amin": "min",
    "_to_copy": "astype",
}
"""ATen op (overload packet name) -> the tinygrad_bn primitive it is."""
OUTPUTS = {"var_mean": ("var", "mean"), "max": ("max", "aten.argmax"), "min": ("min", "aten.argmin"),
           "max_pool2d_with_indices": ("max_pool2d", "aten.max_pool2d_indices"),
           "max_pool3d_with_indices": ("aten.max_pool3d", "aten.max_pool3d_indices")}
"""ATen ops with several outputs: the name of the op node drawn for each output."""
REDUCTIONS = frozenset({"sum", "mean", "var", "max", "min", "aten.any", "aten.all", "aten.prod", "aten.argmax",
                        "aten.argmin", "aten.logsumexp"})
_SKIPPED = frozenset({"device", "layout", "pin_memory", "memory_format", "non_blocking", "generator"})
_OWN = frozenset({"linear", "conv1d", "conv2d", "conv3d"})  # split by our decompositions: no function scope


class TorchExportError(RuntimeError):
    """``torch.export`` could not trace the model; the message holds export's reason and what to try."""


def capture_torch(model: torch.nn.Module, /, *, input: Any, target: Any = None, mode: str = "train",
                  strict: bool = False) -> nx.DiGraph:
    """One step of a ``torch.nn.Module`` as the graph :func:`viz.capture` makes of a tinygrad_bn model.

    Args:
        model: the PyTorch model.
        input: its input: a torch.Tensor or numpy array, or a tuple of them (one per ``forward`` argument);
            floating arrays take the dtype of the model's first floating parameter.
        target: optional: class labels (N,) (cross-entropy), an array of the output's shape (mean squared
            error), or a callable ``loss = target(output)`` of torch ops. With it the loss is in the graph
            and every intermediate gets its gradient.
        mode: ``"train"`` (batch statistics, dropout on) or ``"eval"``.
        strict: trace with TorchDynamo (``torch.export.export(strict=True)``) instead of non-strict export.

    Returns:
        The graph (see the seeing-noise guide for its attributes). Afterwards the model's running
        statistics, ``num_batches_tracked``, every ``.grad``, torch's global random state and each module's
        train/eval flag are what they were.

    Raises:
        ImportError: torch is not installed.
        TypeError: a missing or unusable ``input``, or labels for a model that does not return one tensor.
        ValueError: a bad ``mode``, or a loss that is not a single number.
        TorchExportError: ``torch.export`` cannot trace the model (its reason is in the message).
        RuntimeError: an op fails on the real input, e.g. labels out of range (the op and module are named).
    """
    torch = _torch()
    if mode not in ("train", "eval"):
        raise ValueError(f"capture: mode must be 'train' or 'eval', got {mode!r}")
    if input is None:
        raise TypeError(f"capture: drawing a model ({type(model).__name__}) needs input=, e.g. a batch "
                        "torch.Tensor of shape (N, features)")
    inputs = _inputs(torch, model, input)
    saved = _save_state(torch, model)
    try:
        model.train(mode == "train")
        step, args = _step(torch, model, inputs, target)
        program = _export(torch, step, args, strict, model)
        return _Builder(torch, program, model, args, len(inputs), target is not None).graph()
    finally:
        _restore_state(torch, saved)


def _torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError(f"viz: drawing a PyTorch model needs torch; install it with {INSTALL}") from e
    return torch


def _inputs(torch: Any, model: Any, given: Any) -> list[Any]:
    items = list(given) if isinstance(given, tuple | list) else [given]
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    out = []
    for k, x in enumerate(items):
        if not isinstance(x, torch.Tensor):
            if not isinstance(x, np.ndarray | np.generic | int | float):
                raise TypeError(f"capture: input {k} of {type(model).__name__} must be a torch.Tensor or a numpy "
                                f"array, got {type(x).__name__}")
            x = torch.as_tensor(np.asarray(x))
            x = x.to(dtype) if x.is_floating_point() else x
        out.append(x.detach())
    return out


def _save_state(torch: Any, model: Any) -> tuple[Any, ...]:
    """What tracing and one step may change: the random state, each module's flag, buffers, parameter grads."""
    return (torch.get_rng_state(), [(m, m.training) for m in model.modules()],
            [(b, b.detach().clone()) for b in model.buffers()], [(p, p.grad) for p in model.parameters()])


def _restore_state(torch: Any, saved: tuple[Any, ...]) -> None:
    rng, flags, buffers, grads = saved
    torch.set_rng_state(rng)
    for m, flag in flags:
        m.training = flag
    with torch.no_grad():
        for b, data in buffers:
            b.copy_(data)
    for p, grad in grads:
        p.grad = grad


def _step(torch: Any, model: Any, inputs: list[Any], target: Any) -> tuple[Any, tuple[Any, ...]]:
    """The module traced, ``step(*inputs[, labels])``: the model's output, or the loss; and its arguments."""
    if target is None or callable(target):
        return _step_class(torch)(model, len(inputs), target), tuple(inputs)
    y = target if isinstance(target, torch.Tensor) else torch.as_tensor(np.asarray(target))
    return _step_class(torch)(model, len(inputs), None), (*inputs, y.detach())


@cache
def _step_class(torch: Any) -> type:
    """The class of the traced module: the model under the attribute ``model`` (its paths lose that prefix),
    then the loss callable, or cross-entropy on labels, or mean squared error on a target of the output's shape."""
    F = torch.nn.functional

    class Step(torch.nn.Module):
        def __init__(self, model: Any, n: int, loss: Callable[[Any], Any] | None) -> None:
            super().__init__()
            self.model, self.n, self.loss = model, n, loss

        def forward(self, *args: Any) -> Any:
            out = self.model(*args[:self.n])
            if self.loss is not None:
                return self.loss(out)
            if len(args) == self.n:
                return out
            y = args[self.n]
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"capture: target= as labels or an array needs the model to return one tensor, got "
                                f"{type(out).__name__}; pass a callable, target=lambda out: loss")
            if y.shape == out.shape and y.is_floating_point():
                return F.mse_loss(out, y.to(out.dtype))
            return F.cross_entropy(out, y.long())

    return Step


def _export(torch: Any, step: Any, args: tuple[Any, ...], strict: bool, model: Any) -> Any:
    try:
        program = torch.export.export(step, args, strict=strict)
    except Exception as e:
        if isinstance(e, TypeError) and str(e).startswith("capture:"):  # ours, from the traced step
            raise TypeError(str(e)) from None
        lines = [line for line in str(e).strip().splitlines() if line.strip()]
        reason = "\n".join(lines[:12]) + ("\n..." if len(lines) > 12 else "")
        flag, how = ("strict=True", "TorchDynamo") if not strict else ("strict=False", "non-strict export")
        raise TorchExportError(
            f"capture: torch.export cannot trace {type(model).__name__} ({type(e).__name__}):\n{reason}\n"
            "If forward branches on a tensor's value (Python control flow export cannot trace), compute the branch "
            f"with torch.where or torch.cond; or try the other tracer, {how}: "
            f"viz.torch_capture.capture_torch(model, input=x, {flag})") from None
    return program.run_decompositions(decompositions())


@cache
def decompositions() -> dict[Any, Callable[..., Any]]:
    """The decomposition table a capture applies: PyTorch's core ATen table, plus batch norm, layer and group
    norm and dropout into primitives, and linear layers, convolutions and ``addmm`` with the bias added by
    a separate ``add`` (so a bias is never mistaken for part of a matrix product).

    Returns:
        ``{ATen op overload: function}``, as ``ExportedProgram.run_decompositions`` takes it.
    """
    torch = _torch()
    from torch._decomp import get_decompositions

    aten = torch.ops.aten
    table = dict(torch.export.default_decompositions())
    table.update(get_decompositions([
        aten._native_batch_norm_legit_functional, aten._native_batch_norm_legit,
        aten._native_batch_norm_legit_no_training, aten.native_batch_norm, aten.native_dropout,
        aten.native_layer_norm, aten.native_group_norm]))

    def linear(x: Any, weight: Any, bias: Any = None) -> Any:
        out = torch.matmul(x, weight.t())
        return out if bias is None else out + bias

    def addmm(bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
        out = torch.mm(a, b)
        out = out if alpha == 1 else out * alpha
        return out + (bias if beta == 1 else bias * beta)

    def conv(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
             groups: int = 1) -> Any:
        k = weight.dim() - 2
        many = lambda v: list(v) if isinstance(v, list | tuple) else [v] * k
        single = x.dim() == k + 1
        out = aten.convolution.default(x.unsqueeze(0) if single else x, weight, None, many(stride), many(padding),
                                       many(dilation), False, [0] * k, groups)
        out = out if bias is None else out + bias.view(-1, *[1] * k)
        return out.squeeze(0) if single else out

    table[aten.linear.default] = linear
    table[aten.addmm.default] = addmm
    for op in (aten.conv1d.default, aten.conv2d.default, aten.conv3d.default):
        table[op] = conv
    return table


# ----- the graph -----------------------------------------------------------------------------

class _Builder:
    """Runs the exported program once and writes it out as the nodes, edges and scopes of the contract."""

    def __init__(self, torch: Any, program: Any, model: Any, args: tuple[Any, ...], n_inputs: int,
                 has_loss: bool) -> None:
        self.torch, self.program, self.model, self.args = torch, program, model, args
        self.n_inputs, self.has_loss = n_inputs, has_loss
        self.fx = program.graph_module
        self.nodes: list[tuple[str, dict[str, Any]]] = []
        self.edges: list[tuple[str, str, dict[str, int]]] = []
        self.tensors: list[dict[str, Any]] = []  # the tensor nodes' attributes, in order
        self.values: list[Any] = []  # their values (torch tensors)
        self.tid: dict[Any, str] = {}  # fx node -> tensor node id
        self.scopes: dict[str, dict[str, Any]] = {}
        self.scope_ids: dict[Any, str] = {}  # nn_module_stack key, or (call, op) of a composite -> "s<k>"
        self.leaves: dict[str, set[tuple]] = {}
        self.unknown: dict[str, str | None] = {}

    @paused_gc()
    def graph(self) -> nx.DiGraph:
        torch = self.torch
        leaves, env, outputs = self._run()
        needed = _ancestors(outputs)
        composite = _composites(needed)
        for n in self.fx.graph.nodes:
            if n not in needed:
                continue
            if n.op == "placeholder":
                self._tensor(n, env[n], *leaves[n.name])
            elif n.op == "call_function" and not isinstance(env[n], tuple | list):
                self._op(n, env, composite.get(n))
        out_ids = [self.tid[n] for n in outputs]
        for t in out_ids:
            self.tensors[int(t[1:])]["role"] = "output"
        grads = [(k, v.grad.detach().numpy()) for k, v in enumerate(self.values)
                 if (v.is_leaf or v.retains_grad) and v.grad is not None]
        add_statistics([_numpy(torch, v) for v in self.values], grads, self.tensors)
        place_leaves(dict(self.nodes), self.leaves)
        self._scope_shapes(out_ids)
        for op, module in self.unknown.items():
            where = f" in module {module!r}" if module else ""
            warnings.warn(f"viz: no batch-axis rule for torch op {op!r}{where}: drawn as an opaque node; whether "
                          "batch noise enters at or after it is unknown (add a rule to viz.batch_axes.ATEN)",
                          stacklevel=5)
        inputs = [self.tid[n] for n in needed if n.op == "placeholder" and leaves[n.name][0] == "input"]
        g = nx.DiGraph(outputs=out_ids, inputs=sorted(inputs, key=lambda t: int(t[1:])))
        g.add_nodes_from(self.nodes)
        g.add_edges_from(self.edges)
        g.graph["scopes"] = self.scopes
        g.graph["unrecorded"] = []
        return g

    def _run(self) -> tuple[dict[str, tuple[str, str, bool]], dict[Any, Any], list[Any]]:
        """Each placeholder's (role, name, is_parameter), every fx node's value, and the user outputs.

        The parameters enter as new leaves sharing their storage, so the gradients land on them, not on the model.
        """
        torch, program = self.torch, self.program
        leaves: dict[str, tuple[str, str, bool]] = {}
        values = []
        user = 0
        for spec in program.graph_signature.input_specs:
            kind, last = spec.kind.name, str(spec.target).rsplit(".", 1)[-1]
            if kind == "PARAMETER":
                p = program.state_dict[spec.target]
                values.append(p.detach().requires_grad_(p.requires_grad))
                leaves[spec.arg.name] = ("parameter", last, True)
            elif kind in ("BUFFER", "CONSTANT_TENSOR"):
                held = program.state_dict if spec.target in program.state_dict else program.constants
                values.append(held[spec.target].detach())
                leaves[spec.arg.name] = ("constant", last, False)
            elif kind == "USER_INPUT":
                values.append(self.args[user])
                name = "target" if user >= self.n_inputs else "input" if self.n_inputs == 1 else f"input{user}"
                leaves[spec.arg.name] = ("input" if user < self.n_inputs else "constant", name, False)
                user += 1
            else:
                raise TypeError(f"capture: the exported model has an input of kind {kind}, which viz cannot run")
        interpreter = torch.fx.Interpreter(self.fx, garbage_collect_values=False)
        with torch.enable_grad():
            try:
                interpreter.run(*values)
            except Exception as e:
                raise RuntimeError(self._failure(interpreter.env, e)) from None
            env = interpreter.env
            names = {o.arg.name for o in program.graph_signature.output_specs if o.kind.name == "USER_OUTPUT"}
            outputs = [n for n in self.fx.graph.nodes if n.name in names]
            loss = env[outputs[0]] if self.has_loss else None
            if loss is not None and (not isinstance(loss, torch.Tensor) or loss.numel() != 1):
                shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
                raise ValueError(f"capture: the loss of target= must be a single number, got {shape}")
            if loss is not None and loss.requires_grad:
                for v in env.values():
                    for t in v if isinstance(v, tuple | list) else (v,):
                        if isinstance(t, torch.Tensor) and t.grad_fn is not None:
                            t.retain_grad()
                loss.backward()
        return leaves, env, outputs

    def _failure(self, env: dict[Any, Any], error: Exception) -> str:
        """Which op of which module failed on the real input (the first one without a value), and torch's reason."""
        n = next(n for n in self.fx.graph.nodes if n not in env)
        paths = [where for where, _ in (n.meta.get("nn_module_stack") or {}).values() if where]
        path = paths[-1].removeprefix("model").removeprefix(".") if paths else None
        where = f" in module {path!r}" if path else " in the model" if paths else " in the loss of target="
        reason = (str(error).strip() or type(error).__name__).splitlines()[0]
        return f"capture: running {type(self.model).__name__} on the input failed at {n.target}{where}: {reason}"

    def _tensor(self, n: Any, value: Any, role: str, name: str | None, is_parameter: bool = False,
                module: str | None = None, scopes: tuple[str, ...] = ()) -> str:
        k = len(self.tensors)
        t = self.tid[n] = f"t{k}"
        attrs = dict(kind="tensor", order=2 * k + 1, role=role, name=name, shape=tuple(value.shape),
                     dtype=str(value.dtype).removeprefix("torch."), module=module, scopes=scopes,
                     is_leaf=role != "intermediate", is_parameter=is_parameter,
                     requires_grad=bool(value.requires_grad))
        self.nodes.append((t, attrs))
        self.tensors.append(attrs)
        self.values.append(value)
        if role in ("parameter", "constant"):
            self.leaves[t] = set()
        return t

    def _op(self, n: Any, env: dict[Any, Any], composite: tuple[str, str] | None) -> None:
        """The op node (and its output tensor) of a call; a constant made from nothing is a leaf instead."""
        torch = self.torch
        call, index = (n.args[0], n.args[1]) if n.target is operator.getitem else (n, None)
        target = call.target
        packet = _packet(target)
        random = isinstance(target, torch._ops.OpOverload) and torch.Tag.nondeterministic_seeded in target.tags
        ins = [] if packet.endswith("_like") else [a for a in _flat(call.args, call.kwargs) if a in self.tid]
        module, keys = self._scopes(n, composite)
        if not ins and not random:  # a constant the graph made (a scalar tensor, a full_like)
            self._tensor(n, env[n], "constant", None, module=module, scopes=keys)
            return
        name = OUTPUTS.get(packet, ())[index] if index is not None and packet in OUTPUTS else \
            PRIMITIVES.get(packet) or ("reshape" if _is_view(call, env) else _aten(target, index))
        if not known(name):
            self.unknown.setdefault(name, module)
        k = len(self.tensors)
        op = f"op{k}"
        ids = [self.tid[i] for i in ins]
        self.nodes.append((op, dict(kind="op", order=2 * k, op=name, attrs=_attrs(call, name, env), module=module,
                                    scopes=keys, random=bool(random), inputs=ids, output=f"t{k}", aten=str(target))))
        t = self._tensor(n, env[n], "intermediate", None, module=module, scopes=keys)
        first: dict[str, int] = {}
        for pos, i in enumerate(ids):
            first.setdefault(i, pos)
        self.edges.extend((i, op, {"index": pos}) for i, pos in first.items())
        self.edges.append((op, t, {}))
        for i in first:
            if i in self.leaves:
                self.leaves[i].add((module, keys))

    def _scopes(self, n: Any, composite: tuple[str, str] | None) -> tuple[str | None, tuple[str, ...]]:
        """The node's module path and scope keys (outermost first), numbering new scopes as they appear."""
        keys: list[str] = []
        path = parent = None
        for key, (where, cls) in (n.meta.get("nn_module_stack") or {}).items():
            if not where:  # the traced step itself
                continue
            path = where.removeprefix("model").removeprefix(".")
            parent = self._scope(key, path, "module", str(getattr(cls, "__name__", cls)).rsplit(".", 1)[-1],
                                 parent, self.model.get_submodule(path) if path else self.model)
            keys.append(parent)
        if composite is not None:
            name = composite[1]
            keys.append(self._scope(composite, f"{path}.{name}" if path else name, "function", name, parent, None))
        return path, tuple(keys)

    def _scope(self, key: Any, path: str, kind: str, name: str, parent: str | None, module: Any) -> str:
        sid = self.scope_ids.get(key)
        if sid is None:
            sid = self.scope_ids[key] = f"s{len(self.scope_ids)}"
            self.scopes[sid] = dict(path=path, kind=kind, name=name,
                                    extra_repr=module.extra_repr() if module is not None else "",
                                    training=module.training if module is not None else None,
                                    input_shapes=(), output_shapes=(), parent=parent)
        return sid

    def _scope_shapes(self, outputs: list[str]) -> None:
        """Each scope's input and output shapes: the data tensors (not parameters or constants) that enter it from
        outside, and those made inside that are used outside or are outputs."""
        data = dict(self.nodes)
        ins: dict[str, dict[str, None]] = {s: {} for s in self.scopes}
        outs: dict[str, dict[str, None]] = {s: {} for s in self.scopes}
        for _, d in self.nodes:
            if d["kind"] != "op":
                continue
            for i in d["inputs"]:
                src = data[i]
                if src["role"] in ("parameter", "constant"):
                    continue
                for s in set(d["scopes"]) - set(src["scopes"]):
                    ins[s][i] = None
                for s in set(src["scopes"]) - set(d["scopes"]):
                    outs[s][i] = None
        for t in outputs:
            for s in data[t]["scopes"]:
                outs[s][t] = None
        for s, table in self.scopes.items():
            table["input_shapes"] = tuple(data[t]["shape"] for t in sorted(ins[s], key=lambda t: int(t[1:])))
            table["output_shapes"] = tuple(data[t]["shape"] for t in sorted(outs[s], key=lambda t: int(t[1:])))


def _ancestors(outputs: list[Any]) -> set[Any]:
    """The fx nodes the outputs are computed from (the running-statistic updates are not)."""
    needed, todo = set(outputs), list(outputs)
    while todo:
        for i in todo.pop().all_input_nodes:
            if i not in needed:
                needed.add(i)
                todo.append(i)
    return needed


def _composites(needed: set[Any]) -> dict[Any, tuple[str, str]]:
    """fx node -> the torch composite op call it was decomposed from, ``(call's node name, op name)``, for the
    composites that became several ops."""
    origin: dict[Any, tuple[str, str]] = {}
    members: dict[tuple[str, str], int] = {}
    for n in needed:
        source = (n.meta.get("from_node") or [None])[0]
        if n.op != "call_function" or source is None:
            continue
        parts = str(source.target).split(".")
        if len(parts) == 3 and parts[1] not in _OWN and parts[1] != _packet(n.target):
            origin[n] = key = (source.name, parts[1])
            members[key] = members.get(key, 0) + 1
    return {n: key for n, key in origin.items() if members[key] > 1}


def _packet(target: Any) -> str:
    packet = getattr(target, "overloadpacket", None)
    return packet.__name__ if packet is not None else getattr(target, "__name__", str(target))


def _aten(target: Any, index: int | None) -> str:
    """An op's name in the graph when it is not one of our primitives: ``"aten.rsqrt"``, ``"mylib.op[1]"``."""
    space = getattr(target, "namespace", "python")
    return f"{space}.{_packet(target)}" + (f"[{index}]" if index is not None else "")


def _is_view(call: Any, env: dict[Any, Any]) -> bool:
    """An ``as_strided`` that reads its (contiguous) input in order, i.e. a reshape."""
    if _packet(call.target) != "as_strided":
        return False
    x, out = env[call.args[0]], env[call]
    return x.is_contiguous() and out.is_contiguous() and x.numel() == out.numel() and x.data_ptr() == out.data_ptr()


def _flat(args: Any, kwargs: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    todo = [*args, *kwargs.values()]
    while todo:
        a = todo.pop(0)
        if isinstance(a, list | tuple):
            todo[:0] = list(a)
        else:
            out.append(a)
    return out


def _attrs(call: Any, name: str, env: dict[Any, Any]) -> dict[str, Any]:
    """The op's non-tensor arguments by their schema names, those left at their defaults omitted; reductions,
    permutes and stacks in our attribute names."""
    schema = getattr(call.target, "_schema", None)
    arguments = list(schema.arguments) if schema is not None else []
    names = [a.name for a in arguments] or [f"arg{k}" for k in range(len(call.args))]
    defaults = {a.name: _plain(a.default_value) for a in arguments if a.has_default_value()}
    given = {**dict(zip(names, call.args)), **call.kwargs}
    attrs = {k: _plain(v) for k, v in given.items() if k not in _SKIPPED and v is not None
             and not any(isinstance(a, type(call)) for a in (v if isinstance(v, list | tuple) else (v,)))}
    attrs = {k: v for k, v in attrs.items() if k not in defaults or defaults[k] != v}
    ndim = len(env[call.args[0]].shape) if call.args and isinstance(call.args[0], type(call)) \
        and hasattr(env[call.args[0]], "shape") else 0
    if name in REDUCTIONS:
        dims = attrs.pop("dim", None)
        dims = [dims] if isinstance(dims, int) else dims
        attrs["axis"] = tuple(sorted(d % ndim for d in dims)) if dims else tuple(range(ndim))
        attrs["keepdims"] = bool(attrs.pop("keepdim", False))
        if name == "var":
            attrs["correction"] = attrs.get("correction", 1)
        else:
            attrs.pop("correction", None)  # the mean of a var_mean
    elif name == "transpose":
        attrs["axes"] = tuple(d % ndim for d in attrs.pop("dims"))
    elif name == "stack":
        attrs["axis"] = attrs.pop("dim", 0)
    return attrs


def _plain(v: Any) -> Any:
    """A plain Python value for an attribute (lists as tuples, dtypes and symbols as text)."""
    if isinstance(v, list | tuple):
        return tuple(_plain(x) for x in v)
    return v if isinstance(v, bool | int | float | str) else str(v).removeprefix("torch.")


def _numpy(torch: Any, v: Any) -> np.ndarray:
    v = v.detach()
    return (v.float() if v.dtype == torch.bfloat16 else v).numpy()
