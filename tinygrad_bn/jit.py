"""``jit``: record a loss function's ops once, then replay them on each call's inputs.

A training step in this library spends a fixed amount of Python per op: checking the inputs, making
a Tensor and a Node, walking the graph backwards. ``jit`` records that work once and writes it out as
one straight-line Python function (which primitive runs on which values, which vjp sends which
gradient where, how the gradients are summed; ``jit.source`` shows it), and each call runs the same
numpy functions in the same order on the new inputs: the results are the eager step's, bit for bit,
without the Python around them (as tinygrad's ``TinyJit`` replays its kernels).

What is replayed is what the graph holds: the primitives, their vjps, and the state changes declared
with :func:`~tinygrad_bn.tape.effect` (the normalizers' running statistics). Python that runs
*around* the ops is not: a value computed with numpy from an input, or a branch on an input's
values, is fixed at recording. So the first two calls of each input signature run eagerly and are
both recorded, and they must agree (same ops, attributes and constants), or the call raises
:class:`JitError` naming the op that differed.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import anomaly, tape
from .backward import accumulate, inputs_first, memory, run_hooks, toposort, unbroadcast
from .graph import enable_grad, is_grad_enabled, record
from .ops import ARRAYS
from .tape import JitError, Tape
from .tensor import Tensor, _result

_KEEP = 4  # recordings kept per input signature (e.g. train and eval mode)


class Leaf(NamedTuple):
    """A value read at each call: the call's argument ``source`` (an index), or a tensor (a parameter, a buffer)."""

    slot: int
    source: int | Tensor


class Step(NamedTuple):
    """One forward entry: ``v[slot] = fn(*v[inputs], **attrs)``, a primitive or a constant's recomputation."""

    slot: int
    fn: Callable
    inputs: tuple[int, ...]
    attrs: dict[str, Any]
    op: str


class Update(NamedTuple):
    """A state update (an effect): ``fn(*v[inputs])`` after the first ``at`` forward steps."""

    fn: Callable[..., None]
    inputs: tuple[int, ...]
    at: int


class Back(NamedTuple):
    """One backward entry, in the eager order: a vjp sending gradients to ``sends`` ((k, input slot, shape) for
    the inputs that need one), or, with ``vjp`` None, a leaf whose ``.grad`` gets the gradient (``target``: an
    argument's index or the tensor)."""

    slot: int
    vjp: Callable | None
    inputs: tuple[int, ...]
    need: list[bool]
    attrs: dict[str, Any]
    sends: tuple[tuple[int, int, tuple[int, ...]], ...]
    target: int | Tensor | None


