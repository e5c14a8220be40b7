"""Lookup: the embedding table's rows picked by integer indices, and its adjoint."""

from __future__ import annotations

import numpy as np

from .primitive import primitive


@primitive
def embedding(weight: np.ndarray, indices: np.ndarray, *, padding_idx: int | None = None):
    """Rows of the (V, D) ``weight`` picked by integer ``indices`` of any shape: ``indices.shape + (D,)``.

    The vjp sums the gradient rows by index (:func:`embedding_grad`: a sort and one ``np.add.reduceat``,
    no scatter); positions holding ``padding_idx`` pass no gradient, as in PyTorch.

    Args:
        weight: the (V, D) table.
        indices: integer indices in [0, V), any shape (an input of the node, so viz sees its batch axis).
        padding_idx: an index whose positions pass no gradient, or None.

    Returns:
        ``indices.shape + (D,)``.

    Raises:
        IndexError: an index outside [0, V) (numpy would wrap a negative one).
    """
    if indices.size and not 0 <= int(indices.min()) <= int(indices.max()) < weight.shape[0]:
        bad = np.flatnonzero((indices.reshape(-1) < 0) | (indices.reshape(-1) >= weight.shape[0]))[0]
        raise IndexError(f"index {indices.reshape(-1)[bad]} at flat position {bad} is out of range for "
                         f"{weight.shape[0]} rows")
    return weight[indices]


@embedding.defvjp
def _embedding_vjp(F, need, g, out, weight, indices, *, padding_idx=None):
    return F.embedding_grad(g, indices, rows=weight.shape[0], padding_idx=padding_idx), None


@primitive
def embedding_grad(g: np.ndarray, indices: np.ndarray, *, rows: int, padding_idx: int | None = None):
    """(rows, D): row v is the sum of the rows of ``g`` (shape ``indices.shape + (D,)``) whose index is v.

    Positions holding ``padding_idx`` are left out. The adjoint of :func:`embedding`, and the other way round.

    Args:
        g: gradient rows, shape ``indices.shape + (D,)``.
        indices: integer indices in [0, rows).
        rows: V, the number of rows of the result.
        padding_idx: an index whose positions are left out, or None.

    Returns:
        (rows, D).
    """
    flat, vectors = indices.reshape(-1), g.reshape(indices.size, *g.shape[indices.ndim:])
    if padding_idx is not None:
        keep = flat != padding_idx
        flat, vectors = flat[keep], vectors[keep]
    out = np.zeros((rows, *vectors.shape[1:]), dtype=g.dtype)
    if flat.size:
        order = np.argsort(flat, kind="stable")
        ordered = flat[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        out[ordered[starts]] = np.add.reduceat(vectors[order], starts, axis=0)
    return out


@embedding_grad.defvjp
def _embedding_grad_vjp(F, need, gg, out, g, indices, *, rows, padding_idx=None):
    picked = F.embedding(gg, indices)
    if padding_idx is not None:
        picked = picked * (np.asarray(indices) != padding_idx)[..., None].astype(picked.dtype)
    return picked, None
