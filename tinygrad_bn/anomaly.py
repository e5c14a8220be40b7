"""Anomaly detection: find the op where a nan or inf starts, in the forward or the backward pass.

While it is on (``detect_anomaly()``, ``set_detect_anomaly(True)``), every primitive checks its
output and records the Python stack where it was created; every vjp's gradients are checked in the
backward pass. The first non-finite value raises :class:`AnomalyError` naming the op, its module,
the input shapes, the pass, and where the op was created. Off by default: then the forward and the
backward each test one flag.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .graph import Node
    from .tensor import Tensor

__all__ = ["AnomalyError", "detect_anomaly", "is_anomaly_enabled", "set_detect_anomaly"]


checking_forward: ContextVar[bool] = ContextVar("anomaly_forward", default=False)
"""Primitives check their outputs (off inside a backward pass, whose gradients are checked per node)."""
checking_backward: ContextVar[bool] = ContextVar("anomaly_backward", default=False)
"""Vjps' gradients are checked: anomaly detection is on."""


class AnomalyError(FloatingPointError):
    """A nan or inf appeared in an op's output (forward) or in the gradients its vjp returned (backward).

    Attributes:
        op: the primitive's name.
        module: path of the module the op ran in, or None.
        input_shapes: shapes of the op's inputs.
        phase: ``"forward"`` or ``"backward"``.
        stack: where the op was created in the forward pass (formatted), or None if it was created
            before anomaly detection was turned on.

    Args:
        message: the error message.
        op: the primitive's name.
        module: path of the module the op ran in, or None.
        input_shapes: shapes of the op's inputs.
        phase: ``"forward"`` or ``"backward"``.
        stack: where the op was created, or None.
    """

    def __init__(self, message: str, op: str, module: str | None, input_shapes: list[tuple[int, ...]],
                 phase: str, stack: str | None) -> None:
        super().__init__(message)
        self.op, self.module, self.input_shapes, self.phase, self.stack = op, module, input_shapes, phase, stack


def is_anomaly_enabled() -> bool:
    """Return whether anomaly detection is on."""
    return checking_backward.get()


def set_detect_anomaly(mode: bool) -> None:
    """Turn anomaly detection on or off (see :class:`detect_anomaly`); thread- and task-local, like the grad modes.

    Args:
        mode: True turns it on, False off.
    """
    checking_forward.set(bool(mode))
    checking_backward.set(bool(mode))


class detect_anomaly:
    """Context manager and decorator: anomaly detection on inside (like ``torch.autograd.detect_anomaly``).

    Args:
        check_nan: False turns detection off inside instead (PyTorch's argument name).
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.mode = check_nan

    def __enter__(self) -> None:
        self._tokens = (checking_forward.set(self.mode), checking_backward.set(self.mode))

    def __exit__(self, *exc: object) -> None:
        checking_forward.reset(self._tokens[0])
        checking_backward.reset(self._tokens[1])

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.mode):
                return fn(*args, **kwargs)
        return wrapper


def _stack() -> traceback.StackSummary:
    """Where the op was created: the stack without the engine's own frames (the user's code and nn's layers)."""
    frames = [(f, n) for f, n in traceback.walk_stack(None) if not _engine(f.f_globals.get("__name__", ""))]
    summary = traceback.StackSummary.extract(frames, lookup_lines=False)
    summary.reverse()
    return summary


def _engine(module: str) -> bool:
    """Whether a frame of ``module`` is the engine's (tinygrad_bn outside ``nn``), left out of the stack shown."""
    return module.startswith("tinygrad_bn.") and not module.startswith("tinygrad_bn.nn.")


def _bad(a: np.ndarray) -> str | None:
    """``"nan"``/``"inf"`` and the first index holding it, or None when every value is finite."""
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return None
    flat = np.flatnonzero(~np.isfinite(a))[0]
    where = tuple(int(i) for i in np.unravel_index(flat, a.shape))
    return f"{'nan' if np.isnan(a.flat[flat]) else 'inf'} (first at index {where})"


def _raise(op: str, module: str | None, inputs: Sequence[Tensor], phase: str, what: str,
           stack: traceback.StackSummary | None) -> None:
    shapes = [t.shape for t in inputs]
    where = ("".join(stack.format()) if stack is not None else
             "  (not recorded: the op was created before anomaly detection was turned on)\n")
    upstream = [i for i, t in enumerate(inputs) if _bad(t.data)] if phase == "forward" else []
    note = (f"; input {upstream[0]} already held a non-finite value" if upstream else "")
    raise AnomalyError(
        f"detect_anomaly: op '{op}' {f'in module {module!r}' if module else '(outside any module)'} produced "
        f"{what} in the {phase} pass "
        f"(input shapes {', '.join(map(str, shapes)) or 'none'}){note}.\n"
        f"The op was created in the forward pass at (most recent call last):\n{where.rstrip()}",
        op, module, shapes, phase, "".join(stack.format()) if stack is not None else None) from None


def check_forward(op: str, inputs: Sequence[Tensor], out: Tensor, module: str | None) -> None:
    """Raise if ``out`` holds a nan or inf; else remember where its node was created."""
    stack = _stack()
    if out.node is not None:
        out.node.stack = stack
    bad = _bad(out.data)
    if bad:
        _raise(op, module, inputs, "forward", f"{bad} in its output of shape {out.shape}", stack)


def check_backward(node: Node, grads: Sequence[Tensor | None]) -> None:
    """Raise if a gradient returned by ``node``'s vjp holds a nan or inf."""
    for i, (inp, g) in enumerate(zip(node.inputs, grads)):
        bad = None if g is None or not inp.requires_grad else _bad(np.asarray(g))
        if bad:
            _raise(node.op, node.module, node.inputs, "backward",
                   f"{bad} in the gradient of its input {i} (shape {inp.shape})", getattr(node, "stack", None))
