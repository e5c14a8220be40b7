"""The public face of the engine: :func:`grad`, and the names of the modules below, under their old address.

The engine lives in :mod:`~tinygrad_bn.graph` (Node, Scope, the modes), :mod:`~tinygrad_bn.backward` (the
backward pass), :mod:`~tinygrad_bn.tape` (what a jit records, :func:`effect`) and :mod:`~tinygrad_bn.tensor`
(:func:`constant`). Inside the library only the package's ``__init__``, ``gradcheck`` and ``testing`` import
this module (for :func:`grad`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import ops
from .backward import inputs_first, run_backward, toposort, unbroadcast
from .graph import (
    Node,
    Scope,
    current_module,
    enable_grad,
    is_grad_enabled,
    module_scope,
    no_grad,
    record,
    scope,
)
from .tape import JitError, effect
from .tensor import Tensor, _result, constant, root_grad


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Tensor | Sequence[Tensor | None] | None = None, *, create_graph: bool = False,
         retain_graph: bool | None = None, allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    Args:
        outputs: a Tensor or a sequence of them.
        inputs: the Tensors (requiring grad) to differentiate with respect to.
        grad_outputs: the gradient with respect to each output, of its shape; None (for each, or for
            one) is allowed for a one-element output, whose gradient is then 1.
        create_graph: record the backward pass, so the returned gradients carry a graph of their own and
            can be differentiated again (second derivatives, Hessian-vector products).
        retain_graph: keep the graph for another backward (default: ``create_graph``).
        allow_unused: return None for an input the outputs do not depend on, instead of raising.

    Returns:
        One gradient per input, of that input's shape (None for an unused input with ``allow_unused``).

    Raises:
        ValueError: the number of ``grad_outputs`` differs from the outputs', a ``grad_outputs`` entry has the
            wrong shape, an input does not require grad, or an input was not used (without ``allow_unused``).
        RuntimeError: an output does not require grad, or a gradient is missing for an output that is not
            one element.
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor | np.ndarray):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outs)} outputs; give one per output "
                         "(None for a scalar output)")
    root_grads = [root_grad(o, g, "grad") for o, g in zip(outs, grad_outputs)]
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise ValueError(f"grad: input {i} ({t.name or 'unnamed'}, shape {t.shape}) does not require grad")
    keep = create_graph if retain_graph is None else retain_graph
    found = run_backward(outs, root_grads, ops=ops, wrap=_result, retain_graph=keep, create_graph=create_graph,
                         capture=ins)
    result = tuple(found.get(id(t)) for t in ins)
    for i, (t, g) in enumerate(zip(ins, result)):
        if g is None and not allow_unused:
            raise ValueError(f"grad: input {i} ({t.name or 'unnamed'}, shape {t.shape}) was not used to "
                             "compute the outputs; pass allow_unused=True to get None for it")
    return result
