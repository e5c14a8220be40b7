"""How a primitive is declared: ``@primitive`` on its forward, ``@op.defvjp`` on its vjp, and their shared helpers.

A primitive is two functions. The forward takes the inputs' ndarrays (keyword arguments are the op's
attributes) and returns the output array. The vjp, declared with ``@op.defvjp``, is
``vjp(F, need, g, out, *inputs, **attrs)``: it maps the output's gradient ``g`` to one gradient per
input, None where ``need[i]`` is False or there is none. It is written with operators and the
primitives of the namespace ``F``, so one code path serves both backward passes: the plain backward
passes ndarrays and ``F = ARRAYS`` (the forwards themselves: numpy calls, no Tensor, no Node), and
``create_graph=True`` passes Tensors and ``F`` = :mod:`tinygrad_bn.ops`, so the backward pass is recorded
and can be differentiated again. Masks computed from ``np.asarray(x)`` are constants in both. Gradients
may keep the output's broadcast shape: the engine undoes broadcasting with the one
:func:`~tinygrad_bn.backward.unbroadcast`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from .. import anomaly
from ..anomaly import checking_forward
from ..graph import Node, _grad_enabled, _recording, current_module
from ..tape import current as current_tape
from ..tensor import ShapeError, Tensor, _result

Forward = Callable[..., np.ndarray]
Vjp = Callable[..., tuple[Any, ...]]

ARRAYS = SimpleNamespace()
"""The library's primitives as functions of ndarrays (their forwards): ``F`` in a plain backward pass."""
_data = operator.attrgetter("data")


def primitive(fn: Forward | None = None, *, random: bool = False) -> Callable[..., Tensor]:
    """Declare a primitive op from its forward function (see the module docstring).

    Positional arguments are the op's input tensors; keyword arguments are its attributes, stored
    on the graph node. Non-Tensor inputs (numbers, arrays) become constants, Python and numpy
    scalars taking the dtype of the tensor they are combined with. In grad mode a node is recorded
    when an input requires grad, when the op is random, when an input was itself recorded (so a
    value computed from a dropout mask stays in the graph for ``viz``), or always inside ``record()``.
    The returned op has ``defvjp``, the decorator that declares its vjp.
    """
    if fn is None:
        return functools.partial(primitive, random=random)
    name = fn.__name__.rstrip("_")
    vjp: Vjp | None = None

    @functools.wraps(fn)
    def apply(*args: Any, **attrs: Any) -> Tensor:
        inputs = args
        for a in args:
            if not isinstance(a, Tensor):
                inputs = _tensors(args)
                break
        try:
            data = fn(*map(_data, inputs), **attrs)
        except (ValueError, IndexError, TypeError) as e:
            if isinstance(e, ShapeError):
                raise
            shapes = ", ".join(str(t.shape) for t in inputs)
            raise ShapeError(f"{name}: {e} (input shapes {shapes})") from None
        out = _result(data)
        if _grad_enabled.get():  # record when a gradient is needed or a random value flows through
            needs, traced = False, random
            for t in inputs:
                needs = needs or t.requires_grad
                traced = traced or t.node is not None
            if needs or traced or _recording.get():
                if needs and vjp is None:
                    raise TypeError(f"{name}: an input requires grad but the op has no vjp (declare one "
                                    f"with @{name}.defvjp)")
                out.requires_grad = needs
                out.node = Node(name, inputs, attrs, vjp if needs else None, random, fn)
                recording = current_tape()
                if recording is not None:  # a jit recording replays the ops in the order they ran
                    recording.op(out)
        if checking_forward.get():
            anomaly.check_forward(name, inputs, out, current_module())
        return out

    def defvjp(v: Vjp) -> Vjp:
        """Declare ``v(F, need, g, out, *inputs, **attrs)`` as the op's vector-Jacobian product."""
        nonlocal vjp
        vjp = v
        return v

    apply.op_name = name  # type: ignore[attr-defined]
    apply.defvjp = defvjp  # type: ignore[attr-defined]
    if fn.__module__.rpartition(".")[0] == __package__:  # the library's own: callable in vjps as F.<name>
        setattr(ARRAYS, name, fn)
    return apply


def _tensors(args: tuple) -> tuple[Tensor, ...]:
    ref = None
    for a in args:
        if isinstance(a, Tensor) and a.data.dtype.kind == "f":
            ref = a.data.dtype
            break
    return tuple([a if isinstance(a, Tensor) else _constant(a, ref) for a in args])


def _constant(a: Any, ref: np.dtype | None) -> Tensor:
    """A non-Tensor input as a constant: a Python number takes the dtype ``ref`` of the float tensor beside it."""
    if ref is not None and isinstance(a, _NUMBERS):  # the common constant
        return _result(np.array(a, dtype=ref))
    if isinstance(a, np.ndarray) and a.ndim > 0 and a.dtype.kind == "f":
        return Tensor(a)
    return Tensor(a, dtype=ref if ref is not None and np.asarray(a).dtype.kind in "biuf" else None)


_NUMBERS = (int, float)


def masked(F: Any, off: Any, g: Any) -> Any:
    """``g`` where ``off`` is False, exactly 0 where it is True (even if ``g`` is inf or nan there).

    On arrays of more than 1,024 entries it multiplies by the kept mask, 20x faster than ``np.where`` on a
    random mask (a masked-out negative entry becomes -0.0, which equals 0.0), and falls back to ``where``
    only when an inf or nan met the mask (the product is not finite).
    """
    if F is not ARRAYS:  # under create_graph: a recorded where
        return F.where(off, zero(g.dtype), g)
    if g.size > 1024:
        kept = g * ~off
        if np.isfinite(kept).all():
            return kept
    return np.where(off, zero(g.dtype), g)  # off is boolean: the where primitive's cast is not needed


@functools.cache
def zero(dtype: np.dtype) -> np.ndarray:
    """A read-only 0-d zero of ``dtype``: numpy combines it with an array in half the time of the number 0."""
    z = np.zeros((), dtype)
    z.flags.writeable = False
    return z
