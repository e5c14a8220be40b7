"""The matrix product."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import ShapeError
from .primitive import primitive


@primitive
def matmul(a: np.ndarray, b: np.ndarray):
    """Matrix product with numpy's rules: 1-D, 2-D and batched (broadcast) operands."""
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit: the last axis of the first "
                         "must equal the second-to-last (or only) axis of the second")
    try:
        return a @ b
    except ValueError:
        raise ShapeError(f"matmul: batch shapes of {a.shape} and {b.shape} cannot be broadcast") from None


@matmul.defvjp
def _matmul_vjp(F, need, g, out, a, b):
    a2 = F.reshape(a, shape=(1, -1)) if a.ndim == 1 else a  # vectors as 1-row / 1-column matrices
    b2 = F.reshape(b, shape=(-1, 1)) if b.ndim == 1 else b
    if a.ndim == 1:
        g = F.reshape(g, shape=(*g.shape[:-1], 1, g.shape[-1]) if b.ndim > 1 else (1, *g.shape))
    if b.ndim == 1:
        g = F.reshape(g, shape=(*g.shape, 1))
    ga = F.matmul(g, mT(F, b2)) if need[0] else None
    gb = None
    if need[1]:  # in b's memory order (b is often a transposed weight): no strided copy later
        v = np.asarray(b)
        f_order = v.ndim == 2 and v.flags.f_contiguous and not v.flags.c_contiguous
        gb = mT(F, F.matmul(mT(F, g), a2)) if f_order else F.matmul(mT(F, a2), g)
        if b.ndim == 1:
            gb = F.reshape(gb, shape=gb.shape[:-1])
    return ga, gb


def mT(F: Any, t: Any) -> Any:
    """Swap the last two axes."""
    n = t.ndim
    return F.transpose(t, axes=(*range(n - 2), n - 1, n - 2))


@primitive
def einsum(*xs: np.ndarray, equation: str):
    """Einstein summation of ``xs`` by an explicit ``equation`` (``"ij,jk->ik"``), as ``np.einsum``.

    Args:
        *xs: the operands, one per input term.
        equation: input terms and the output term, each a letter per axis, no letter twice in one term.

    Returns:
        The array the output term describes.
    """
    return np.einsum(equation, *xs)


@einsum.defvjp
def _einsum_vjp(F, need, g, out, *xs, equation):
    ins, result = equation.split("->")
    terms = ins.split(",")
    grads = []
    for k, term in enumerate(terms):
        if not need[k]:
            grads.append(None)
            continue
        others = [t for j, t in enumerate(terms) if j != k]
        known = set(result).union(*others)
        kept = "".join(c for c in term if c in known)  # a letter only in this term was summed: broadcast back
        gk = F.einsum(g, *(x for j, x in enumerate(xs) if j != k), equation=",".join([result, *others]) + "->" + kept)
        if kept != term:
            kept_shape = tuple(n if c in known else 1 for n, c in zip(xs[k].shape, term))
            gk = F.broadcast_to(F.reshape(gk, shape=kept_shape), shape=xs[k].shape)
        grads.append(gk)
    return tuple(grads)
