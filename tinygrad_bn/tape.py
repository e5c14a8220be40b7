"""The recording protocol between the engine and :func:`tinygrad_bn.jit`.

While a jit records a call, a :class:`Tape` is current: primitives report the tensors they make
(:meth:`Tape.op`), the normalizers their state changes (:func:`effect`), :func:`~tinygrad_bn.tensor.constant`
the constants it computes, modules their calls, and optimizers and backward passes refuse to run
(:func:`refuse`). Outside a recording each of these is one ContextVar read. Imports nothing of the library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class JitError(RuntimeError):
    """A function cannot be replayed: its two recordings differ, or it does what a replay cannot repeat."""


class Effect(NamedTuple):
    """A state change recorded among the ops: ``fn(*arrays of tensors)``, after the first ``at`` made tensors."""

    fn: Callable[..., None]
    tensors: tuple[Any, ...]
    at: int
    what: str = "a state update (effect)"


class Constant(NamedTuple):
    """A constant computed by ``fn`` from the values of ``inputs`` (recomputed at each replay)."""

    tensor: Any
    fn: Callable[..., Any]
    inputs: tuple[Any, ...]


@dataclass
class Tape:
    """What one jit recording saw, in the order it happened."""

    made: list[Any] = field(default_factory=list)  # every op output and constant, in creation order
    effects: list[Effect] = field(default_factory=list)
    constants: dict[int, Constant] = field(default_factory=dict)  # by id of the constant tensor
    modules: list[Any] = field(default_factory=list)  # every module called

    def op(self, out: Any) -> None:
        """A primitive made ``out``."""
        self.made.append(out)

    def effect(self, fn: Callable[..., None], tensors: tuple[Any, ...], what: str = "a state update (effect)") -> None:
        """A state change (or a call a replay repeats: ``what``, e.g. a module's forward hooks) ran, with its
        place among the ops made so far."""
        self.effects.append(Effect(fn, tensors, len(self.made), what))

    def constant(self, t: Any, fn: Callable[..., Any], inputs: tuple[Any, ...]) -> None:
        """The constant ``t`` was computed by ``fn`` from ``inputs``' values."""
        self.constants[id(t)] = Constant(t, fn, inputs)
        self.made.append(t)

    def module_call(self, module: Any) -> None:
        """``module`` was called (its mode and version are checked before a replay)."""
        self.modules.append(module)


_current: ContextVar[Tape | None] = ContextVar("tape", default=None)
current: Callable[[], Tape | None] = _current.get
"""The tape of the jit recording running now, or None (the ContextVar's own ``get``: one call per op)."""


@contextmanager
def recording(tape: Tape) -> Iterator[Tape]:
    """Context manager: ``tape`` is current inside the block."""
    token = _current.set(tape)
    try:
        yield tape
    finally:
        _current.reset(token)


def refuse(what: str) -> None:
    """Raise :class:`JitError` if a :func:`tinygrad_bn.jit` recording is running: ``what`` cannot be replayed.

    Args:
        what: the action, e.g. "an optimizer step".

    Raises:
        JitError: inside a recording.
    """
    if _current.get() is not None:
        raise JitError(f"jit: the recorded function ran {what}, which a replay would not repeat; return the loss "
                       "and keep backward, zero_grad and the optimizer's step outside the jitted function")


def effect(fn: Callable[..., None], *tensors: Any) -> None:
    """Run ``fn(*arrays)`` on the tensors' values now: a change of state outside the graph.

    The running statistics of the normalizers are updated this way, so that a :func:`tinygrad_bn.jit`
    recording, which replays the graph's ops, runs the update again on each call's values.

    Args:
        fn: called with the tensors' ndarrays; its result is ignored.
        *tensors: the values it reads.
    """
    fn(*[t.data for t in tensors])
    tape = _current.get()
    if tape is not None:
        tape.effect(fn, tensors)
