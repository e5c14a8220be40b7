"""Module (a tree of layers with parameters and buffers), Parameter, and Sequential.

Calling a module pushes a module :class:`~tinygrad_bn.graph.Scope` (path, class name,
``extra_repr``, training flag, input and output shapes) that every op node created inside it
carries: the path is relative to the outermost module being called (``"1"``, ``"block.bn"``; the
outermost module itself is ``""``), and ops created outside any module have ``node.module`` None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple

import numpy as np

from .. import tape
from ..graph import Scope, current_module, pop_scope, push_scope
from ..tensor import Tensor, target_dtype
from . import hooks
from .hooks import RemovableHandle

# id(module) -> path, set while the outermost module's forward runs
_paths: ContextVar[dict[int, str] | None] = ContextVar("module_paths", default=None)
_structure = [0]  # bumped when a child module is set or deleted anywhere: every cached path table is stale


class Parameter(Tensor):
    """A Tensor that a Module trains: requires grad by default and is listed by ``parameters()``.

    Args:
        data: the initial value (number, list, array or Tensor; see :class:`~tinygrad_bn.Tensor`).
        requires_grad: whether it is trained.
        name: an optional name (set to the attribute's name when a Module registers it).
        dtype: the dtype (None: as :class:`~tinygrad_bn.Tensor` chooses).
    """

    __slots__ = ()
    is_parameter = True

    def __init__(self, data: Any, requires_grad: bool = True, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, name=name, dtype=dtype)


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models: subclasses set attributes in ``__init__`` and define ``forward``.

    Attributes that are :class:`Parameter` or :class:`Module` are registered automatically;
    non-trained state (running statistics) is registered with :meth:`register_buffer`.
    """

    training: bool
    _hooks: hooks.Hooks | None = None  # None while the module has no hook: the fast path of __call__

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_version", 0)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        self._changed(isinstance(value, Module) or name in self._modules)
        for registry in (self._parameters, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            if value.name is None:
                value.name = name
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = _as_buffer(value, name)
            value = self._buffers[name]
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._changed(name in self._modules)
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def _changed(self, structure: bool) -> None:
        """An attribute was set or deleted: a new version (a jit recording may have read the old value: a dropout's
        p or generator, an eps); ``structure``: a child module came or went, so the cached path tables are stale."""
        object.__setattr__(self, "_version", self._version + 1)
        if structure:
            _structure[0] += 1

    def register_buffer(self, name: str, value: Any) -> None:
        """Register non-trained state (saved in ``state_dict``, cast by :meth:`to`), as attribute ``name``.

        Args:
            name: the attribute's name.
            value: a Tensor or array (not requiring grad), or None for an absent buffer.

        Raises:
            ValueError: ``value`` requires grad (it should be a Parameter).
        """
        self._buffers[name] = _as_buffer(value, name)
        self._changed(False)
        object.__setattr__(self, name, self._buffers[name])

    def add_module(self, name: str, module: Module) -> None:
        """Register ``module`` as a child called ``name`` (like assigning the attribute).

        Args:
            name: the child's name (an attribute name or, in containers, an index string).
            module: the child.

        Raises:
            TypeError: ``module`` is not a Module.
        """
        if not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        setattr(self, name, module)

    # ----- calling --------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation, defined by each subclass; call the module (``m(x)``), not ``forward``.

        Args:
            *args: the inputs, usually Tensors.
            **kwargs: keyword inputs.

        Returns:
            What the subclass computes (usually a Tensor).

        Raises:
            NotImplementedError: the subclass defines no forward.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._hooks is not None:
            return hooks.call(self, args, kwargs)
        return self._scoped_call(args, kwargs)

    def _scoped_call(self, args: tuple, kwargs: dict) -> Any:
        """``forward`` inside this module's scope (what a call does, hooks aside)."""
        if args and (self._parameters or self._buffers):
            _check_dtype(self, args[0])
        paths = _paths.get()
        outermost = paths is None
        if outermost:
            table = self.__dict__.get("_path_table")
            if table is None or table[0] != (_structure[0], id(self)):  # the tree changed, or this is a copy
                table = ((_structure[0], id(self)), {id(m): name for name, m in self.named_modules()})
                object.__setattr__(self, "_path_table", table)
            paths_token = _paths.set(table[1])
            path = ""
        else:
            path = paths.get(id(self), current_module())
        s = Scope(path, "module", type(self).__name__, self.extra_repr, self.training,
                  tuple(a for a in args if isinstance(a, Tensor)))
        recording = tape.current()
        if recording is not None:  # a jit recording notes every module called, to check them before a replay
            recording.module_call(self)
        token = push_scope(s)
        try:
            result = self.forward(*args, **kwargs)
        finally:
            pop_scope(token)
            if outermost:
                _paths.reset(paths_token)
        s.finish(result)
        return result

    # ----- hooks ----------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward``; a returned value replaces the positional inputs
        (a tuple, or one value made a 1-tuple). As ``torch.nn.Module.register_forward_pre_hook``.

        Args:
            hook: the function; with ``with_kwargs`` it is ``hook(module, args, kwargs)`` and returns None or
                ``(new_args, new_kwargs)``.
            prepend: run it before the hooks already registered.
            with_kwargs: pass the keyword inputs too.

        Returns:
            A handle whose ``remove()`` takes the hook off.
        """
        return self._add_hook("forward_pre", hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward``; a returned value replaces the output.
        As ``torch.nn.Module.register_forward_hook``.

        Args:
            hook: the function; with ``with_kwargs`` it is ``hook(module, args, kwargs, output)``.
            prepend: run it before the hooks already registered.
            with_kwargs: pass the keyword inputs too.
            always_call: call it (with output None) even when ``forward`` raised.

        Returns:
            A handle whose ``remove()`` takes the hook off.
        """
        return self._add_hook("forward", hook, prepend, with_kwargs, always_call)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradient of the module's outputs is known, before it flows
        into the module; a returned tuple replaces ``grad_output``. As torch's method of the same name.

        Args:
            hook: the function; ``grad_output`` is a tuple, one Tensor per output (None where none).
            prepend: run it before the hooks already registered.

        Returns:
            A handle whose ``remove()`` takes the hook off.
        """
        return self._add_hook("backward_pre", hook, prepend)

    def register_full_backward_hook(self, hook: Callable[..., Any], *, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradient of the module's positional inputs (through
        this module only) is known; a returned tuple replaces ``grad_input``. As torch's method of the same name:
        ``grad_input`` holds None for inputs that are not Tensors requiring grad, and if none does the hook runs
        as soon as ``grad_output`` is known, with ``grad_input`` all None.

        Args:
            hook: the function.
            prepend: run it before the hooks already registered.

        Returns:
            A handle whose ``remove()`` takes the hook off.
        """
        return self._add_hook("backward", hook, prepend)

    def _add_hook(self, kind: str, hook: Callable[..., Any], prepend: bool, with_kwargs: bool = False,
                  always_call: bool = False) -> RemovableHandle:
        if self._hooks is None:
            object.__setattr__(self, "_hooks", hooks.Hooks())
        key = hooks.add(self._hooks, kind, hook, prepend, with_kwargs, always_call)
        self._changed(False)  # a jit recording of this module holds the hooks it saw
        return RemovableHandle(self, kind, key)

    def _remove_hook(self, kind: str, key: int) -> None:
        if self._hooks is not None and getattr(self._hooks, kind).pop(key, None) is not None:
            self._changed(False)
            if not self._hooks:
                object.__setattr__(self, "_hooks", None)

    def _hooks_copy(self) -> hooks.Hooks | None:
        """A copy of this module's hook tables (None without hooks), for :meth:`_restore_hooks`."""
        return None if self._hooks is None else hooks.Hooks(*(dict(t) for t in vars(self._hooks).values()))

    def _restore_hooks(self, saved: hooks.Hooks | None) -> None:
        """Put back the hooks of :meth:`_hooks_copy` (a new version if they differ from the current ones)."""
        if saved != self._hooks:
            object.__setattr__(self, "_hooks", saved)
            self._changed(False)

    # ----- the tree -------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield this module and every descendant, each once, as ``(dotted path, module)``, depth first.

        Args:
            prefix: the path given to this module (its descendants' paths start with it).
        """
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            stack.extend(reversed([(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()]))

    def modules(self) -> Iterator[Module]:
        """Yield this module and every descendant, each once (as :meth:`named_modules`, without the paths)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield the direct children as ``(name, module)``, in registration order."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        """Yield the direct children, in registration order."""
        yield from self._modules.values()

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Yield every parameter in the tree, each once, as ``(dotted name, parameter)`` (e.g. ``"0.weight"``)."""
        yield from self._named("_parameters")

    def parameters(self) -> Iterator[Parameter]:
        """Yield every parameter in the tree, each once (what an optimizer takes)."""
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        """Yield every buffer (running statistics, ...) in the tree, each once, as ``(dotted name, tensor)``."""
        yield from self._named("_buffers")

    def buffers(self) -> Iterator[Tensor]:
        """Yield every buffer in the tree, each once."""
        for _, b in self.named_buffers():
            yield b

    def _named(self, registry: str) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        for prefix, m in self.named_modules():
            for k, t in getattr(m, registry).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{prefix}.{k}" if prefix else k), t

    # ----- modes and state ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (batch statistics, dropout on) for this module and all descendants.

        Args:
            mode: True for training, False for evaluation.

        Returns:
            ``self``.
        """
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (running statistics, dropout off): ``train(False)``.

        Returns:
            ``self``.
        """
        return self.train(False)

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for p in self.parameters():
            p.grad = None

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Module:
        """Cast the floating-point parameters and buffers to a dtype, in place, as ``torch.nn.Module.to``:
        ``to(np.float64)``, ``to("cpu")``, ``to(device="cpu", dtype=...)``. The only device is the CPU.

        Args:
            *args: a floating dtype (``np.float64``, ``"float32"``, ...), a device (``"cpu"``), or both.
            dtype: the dtype.
            device: ``"cpu"``; any other device is refused by name.

        Returns:
            ``self``.
        """
        dtype = target_dtype(f"{type(self).__name__}.to", args, dtype, device)
        if dtype is not None:
            for t in [*self.parameters(), *self.buffers()]:
                if t.dtype.kind == "f":
                    t.data = t.data.astype(dtype)
        return self

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule, children first, then on this module, as ``torch.nn.Module.apply``
        (``model.apply(init_weights)``).

        Args:
            fn: called with each module; its result is ignored.

        Returns:
            ``self``.
        """
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return copies of every parameter and buffer (running statistics included), by dotted name."""
        return {k: t.data.copy() for k, t in self._named_state()}

    def _named_state(self) -> list[tuple[str, Tensor]]:
        """Parameters then buffers of each module in turn, like PyTorch's state_dict order."""
        out, seen = [], set()
        for prefix, m in self.named_modules():
            for k, t in [*m._parameters.items(), *m._buffers.items()]:
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    out.append((f"{prefix}.{k}" if prefix else k, t))
        return out

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state`` into the parameters and buffers, in place.

        Everything is checked before anything is assigned, so an error leaves the module untouched.

        Args:
            state: arrays (or Tensors) by dotted name, as :meth:`state_dict` returns.
            strict: a missing or unexpected key is an error (a shape mismatch always is).

        Returns:
            ``(missing_keys, unexpected_keys)``, a named tuple of lists of names.

        Raises:
            TypeError: ``state`` is not a dict, or a value is not an array or Tensor (a list, None, ...).
            ValueError: a key is missing or unexpected (with ``strict``), a shape differs (the message names
                the key and both shapes), or a value is not numeric.
        """
        name = type(self).__name__
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict: {name}: expected a dict of arrays by name, got {type(state).__name__}")
        for k, v in state.items():
            if not isinstance(v, Tensor | np.ndarray | np.generic):
                raise TypeError(f"load_state_dict: {name}: key {k!r} holds a {type(v).__name__}, expected an array "
                                "or a Tensor")
        own = dict(self._named_state())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        problems = []
        if strict:
            problems += [f"missing key {k!r} (expected shape {own[k].shape})" for k in missing]
            problems += [f"unexpected key {k!r} (shape {np.shape(state[k])})" for k in unexpected]
        for k, t in own.items():
            if k in state and np.shape(state[k]) != t.shape:
                problems.append(f"key {k!r} has shape {np.shape(state[k])} but the module's has shape {t.shape}")
        if problems:
            raise ValueError(f"load_state_dict: {type(self).__name__}: " + "; ".join(problems))
        values = {k: np.asarray(state[k].data if isinstance(state[k], Tensor) else state[k]) for k in own
                  if k in state}
        for k, v in values.items():
            if v.dtype.kind not in "biuf":
                raise ValueError(f"load_state_dict: key {k!r} has non-numeric dtype {v.dtype}")
        for k, v in values.items():
            own[k].data[...] = v
        return IncompatibleKeys(missing, unexpected)

    # ----- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Return the text inside the parentheses of this module's ``repr`` (subclasses show their arguments)."""
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [f"  ({k}): " + repr(m).replace("\n", "\n  ") for k, m in self._modules.items()]
        return head + "\n" + "\n".join(lines) + "\n)"


def _check_dtype(module: Module, x: Any) -> None:
    """PyTorch's rule: a floating input must have the dtype of the module's own floating parameters and buffers."""
    dtype = getattr(x, "dtype", None)
    if not isinstance(x, Tensor | np.ndarray) or dtype.kind != "f":
        return
    for name, t in (*module._parameters.items(), *module._buffers.items()):
        if t is not None and t.dtype.kind == "f" and t.dtype != dtype:
            raise TypeError(f"{type(module).__name__}: the input has dtype {dtype} (shape {x.shape}) but {name} has "
                            f"dtype {t.dtype}; cast one of them (x.astype(...) or module.to(...))")


def _as_buffer(value: Any, name: str) -> Tensor | None:
    if value is None:
        return None
    t = value if isinstance(value, Tensor) else Tensor(value)
    if t.requires_grad:
        raise ValueError(f"register_buffer: buffer {name!r} must not require grad (use a Parameter)")
    return t


class Sequential(Module):
    """Modules applied one after another; children are named ``"0"``, ``"1"``, ..., or by the keys of one
    ordered mapping (``Sequential(OrderedDict(fc=nn.Linear(2, 3), act=nn.ReLU()))``), as in PyTorch.

    Args:
        *modules: the modules, in order, or one mapping from names to modules.
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):  # Sequential(OrderedDict(name=module, ...))
            for name, m in modules[0].items():
                self.add_module(name, m)
            return
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, x: Any) -> Any:
        """Return the last module's output, each module taking the previous one's.

        Args:
            x: the first module's input.
        """
        for m in self._modules.values():
            x = m(x)
        return x
