"""Finite-difference gradient checks in float64, usable from any test."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Autodiff and central differences disagree."""


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check the gradient of ``fn(*inputs)`` against central differences, in float64.

    The output is reduced with fixed random weights, so every entry of the vector-Jacobian product
    is checked. Inputs that are Tensors with ``requires_grad=True`` (or plain arrays) are checked;
    other Tensors are held constant.

    Args:
        fn: a function of Tensors returning a Tensor (any shape).
        inputs: its arguments: Tensors, arrays or numbers, each cast to float64.
        eps: finite-difference step.
        atol: absolute tolerance.
        rtol: relative tolerance.
        seed: seed of the random output weights.

    Returns:
        True when everything agrees.

    Raises:
        GradcheckError: autodiff and finite differences disagree; names the input, the worst index and
            both values.
        ValueError: no input requires grad.
    """
    args = [_as64(x) for x in inputs]
    checked = [i for i, a in enumerate(args) if a.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    out = fn(*args)
    weights = Tensor(np.random.default_rng(seed).standard_normal(out.shape), dtype=np.float64)

    def scalar() -> float:
        return float((fn(*args).data * weights.data).sum())

    analytic = grad((out * weights).sum(), [args[i] for i in checked], allow_unused=True)
    for i, g in zip(checked, analytic):
        x = args[i].data
        numeric = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            orig = x[idx]
            x[idx] = orig + eps
            hi = scalar()
            x[idx] = orig - eps
            lo = scalar()
            x[idx] = orig
            numeric[idx] = (hi - lo) / (2 * eps)
        auto = np.zeros_like(x) if g is None else np.broadcast_to(g.data, x.shape)
        err = np.abs(auto - numeric) - (atol + rtol * np.abs(numeric))
        if x.size and (err > 0).any() or np.isnan(auto).any() != np.isnan(numeric).any():
            worst = np.unravel_index(np.nanargmax(np.where(np.isnan(err), np.inf, err)), x.shape) if x.ndim else ()
            name = args[i].name or f"input {i}"
            raise GradcheckError(f"gradcheck: gradient of {name} (shape {x.shape}) is wrong at index {worst}: "
                                 f"autodiff {auto[worst]!r}, finite differences {numeric[worst]!r}")
    return True


def gradgradcheck(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check second derivatives of ``fn(*inputs)``, like ``torch.autograd.gradgradcheck``, in float64.

    The vector-Jacobian product of ``fn`` (fixed random output weights), taken with
    ``create_graph=True`` and contracted with fixed random input weights, is itself checked with
    :func:`gradcheck`: so the recorded backward pass of every op ``fn`` uses is differentiated and
    compared with finite differences of the first-order gradients.

    Args:
        fn: a function of Tensors returning a Tensor.
        inputs: its arguments; Tensors with ``requires_grad=True`` (or plain arrays) are checked.
        eps: finite-difference step.
        atol: absolute tolerance.
        rtol: relative tolerance.
        seed: seed of the random weights.

    Returns:
        True when everything agrees.

    Raises:
        GradcheckError: naming the input, the worst index and both values.
        ValueError: no input requires grad.
    """
    args = [_as64(x) for x in inputs]
    checked = [i for i, a in enumerate(args) if a.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input requires grad")
    rng = np.random.default_rng(seed + 1)
    w_out = rng.standard_normal(fn(*args).shape)
    w_in = [rng.standard_normal(args[i].shape) for i in checked]

    def first_order(*xs: Tensor) -> Tensor:
        ins = [xs[i] for i in checked]
        gs = grad((fn(*xs) * Tensor(w_out)).sum(), ins, create_graph=True, allow_unused=True)
        total = sum((x * 0.0).sum() for x in ins)  # keeps the result in the graph when the gradient is constant
        for g, w in zip(gs, w_in):
            if g is not None:
                total = total + (g * Tensor(w)).sum()
        return total

    return gradcheck(first_order, args, eps=eps, atol=atol, rtol=rtol, seed=seed)


def _as64(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        t = Tensor(np.array(x.data, dtype=np.float64), requires_grad=x.requires_grad, name=x.name)
        return t
    return Tensor(np.array(x, dtype=np.float64), requires_grad=True)
