"""``torch.nn.utils``: gradient clipping, parameters to and from one vector; :func:`preserved_state`."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np

from .. import validate
from ..tensor import Tensor, concatenate
from .module import Module


@contextmanager
def preserved_state(model: Module, *, hooks: bool = True) -> Iterator[Module]:
    """Context manager: whatever the block does to ``model``, afterwards it is as it was before.

    Restored: each module's train/eval mode, every buffer's values (running statistics, counters), every
    parameter's ``.grad``, the state of every numpy Generator a module holds (a dropout's), and the module
    hooks (one registered in the block is gone, one removed is back). So a pass run only to look at the model
    (``viz.capture`` runs one, with ``hooks=False``) leaves no trace on training::

        with nn.utils.preserved_state(model):
            model.train()
            model(x).cross_entropy(y).backward()

    Args:
        model: the module (its descendants are included).
        hooks: whether the module hooks run inside the block (False: they are off until it ends, so a
            :class:`viz.Monitor` does not record the pass).

    Yields:
        ``model``.
    """
    undo: list[Callable[[], None]] = []
    for m in model.modules():
        undo.append(functools.partial(m._restore_hooks, m._hooks_copy()))
        if not hooks:
            m._restore_hooks(None)
        undo.append(lambda m=m, flag=m.training: object.__setattr__(m, "training", flag))  # as Module.train does
        for v in vars(m).values():
            if isinstance(v, np.random.Generator):
                undo.append(lambda v=v, state=v.bit_generator.state: setattr(v.bit_generator, "state", state))
    for _, b in model.named_buffers():
        data = b.data.copy()
        undo.append(lambda b=b, data=data: b.data.__setitem__(..., data))
    for p in model.parameters():
        undo.append(lambda p=p, grad=p.grad: setattr(p, "grad", grad))
    try:
        yield model
    finally:
        for f in undo:
            f()


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients in place so that their total norm is at most ``max_norm``; return that norm.

    The total norm is the ``norm_type``-norm of the vector of every gradient's norm (the norm of all
    gradients concatenated). Every gradient is multiplied by ``min(1, max_norm / (total + 1e-6))``,
    as PyTorch does. Parameters without a gradient are skipped.

    Args:
        parameters: a Tensor or an iterable of Tensors (e.g. ``model.parameters()``).
        max_norm: the largest total norm allowed, >= 0 (``inf`` only measures).
        norm_type: the order of the norm: any real number, ``inf`` (largest absolute value) or ``-inf``.
        error_if_nonfinite: raise if the total norm is nan or inf, instead of scaling by it.

    Returns:
        The total norm of the gradients before clipping, a 0-d Tensor (0.0 if no parameter has a gradient).

    Raises:
        RuntimeError: the total norm is not finite and ``error_if_nonfinite`` is set.
    """
    max_norm = validate.real("clip_grad_norm_", max_norm, "max_norm", finite=False)
    norm_type = validate.real("clip_grad_norm_", norm_type, "norm_type", -math.inf, finite=False)
    validate.flag("clip_grad_norm_", error_if_nonfinite, "error_if_nonfinite")
    grads = _grads(parameters)
    if not grads:
        return Tensor(np.zeros(()))
    norms = [np.linalg.norm(g.data.ravel(), norm_type) if g.data.size else 0.0 for g in grads]
    total = np.linalg.norm(np.array(norms, dtype=np.result_type(*(g.dtype for g in grads))), norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, so "
                           "they cannot be clipped; pass error_if_nonfinite=False to scale them by it anyway")
    coef = min(float(max_norm / (total + 1e-6)), 1.0)
    for g in grads:
        g.data = g.data * coef
    return Tensor(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient in place to ``[-clip_value, clip_value]``.

    Args:
        parameters: a Tensor or an iterable of Tensors.
        clip_value: the largest absolute value allowed, >= 0.
    """
    clip_value = validate.real("clip_grad_value_", clip_value, "clip_value", finite=False)
    for g in _grads(parameters):
        g.data = np.clip(g.data, -clip_value, clip_value)


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"clip_grad: parameters must be Tensors, got {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and joined into one vector, as ``torch.nn.utils.parameters_to_vector``.

    Args:
        parameters: Tensors (``model.parameters()``).

    Returns:
        A 1-D Tensor that stays in the graph (the gradient flows back to each parameter).

    Raises:
        TypeError: an item is not a Tensor.
    """
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters_to_vector: expected Tensors, got {type(p).__name__}")
    return concatenate([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters' values, as ``torch.nn.utils.vector_to_parameters``.

    Args:
        vec: a 1-D Tensor of exactly as many entries as the parameters hold.
        parameters: Tensors (``model.parameters()``), written in place (outside the graph).

    Raises:
        ValueError: ``vec`` is not 1-D or its length differs from the parameters' total.
    """
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if not isinstance(vec, Tensor) or vec.ndim != 1 or vec.numel() != total:
        shape = vec.shape if isinstance(vec, Tensor) else type(vec).__name__
        raise ValueError(f"vector_to_parameters: expected a 1-D Tensor of {total} entries, got {shape}")
    start = 0
    for p in params:
        p.data[...] = vec.data[start:start + p.numel()].reshape(p.shape)
        start += p.numel()