class _Plan:
    """One recording: slots for every value, the leaves that fill them, the forward, effects and backward."""

    def __init__(self, loss: Tensor, args: tuple[Tensor, ...], recorded: Tape, backward: bool,
                 outside: dict[str, Any]) -> None:
        constants, created = recorded.constants, recorded.made
        where = {id(a): k for k, a in enumerate(args)}
        for k, a in enumerate(args):
            if a.node is not None and a.requires_grad:
                raise JitError(f"jit: argument {k} (shape {a.shape}) has a graph that needs a gradient; a replay "
                               "cannot backpropagate into how it was made: pass a leaf (x.detach()) or compute it "
                               "inside the function")
        needed = inputs_first([loss], {k: made.inputs for k, made in constants.items()}, set(where))
        made_here = {id(t) for t in created}
        # the leaves, then every op and constant of the loss in the order it ran (so random draws, state
        # updates and constants made from a generator happen in the eager order)
        ancestors = {id(t) for t in needed}
        order = [t for t in needed if id(t) not in made_here] + [t for t in created if id(t) in ancestors]
        slot = {id(t): i for i, t in enumerate(order)}
        after = [0]  # after[c]: how many of the first c made tensors are replayed
        for t in created:
            after.append(after[-1] + (id(t) in ancestors))
        self.size, self.root = len(order), slot[id(loss)]
        self.leaves: list[Leaf] = []
        self.forward: list[Step] = []
        self.hooks: dict[int, tuple] = {}  # slot -> the gradient hooks of a tensor made here (run by the replay)
        for i, t in enumerate(order):
            if t._retains_grad or (t._hooks and id(t) not in made_here):
                raise JitError(f"jit: a tensor of shape {t.shape} has retain_grad() or is an argument, parameter or "
                               "buffer with a gradient hook; a replay keeps no intermediate gradient and runs only "
                               "the hooks of tensors made inside the function")
            if t._hooks:
                self.hooks[i] = t._hooks
            node = None if id(t) in where else t.node
            made = constants.get(id(t))
            if made is not None:  # recomputed from this call's values
                ins = tuple(slot[id(u)] for u in made.inputs)
                self.forward.append(Step(i, made.fn, ins, {}, f"constant {t.name or ''}"))
            elif node is None:
                self.leaves.append(Leaf(i, where.get(id(t), t)))
            else:
                ins = tuple(slot[id(u)] for u in node.inputs)
                self.forward.append(Step(i, node.fn, ins, node.attrs, node.op))
        self.effects: list[Update] = []
        for e in recorded.effects:
            if any(id(t) not in slot for t in e.tensors):
                raise JitError(f"jit: {e.what} read a value the loss does not depend on, which a replay does not "
                               "compute")
            self.effects.append(Update(e.fn, tuple(slot[id(t)] for t in e.tensors), after[e.at]))
        self.backward: list[Back] = []
        for t in toposort([loss]) if backward else ():
            node = t.node
            if node is None:
                self.backward.append(Back(slot[id(t)], None, (), [], {}, (), where.get(id(t), t)))
            else:
                ins = tuple(slot[id(u)] for u in node.inputs)
                need = [u.requires_grad for u in node.inputs]
                sends = tuple((k, j, u.data.shape) for k, (j, u) in enumerate(zip(ins, node.inputs)) if need[k])
                self.backward.append(Back(slot[id(t)], node.vjp, ins, need, node.attrs, sends, None))
        self.dtype, self.shape = loss.dtype, loss.shape
        # every module called, with its mode and version as recorded; every tensor read at each call (parameters,
        # buffers) as it was: its array's shape and dtype, requires_grad and hooks; the numbers fn read from outside
        self.modules = tuple({id(m): (m, m.training, m._version) for m in recorded.modules}.values())
        self.watched = tuple((t, t.data.shape, t.data.dtype, t.requires_grad, t._hooks)
                             for _, t in self.leaves if not isinstance(t, int))
        self.outside = outside
        self.scalars = {i for i, t in enumerate(order) if t.ndim == 0}  # ops on 0-d values give numpy scalars
        self.shapes = [t.shape for t in order]
        self.source: str | None = None
        self.name = "?"
        self.replay: Callable[[tuple[Tensor, ...]], Tensor] | None = None

    def compile(self, name: str) -> _Plan:
        """Write the replay function (once, when this recording is the one replayed) of the jit ``name``; returns
        self."""
        if self.replay is None:
            self.name = name
            self.source, self.replay = self._compile()
        return self

    def current(self) -> bool:
        """Whether what the recording read is still as it was: no module's attribute set since (no child,
        parameter, buffer or setting replaced) and no mode changed; no parameter's or buffer's array rebound to
        another shape or dtype, no requires_grad flipped, no gradient hook added or removed."""
        return all(m.training == mode and m._version == version for m, mode, version in self.modules) and all(
            t.requires_grad is grad and t._hooks is hooks and t.data.shape == shape and t.data.dtype == dtype
            for t, shape, dtype, grad, hooks in self.watched)

    def differs(self, other: _Plan) -> str | None:
        """Where ``other`` (a later recording of the same function) does something else, or None."""
        if len(self.forward) != len(other.forward) or self.size != other.size:
            return f"the number of ops changed ({len(self.forward)} then {len(other.forward)})"
        for (i, fn, ins, attrs, op), (j, fn2, ins2, attrs2, _) in zip(self.forward, other.forward):
            if not _same_fn(fn, fn2) or ins != ins2 or i != j:
                return f"op '{op}' became '{_name(fn2)}' or takes other inputs"
            for k in attrs.keys() | attrs2.keys():
                if not _same(attrs.get(k), attrs2.get(k)):
                    return f"attribute '{k}' of op '{op}' changed between the calls ({_short(attrs.get(k))} then " \
                           f"{_short(attrs2.get(k))})"
        for (i, a), (_, b) in zip(self.leaves, other.leaves):
            if isinstance(a, int) or isinstance(b, int):
                if a != b:
                    return f"argument {a if isinstance(a, int) else b} feeds a different place"
            elif a is not b and not (a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.data, b.data)):
                users = [op for _, _, ins, _, op in self.forward if i in ins]
                return (f"a constant of shape {a.shape} (an input of op '{users[0] if users else '?'}') changed "
                        "between the calls: it was computed outside tinygrad_bn's ops, so a replay would keep the "
                        "first value")
        if [e[1:] for e in self.effects] != [e[1:] for e in other.effects]:
            return "the state updates (effects) or the module hooks run changed"
        if self.hooks.keys() != other.hooks.keys():
            return "the tensors with gradient hooks changed"
        return None

    def _compile(self) -> tuple[str, Callable[[tuple[Tensor, ...]], Tensor]]:
        """The replay as straight-line Python, one line per op and per gradient, and the function it defines.

        ``v<k>`` is the value in slot k, ``g<k>`` its gradient. The gradients are summed as the eager backward
        sums them: the first one kept as it is, the second added into a new array, the rest added in place.
        A value is deleted after the last vjp that reads it, so the allocator reuses warm memory.
        """
        env: dict[str, Any] = {"A": ARRAYS, "np": np, "fit": _fit, "acc": accumulate, "wrap": _result,
                               "hooked": run_hooks, "memory": memory, "result": _result, "failed": _failed,
                               "ops": self.forward, "name": self.name}
        code = ["def replay(args):"]
        for i, src in self.leaves:
            if isinstance(src, int):
                code.append(f"    v{i} = args[{src}].data")
            else:
                env[f"L{i}"] = src
                code.append(f"    v{i} = L{i}.data")
        effects = {}  # forward entries run -> the effects that come next
        for n, (fn, ins, at) in enumerate(self.effects):
            env[f"e{n}"] = fn
            effects.setdefault(at, []).append(f"        e{n}({', '.join(f'v{j}' for j in ins)})  # a state update")
        code.append("    try:")
        for n, (i, fn, ins, attrs, op) in enumerate(self.forward):
            code += effects.get(n, [])
            env[f"f{i}"], env[f"a{i}"] = fn, attrs
            call = ", ".join([f"v{j}" for j in ins] + ([f"**a{i}"] if attrs else []))
            code.append(f"        at = {n}; v{i} = f{i}({call})  # {op}")
            if i in self.scalars:
                code.append(f"        v{i} = np.asarray(v{i})")
        code += effects.get(len(self.forward), [])
        code += ["    except (ValueError, IndexError, TypeError) as e:  # e.g. a label or an index out of range",
                 "        raise failed(e, ops[at][4], name) from None"]
        if self.backward:
            env["D"] = self.dtype
            code += [f"    g{self.root} = np.ones({self.shape!r}, dtype=D)", f"    handed = {{memory(g{self.root})}}",
                     "    with np.errstate(divide='ignore', invalid='ignore'):"]
            code += self._backward(env) or ["        pass"]
        code.append(f"    return result(v{self.root})")
        source = "\n".join(code) + "\n"
        exec(compile(source, f"<tinygrad_bn.jit replay of {len(self.forward)} ops>", "exec"), env)
        return source, env["replay"]

    def _backward(self, env: dict[str, Any]) -> list[str]:
        """The backward's lines, in the eager order; which gradients exist and how they are summed is fixed here."""
        last = {s: e for e, entry in enumerate(self.backward) for s in (entry[0], *entry[2])}  # a value's last reader
        frees: dict[int, list[int]] = {}
        for s, e in last.items():
            if s != self.root:
                frees.setdefault(e, []).append(s)
        arrived = {self.root: 1}  # how many gradients each slot has received so far
        code = []
        for e, (i, vjp, ins, need, attrs, sends, target) in enumerate(self.backward):
            if arrived.get(i):
                if vjp is None:  # a leaf: into .grad
                    if not isinstance(target, int):
                        env[f"T{i}"] = target
                    code.append(f"        acc({f'args[{target}]' if isinstance(target, int) else f'T{i}'}, g{i}, "
                                "False, handed, wrap)")
                else:
                    if i in self.hooks:  # gradient hooks (a module's backward hooks): run on the complete gradient
                        env[f"H{i}"] = self.hooks[i]
                        code.append(f"        g{i} = hooked(H{i}, g{i}, {self.shapes[i]!r}, False, wrap)")
                    env[f"b{i}"], env[f"n{i}"], env[f"a{i}"] = vjp, need, attrs
                    call = ", ".join(["A", f"n{i}", f"g{i}", f"v{i}"] + [f"v{j}" for j in ins] +
                                     ([f"**a{i}"] if attrs else []))
                    code.append(f"        gs = b{i}({call})")
                    for k, j, shape in sends:
                        env[f"s{j}"] = shape
                        # an input of the output's shape gets a gradient of its shape; others may be broadcast
                        fit = f"gs[{k}]" if shape == self.shapes[i] else f"fit(gs[{k}], s{j})"
                        count = arrived.get(j, 0)
                        code.append(f"        g{j} = {fit}" if count == 0 else
                                    f"        g{j} = g{j} + {fit}" if count == 1 else f"        g{j} += {fit}")
                        arrived[j] = count + 1
            gone = ([f"g{i}"] if arrived.get(i) else []) + [f"v{s}" for s in frees.get(e, ())]
            if gone:
                code.append("        del " + ", ".join(gone))
        return code


