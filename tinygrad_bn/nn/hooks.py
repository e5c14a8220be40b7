"""Module hooks with PyTorch's semantics: forward pre-hooks, forward hooks, backward pre-hooks, full backward hooks.

A module without hooks is called on the fast path of :meth:`Module.__call__`; one with hooks goes through
:func:`call`, which does what ``torch.nn.Module._call_impl`` does, in its order:

1. the forward pre-hooks, ``hook(module, args)`` (or ``hook(module, args, kwargs)``), each may replace the input;
2. with backward hooks, the Tensor inputs that require grad are tied to one new tensor (an identity view, or
   for several inputs one concatenation sliced back), so their gradient *through this module* is complete at
   one moment of the backward pass, as torch's ``BackwardHookFunction`` does;
3. ``forward``, then the forward hooks, ``hook(module, args, output)``, each may replace the output;
4. with backward hooks the Tensor outputs are tied the same way. When their gradient arrives the backward
   pre-hooks run (``hook(module, grad_output)``, may replace it); when the inputs' gradient is complete the
   full backward hooks run (``hook(module, grad_input, grad_output)``, may replace ``grad_input``). If no input
   requires grad, the full backward hooks run with ``grad_input`` all None as soon as ``grad_output`` is known.

Inside a :func:`tinygrad_bn.jit` recording the forward (pre-)hooks are noted on the tape, so each replay calls
them again with the replayed values (as Tensors without a graph); the backward hooks are gradient hooks on the
tied tensors, which the replay's backward runs too. A forward hook that *replaces* a value cannot be replayed
(a replay runs the recorded ops, not the hook's result) and is refused with a :class:`~tinygrad_bn.tape.JitError`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import ops, tape
from ..graph import is_grad_enabled
from ..tensor import Tensor, _result

if TYPE_CHECKING:
    from .module import Module

_ids = itertools.count()


@dataclass
class Hooks:
    """A module's hooks by kind, each a dict ``id -> (fn, with_kwargs, always_call)`` in calling order."""

    forward_pre: dict[int, tuple[Callable, bool, bool]] = field(default_factory=dict)
    forward: dict[int, tuple[Callable, bool, bool]] = field(default_factory=dict)
    backward_pre: dict[int, tuple[Callable, bool, bool]] = field(default_factory=dict)
    backward: dict[int, tuple[Callable, bool, bool]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.forward_pre or self.forward or self.backward_pre or self.backward)


