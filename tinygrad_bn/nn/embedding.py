"""Embedding: a lookup table of vectors, rows picked by integer indices (the ``embedding`` primitive)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..graph import scope
from ..tensor import Tensor, as_generator, get_default_dtype
from .module import Module, Parameter


def _integers(name: str, indices: Any) -> np.ndarray:
    """The array of ``indices``; a TypeError naming the layer unless they are integers."""
    a = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: indices must be integers (int64 like PyTorch's LongTensor), got dtype {a.dtype} "
                        f"of shape {a.shape}")
    return a


def _indices(name: str, indices: Any, rows: int) -> Tensor:
    """``indices`` as an integer Tensor with every value in [0, rows); errors name the layer and the bad value."""
    a = _integers(name, indices)
    bad = (a < 0) | (a >= rows)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise IndexError(f"{name}: index {a[at]} at position {at} is out of range for {rows} embeddings "
                         f"(indices of shape {a.shape} must lie in [0, {rows}))")
    return indices if isinstance(indices, Tensor) else Tensor(a)


def _padding_idx(name: str, padding_idx: int | None, rows: int) -> int | None:
    if padding_idx is None:
        return None
    if not -rows <= padding_idx < rows:
        raise ValueError(f"{name}: padding_idx must be within [-{rows}, {rows}) for {rows} embeddings, "
                         f"got {padding_idx}")
    return padding_idx % rows


def _refuse(name: str, max_norm: float | None, scale_grad_by_freq: bool, sparse: bool) -> None:
    for what, value in (("max_norm", max_norm), ("scale_grad_by_freq", scale_grad_by_freq), ("sparse", sparse)):
        if value not in (None, False):
            raise NotImplementedError(f"{name}: {what}={value!r} is not supported (only the defaults)")


@scope("embedding")
def embedding(input: Any, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, *,
              name: str = "embedding") -> Tensor:
    """Rows of ``weight`` picked by the integer ``input``, like ``torch.nn.functional.embedding``.

    Args:
        input: integer indices of any shape (an array, a list or an integer Tensor), each in [0, V).
        weight: the (V, D) table.
        padding_idx: positions holding this index pass no gradient to its row (negative counts from the end).
        max_norm: not supported (must be None).
        norm_type: unused (only with max_norm).
        scale_grad_by_freq: not supported (must be False).
        sparse: not supported (must be False).
        name: the layer named in error messages.

    Returns:
        A Tensor of shape ``input.shape + (D,)``.

    Raises:
        TypeError: the indices are not integers.
        IndexError: an index is out of range (the message names it and its position).
        NotImplementedError: max_norm, scale_grad_by_freq or sparse was asked for.
        ValueError: ``weight`` is not 2D.
    """
    _refuse(name, max_norm, scale_grad_by_freq, sparse)
    if weight.ndim != 2:
        raise ValueError(f"{name}: weight must be 2D (num_embeddings, embedding_dim), got shape {weight.shape}")
    rows = weight.shape[0]
    return ops.embedding(weight, _indices(name, input, rows), padding_idx=_padding_idx(name, padding_idx, rows))


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, looked up by integer indices.

    The weight (num_embeddings, embedding_dim) is drawn from N(0, 1), like PyTorch's; the row
    ``padding_idx`` starts at zero and gets no gradient.

    Args:
        num_embeddings: how many vectors (V).
        embedding_dim: the size of each vector (D).
        padding_idx: the index of a padding row (zero, never updated by gradients), or None.
        max_norm: not supported (must be None).
        norm_type: unused (only with max_norm).
        scale_grad_by_freq: not supported (must be False).
        sparse: not supported (must be False).
        dtype: the weight's dtype (the default float dtype when None).
        generator: a seed or numpy Generator for the initialization (None: the library's).

    Raises:
        ValueError: ``num_embeddings`` or ``embedding_dim`` is not a positive integer, or ``padding_idx`` is out
            of range.
        NotImplementedError: ``max_norm``, ``scale_grad_by_freq`` or ``sparse`` is set.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, dtype: Any = None, generator: np.random.Generator | int | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        _refuse(name, max_norm, scale_grad_by_freq, sparse)
        for what, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name}: {what} must be a positive integer, got {v!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = _padding_idx(name, padding_idx, self.num_embeddings)
        table = as_generator(generator).standard_normal((self.num_embeddings, self.embedding_dim))
        if self.padding_idx is not None:
            table[self.padding_idx] = 0
        self.weight = Parameter(table, dtype=dtype or get_default_dtype())

    def __call__(self, input: Any, *args: Any, **kwargs: Any) -> Any:
        _integers(type(self).__name__, input)  # before Module's rule that a float input matches the weight's dtype
        return super().__call__(input, *args, **kwargs)

    def forward(self, input: Any) -> Tensor:
        """Look up ``input``.

        Args:
            input: integer indices of any shape, each in [0, num_embeddings).

        Returns:
            A Tensor of shape ``input.shape + (embedding_dim,)``.
        """
        return embedding(input, self.weight, self.padding_idx, name=type(self).__name__)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s if self.padding_idx is None else s + f", padding_idx={self.padding_idx}"