def _fit(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A vjp's gradient summed down to its input's shape when it was broadcast."""
    return g if g.shape == shape else unbroadcast(ARRAYS, g, shape)


def _failed(e: Exception, op: str, name: str) -> Exception:
    """The error of an op in a replay, of the same type, saying which op and which jit replayed it."""
    return type(e)(f"{op}: {e} (in the replay of jit({name}))")


class jit:
    """Wrap ``fn(*inputs) -> loss`` so each call returns the loss and backpropagates it, replayed from a recording.

    ``step = jit(lambda x, y: model(x).cross_entropy(y))``; then ``loss = step(x, y)`` does what
    ``loss = model(x).cross_entropy(y); loss.backward()`` does (the same loss, the same ``.grad`` on every
    parameter, the same running statistics and dropout masks, bit for bit) and returns the loss as a
    Tensor without a graph. Zeroing the gradients and the optimizer's step stay outside. With
    ``backward=False`` the call replays the forward only and returns ``fn``'s result (any shape):
    ``predict = jit(model, backward=False)``.

    Each input signature (shapes, dtypes, requires_grad of the arguments) and each state of the
    modules it calls (their modes; no module attribute set since) is recorded on its first two calls,
    which run eagerly; later calls replay (the last four states of each signature are kept).
    Under ``detect_anomaly`` every call runs eagerly, and so does a jit with a backward inside
    ``no_grad`` (a forward-only jit records and replays there too) and a forward-only jit called while
    another jit records (it becomes part of that recording).

    Args:
        fn: takes the call's arguments (Tensors, or arrays that become Tensors) and returns a
            one-element loss Tensor computed with tinygrad_bn's ops (any Tensor with ``backward=False``).
        backward: backpropagate the loss on each call.

    Raises:
        JitError: (on a call) the first two recordings differ, or the function uses gradient hooks.
        RuntimeError: (on a call) the loss is not a one-element Tensor that requires grad.
    """

    def __init__(self, fn: Callable[..., Tensor], *, backward: bool = True) -> None:
        self.fn = fn
        self.backward = backward
        self._plans: dict[tuple, list[_Plan]] = {}  # per input signature, the replays of the last _KEEP states
        self._first: dict[tuple, list[_Plan]] = {}  # recordings waiting for their second
        self._last: _Plan | None = None

    @property
    def source(self) -> str | None:
        """The Python that the latest recording replays (one line per op and per gradient), or None before it.

        Returns:
            The source of the generated ``replay(args)`` function, or None.
        """
        return None if self._last is None else self._last.source

    def __call__(self, *args: Any) -> Tensor:
        args = tuple(a if isinstance(a, Tensor) else Tensor(a) for a in args)
        if tape.current() is not None:  # inside another recording: be part of it
            if self.backward:
                raise JitError(f"jit: {_name(self.fn)}, a jit with a backward, was called inside another jit's "
                               "function; return the inner loss instead, or make the inner jit backward=False")
            return self.fn(*args)
        if (self.backward and not is_grad_enabled()) or anomaly.is_anomaly_enabled():
            loss = self.fn(*args)
            if self.backward and is_grad_enabled():
                loss.backward()
            return loss
        ids = [id(a) for a in args]  # the same tensor passed twice is another signature than two tensors
        key = tuple((a.shape, a.dtype, a.requires_grad, ids.index(i)) for a, i in zip(args, ids))
        outside = _outside_numbers(self.fn)
        stale = None  # a replay that fits but for a number read from outside
        for plan in self._plans.get(key, ()):
            if plan.current():
                if plan.outside == outside:
                    out = plan.replay(args)
                    if not self.backward:
                        out.name = f"output of jit({_name(self.fn)}), replayed without a graph"
                    return out
                stale = plan
        if stale is not None and not any(p.outside == outside for p in self._first.get(key, ())):
            _warn_outside(self.fn, stale.outside, outside)
        recorded = Tape()
        with tape.recording(recorded), enable_grad(), record():  # a forward-only jit records under no_grad too
            loss = self.fn(*args)
        if not isinstance(loss, Tensor) or (self.backward and loss.numel() != 1):
            shape = f" of shape {loss.shape}" if isinstance(loss, Tensor) else ""
            raise RuntimeError(f"jit: the function must return a {'one-element loss ' if self.backward else ''}"
                               f"Tensor, got {type(loss).__name__}{shape}")
        plan = _Plan(loss, args, recorded, self.backward, outside)
        if self.backward:
            loss.backward()
        firsts = self._first.setdefault(key, [])
        first = next((p for p in firsts if p.current() and p.outside == outside), None)
        if first is None:  # the first recording for these modules' state
            firsts[:] = [*firsts[-(_KEEP - 1):], plan]
        else:
            why = first.differs(plan)
            if why is not None:
                raise JitError(f"jit: the first two calls of {_name(self.fn)} did different things: {why}. Compute "
                               "values that change from call to call with tinygrad_bn's ops on the arguments")
            firsts.remove(first)
            plans = self._plans.setdefault(key, [])
            plans[:] = [*plans[-(_KEEP - 1):], plan.compile(_name(self.fn))]
            self._last = plan
        return _result(loss.data)


def _outside_numbers(fn: Callable) -> dict[str, Any]:
    """The numbers ``fn`` reads from outside its arguments: its closure's and the globals it names (a learning rate
    in a look-ahead loss). A recording holds their values as constants, so a change means recording again."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return {}
    found = {name: cell.cell_contents for name, cell in zip(code.co_freevars, fn.__closure__ or ())
             if isinstance(getattr(cell, "cell_contents", None), numbers.Number)}
    scope = getattr(fn, "__globals__", {})
    found.update((n, scope[n]) for n in code.co_names if isinstance(scope.get(n), numbers.Number))
    return found