class RemovableHandle:
    """What a ``register_*_hook`` returns: :meth:`remove` takes the hook off (also at the end of a ``with`` block)."""

    def __init__(self, module: Module, kind: str, key: int) -> None:
        self.module, self.kind, self.id = module, kind, key

    def remove(self) -> None:
        """Take the hook off its module (nothing happens if it is already off)."""
        self.module._remove_hook(self.kind, self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def add(hooks: Hooks, kind: str, fn: Callable, prepend: bool, with_kwargs: bool = False,
        always_call: bool = False) -> int:
    """Put ``fn`` among ``hooks``' ``kind`` (first with ``prepend``); returns its id."""
    if not callable(fn):
        raise TypeError(f"register_{kind}_hook: expected a callable hook, got {type(fn).__name__}")
    key = next(_ids)
    table: dict = getattr(hooks, kind)
    entry = (fn, with_kwargs, always_call)
    if prepend:
        rest = dict(table)
        table.clear()
        table[key] = entry
        table.update(rest)
    else:
        table[key] = entry
    return key


def call(module: Module, args: tuple, kwargs: dict) -> Any:
    """Call ``module`` with its hooks, as torch does (see the module docstring)."""
    hooks: Hooks = module._hooks
    recording = tape.current()
    for fn, with_kwargs, _ in list(hooks.forward_pre.values()):
        got = fn(module, args, kwargs) if with_kwargs else fn(module, args)
        if got is None:
            continue
        _no_replacement(recording, module, "forward pre-hook", fn, "input")
        if with_kwargs:
            if not (isinstance(got, tuple) and len(got) == 2):
                raise RuntimeError(f"{_name(module)}: forward pre-hook {_name(fn)} must return None or a tuple "
                                   f"(new_args, new_kwargs), got {type(got).__name__}")
            args, kwargs = got
        else:
            args = got if isinstance(got, tuple) else (got,)
    if recording is not None and hooks.forward_pre:
        _replayed(recording, module, list(hooks.forward_pre.values()), False, args, kwargs, None)
    backward = (hooks.backward or hooks.backward_pre) and is_grad_enabled()
    state = _Backward(module, hooks) if backward else None
    if state is not None:
        args = state.tie_inputs(args)
    result, ran = None, set()
    try:
        result = module._scoped_call(args, kwargs)
        for key, (fn, with_kwargs, _) in list(hooks.forward.items()):
            ran.add(key)
            got = fn(module, args, kwargs, result) if with_kwargs else fn(module, args, result)
            if got is not None:
                _no_replacement(recording, module, "forward hook", fn, "output")
                result = got
    except Exception:
        for key, (fn, with_kwargs, always) in list(hooks.forward.items()):
            if always and key not in ran:
                fn(module, args, kwargs, result) if with_kwargs else fn(module, args, result)
        raise
    if recording is not None and hooks.forward:
        _replayed(recording, module, list(hooks.forward.values()), True, args, kwargs, result)
    if state is not None:
        result = state.tie_outputs(result)
    return result


def _no_replacement(recording: tape.Tape | None, module: Module, kind: str, fn: Callable, what: str) -> None:
    if recording is not None:
        raise tape.JitError(f"jit: {kind} {_name(fn)} of {_name(module)} returned a replacement {what}; a replay "
                            "runs the recorded ops, not a hook's result: compute the replacement in the module's "
                            "forward, or call the model outside the jit")


def _replayed(recording: tape.Tape, module: Module, hooks: list[tuple[Callable, bool, bool]], after: bool,
              args: tuple, kwargs: dict, result: Any) -> None:
    """Note on the tape that ``module``'s forward pre-hooks (or, ``after`` forward, its forward hooks) ran here on
    these tensors, so a replay calls them again with its own values."""
    flat = [*args, *kwargs.values(), *((result if isinstance(result, tuple) else (result,)) if after else ())]
    where = [i for i, a in enumerate(flat) if isinstance(a, Tensor)]
    n, names = len(args), list(kwargs)

    def replay(*arrays: np.ndarray) -> None:
        values = list(flat)
        for i, a in zip(where, arrays):
            values[i] = _result(a)
        a, kw = tuple(values[:n]), dict(zip(names, values[n:n + len(names)]))
        out = values[n + len(names):]
        out = tuple(out) if isinstance(result, tuple) else out[0] if out else None
        for fn, with_kwargs, _ in hooks:
            if not after:
                fn(module, a, kw) if with_kwargs else fn(module, a)
            else:
                fn(module, a, kw, out) if with_kwargs else fn(module, a, out)

    kind = "forward hooks" if after else "forward pre-hooks"
    recording.effect(replay, tuple(flat[i] for i in where), f"the {kind} of {_name(module)}")


class _Backward:
    """One call's backward hooks: ties the inputs and outputs, holds ``grad_output`` until ``grad_input`` is known."""

    def __init__(self, module: Module, hooks: Hooks) -> None:
        self.module = module
        self.pre_hooks = [fn for fn, _, _ in hooks.backward_pre.values()]  # as registered at the forward (torch)
        self.hooks = [fn for fn, _, _ in hooks.backward.values()]
        self.n_inputs = 0
        self.inputs: list[int] | None = None  # positions of the tied inputs (None: no input requires grad)
        self.grad_outputs: tuple | None = None

    def tie_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        args, self.inputs, self.input_shapes = self._tie(args, self._input_hook)
        return args

    def tie_outputs(self, result: Any) -> Any:
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        self.n_outputs = len(outputs)
        tied, self.outputs, self.output_shapes = self._tie(outputs, self._output_hook)
        return tied[0] if single else tied

    def _tie(self, values: tuple, hook: Callable) -> tuple[tuple, list[int] | None, list[tuple[int, ...]]]:
        """The Tensors of ``values`` that require grad, made from one new tensor that carries ``hook``; their
        positions and shapes."""
        where = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
        if not where:
            return values, None, []
        tensors = [values[i] for i in where]
        if len(tensors) == 1:
            joined = ops.reshape(tensors[0], shape=tensors[0].shape)  # an identity view with a node of its own
            parts = [joined]
        else:
            dtypes = {t.dtype for t in tensors}
            if len(dtypes) > 1:
                raise TypeError(f"{_name(self.module)}: backward hooks need the Tensors requiring grad to share a "
                                f"dtype, got {sorted(map(str, dtypes))}")
            joined = ops.concatenate(*[ops.reshape(t, shape=(t.numel(),)) for t in tensors])
            edges = np.cumsum([0] + [t.numel() for t in tensors])
            parts = [ops.reshape(ops.getitem(joined, index=slice(lo, hi)), shape=t.shape)
                     for lo, hi, t in zip(edges[:-1], edges[1:], tensors)]
        joined.register_hook(hook)
        out = list(values)
        for i, p in zip(where, parts):
            out[i] = p
        return tuple(out), where, [t.shape for t in tensors]

    def _split(self, g: Tensor, where: list[int], n: int, shapes: list[tuple[int, ...]]) -> tuple:
        """The gradient of the joined tensor as one entry per value (None where a value has none)."""
        res: list[Any] = [None] * n
        if len(where) == 1:
            res[where[0]] = g
            return tuple(res)
        edges = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
        for i, lo, hi, s in zip(where, edges[:-1], edges[1:], shapes):
            res[i] = _result(g.data[lo:hi].reshape(s))
        return tuple(res)

    def _join(self, grads: tuple, where: list[int], shapes: list[tuple[int, ...]], kind: str,
              dtype: np.dtype) -> np.ndarray:
        """A hook's replacement gradients back as the joined tensor's gradient, each checked against its shape."""
        parts = []
        for i, s in zip(where, shapes):
            g = grads[i]
            if g is None:
                parts.append(np.zeros(s, dtype))
                continue
            a = np.asarray(g.data if isinstance(g, Tensor) else g)
            if a.shape != s:
                raise ValueError(f"{_name(self.module)}: a {kind} returned a gradient of shape {a.shape} at position "
                                 f"{i}, where the gradient has shape {s}")
            parts.append(a.astype(dtype, copy=False))
        return parts[0] if len(parts) == 1 else np.concatenate([p.ravel() for p in parts])

    def _output_hook(self, g: Tensor) -> np.ndarray | None:
        shapes = self.output_shapes
        grads = self._split(g, self.outputs, self.n_outputs, shapes)
        replaced = False
        for fn in self.pre_hooks:
            got = fn(self.module, grads)
            if got is None:
                continue
            got = got if isinstance(got, tuple) else (got,)
            if len(got) != len(grads):
                raise RuntimeError(f"{_name(self.module)}: backward pre-hook {_name(fn)} returned {len(got)} "
                                   f"gradients, expected {len(grads)} (one per output)")
            grads, replaced = got, True
        if self.inputs is None:  # no input requires grad: the full hooks run now, with grad_input all None
            none = (None,) * self.n_inputs
            for fn in self.hooks:
                got = fn(self.module, none, grads)
                if got is not None and not (isinstance(got, tuple) and all(x is None for x in got)):
                    raise RuntimeError(f"{_name(self.module)}: backward hook {_name(fn)} returned a grad_input, but "
                                       "no input of the module requires grad: return None")
        else:
            self.grad_outputs = grads
        return self._join(grads, self.outputs, shapes, "backward pre-hook", g.dtype) if replaced else None

    def _input_hook(self, g: Tensor) -> np.ndarray | None:
        if self.grad_outputs is None:  # the gradient reached the inputs without passing through the outputs
            return None
        shapes = self.input_shapes
        grads = self._split(g, self.inputs, self.n_inputs, shapes)
        replaced = False
        for fn in self.hooks:
            got = fn(self.module, grads, self.grad_outputs)
            if got is None:
                continue
            got = got if isinstance(got, tuple) else (got,)
            if len(got) != len(grads):
                raise RuntimeError(f"{_name(self.module)}: backward hook {_name(fn)} returned {len(got)} gradients, "
                                   f"expected {len(grads)} (one per positional input)")
            grads, replaced = got, True
        self.grad_outputs = None
        return self._join(grads, self.inputs, shapes, "backward hook", g.dtype) if replaced else None


def _name(x: Any) -> str:
    if hasattr(x, "_parameters"):  # a module
        return f"module {type(x).__name__}"
    return getattr(x, "__qualname__", None) or repr(x)