def _warn_outside(fn: Callable, was: dict[str, Any], now: dict[str, Any]) -> None:
    changed = ", ".join(f"{k} from {was.get(k)!r} to {now.get(k)!r}" for k in sorted(was.keys() | now.keys())
                        if was.get(k) != now.get(k))
    warnings.warn(f"jit({_name(fn)}): {changed} since the recording, which holds the old value; recording again "
                  "(pass a value that changes as an argument, a Tensor, to replay without recording)", stacklevel=3)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and \
            a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.random.Generator):
        return a is b
    return type(a) is type(b) and bool(a == b)


def _same_fn(f: Callable, g: Callable) -> bool:
    """One function (or bound method), or two partials (or closures) of one function with equal arguments."""
    if f is g or (type(f) is type(g) and not isinstance(f, functools.partial) and f == g):
        return True
    if isinstance(f, functools.partial) and isinstance(g, functools.partial):
        return _same_fn(f.func, g.func) and _same(f.args, g.args) and f.keywords.keys() == g.keywords.keys() and \
            all(_same(f.keywords[k], g.keywords[k]) for k in f.keywords)
    code = getattr(f, "__code__", None)
    return code is not None and code is getattr(g, "__code__", None) and _same(
        tuple(c.cell_contents for c in f.__closure__ or ()), tuple(c.cell_contents for c in g.__closure__ or ()))


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
