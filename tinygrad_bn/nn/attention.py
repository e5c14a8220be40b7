"""Attention, composed from primitives: :func:`scaled_dot_product_attention` and :class:`MultiheadAttention`.

Scores are ``q @ k.T * scale`` plus the masks as an additive bias (a boolean mask becomes 0 / -inf, a float
mask is added as it is), then softmax, dropout on the weights and ``weights @ v``: matmuls, a softmax and a
dropout, so the graph draws them and the noise analysis reads them like any other layer.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .. import validate
from ..graph import scope
from ..ops.composites import as_tensor, dropout, softmax
from ..tensor import Tensor, as_generator, constant, get_default_dtype, where
from . import init
from .layers import Linear
from .module import Module, Parameter


def _bool_bias(keep: bool, dtype: np.dtype, mask: np.ndarray) -> np.ndarray:
    return np.where(mask == keep, 0.0, -np.inf).astype(dtype)


def _dead_rows(bias: np.ndarray) -> np.ndarray:
    return np.all(bias == -np.inf, axis=-1, keepdims=True)


def _mask_bias(op: str, name: str, mask: Any, keep: bool, dtype: np.dtype) -> Tensor:
    """A mask as an additive bias of ``dtype``: a boolean mask becomes 0 where ``mask == keep`` and -inf elsewhere
    (a constant of the graph), a float mask is the bias itself (a gradient flows into it if it requires one).

    Args:
        op: the function or layer named in an error.
        name: the argument's name, for the error.
        mask: a boolean or floating Tensor or array.
        keep: the boolean value that lets a position take part (True for ``scaled_dot_product_attention``,
            False for ``MultiheadAttention``, as in PyTorch).
        dtype: the scores' dtype.

    Returns:
        A Tensor of the mask's shape.

    Raises:
        TypeError: the mask is neither boolean nor of the scores' floating dtype.
    """
    m = mask if isinstance(mask, Tensor) else Tensor(np.asarray(mask))
    if m.dtype == bool:
        return constant(functools.partial(_bool_bias, keep, dtype), m, name=f"{name} (0 / -inf)")
    if m.dtype != dtype:
        raise TypeError(f"{op}: {name} must be boolean or have the query's dtype {dtype}, got {m.dtype}")
    return m


@scope("scaled_dot_product_attention")
def _attend(q: Tensor, k: Tensor, v: Tensor, biases: list[Tensor], dropout_p: float, generator: Any,
           scale: float) -> tuple[Tensor, Tensor]:
    """``softmax(q @ k.T * scale + sum(biases)) @ v`` with dropout on the weights: ``(output, weights)``.

    A row whose bias is -inf everywhere (every key masked) gets weights 0, so output 0 and no gradient, as
    PyTorch's ``scaled_dot_product_attention`` does (its safe softmax), instead of NaN.
    """
    scores = (q @ k.transpose(-2, -1)) * scale
    if biases:  # the same ops whether or not a row is fully masked, so a jit replay stays right
        bias = sum(biases[1:], biases[0])
        dead = constant(_dead_rows, bias, name="fully masked rows")
        weights = where(dead, 0.0, softmax(scores + where(dead, 0.0, bias), axis=-1))
    else:
        weights = softmax(scores, axis=-1)
    weights = dropout(weights, dropout_p, True, generator)
    return weights @ v, weights


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False, *,
                                 generator: np.random.Generator | int | None = None) -> Tensor:
    """``softmax(query @ key.T * scale + mask) @ value``, as ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query: (..., L, E).
        key: (..., S, E).
        value: (..., S, Ev).
        attn_mask: broadcastable to (..., L, S): boolean (True: the position takes part) or float (added to
            the scores).
        dropout_p: dropout probability on the attention weights (applied whenever it is above 0, as in PyTorch).
        is_causal: mask out keys after the query's position (the top-left aligned lower triangle) instead of
            ``attn_mask``.
        scale: the scores' factor; ``1 / sqrt(E)`` when None.
        enable_gqa: grouped-query attention: ``key``/``value`` have fewer heads (axis -3), each repeated for a
            group of query heads.
        generator: a seed or numpy Generator for the dropout mask (None: the library's generator).

    Returns:
        A Tensor of shape (..., L, Ev). A query whose every key is masked gets 0, as in PyTorch.

    Raises:
        ValueError: the shapes do not fit (naming them), or ``dropout_p`` is outside [0, 1].
        TypeError: a float mask of another dtype than the query's.
        RuntimeError: both ``attn_mask`` and ``is_causal``.
    """
    op = "scaled_dot_product_attention"
    q, k, v = as_tensor(query), as_tensor(key), as_tensor(value)
    if min(q.ndim, k.ndim, v.ndim) < 2 or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{op}: expected query (..., L, E), key (..., S, E) and value (..., S, Ev), got "
                         f"{q.shape}, {k.shape} and {v.shape}")
    if enable_gqa:
        k, v = _repeat_heads(op, q, k), _repeat_heads(op, q, v)
    dropout_p = validate.real(op, dropout_p, "dropout_p", 0.0, 1.0)
    (length, e), s = q.shape[-2:], k.shape[-2]
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: the batch axes of query {q.shape}, key {k.shape} and value {v.shape} cannot be "
                         "broadcast together") from None
    if is_causal and attn_mask is not None:
        raise RuntimeError(f"{op}: attn_mask should not be given with is_causal=True (PyTorch's rule)")
    biases = []
    if attn_mask is not None:
        biases.append(_mask_bias(op, "attn_mask", attn_mask, True, q.dtype))
        if not _broadcasts(biases[0].shape, (*batch, length, s)):
            raise ValueError(f"{op}: attn_mask of shape {biases[0].shape} does not broadcast to the scores' shape "
                             f"{(*batch, length, s)}")
    if is_causal:
        biases.append(Tensor(_bool_bias(True, q.dtype, np.tri(length, s, dtype=bool)), name="causal mask"))
    scale = 1 / math.sqrt(e) if scale is None else scale
    return _attend(q, k, v, biases, dropout_p, generator if generator is None else as_generator(generator), scale)[0]


def _broadcasts(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, to) == to
    except ValueError:
        return False


def _repeat_heads(op: str, q: Tensor, kv: Tensor) -> Tensor:
    """``kv`` of shape (..., Hk, S, E) with each head repeated ``Hq / Hk`` times in place, as ``repeat_interleave``."""
    if q.ndim < 3 or kv.ndim < 3 or q.shape[-3] % kv.shape[-3]:
        raise ValueError(f"{op}: enable_gqa needs (..., heads, L, E) operands whose query heads are a multiple of "
                         f"the key/value heads, got query {q.shape} and key/value {kv.shape}")
    r = q.shape[-3] // kv.shape[-3]
    shape = (*kv.shape[:-2], r, *kv.shape[-2:])
    return kv.unsqueeze(-3).broadcast_to(shape).reshape(*kv.shape[:-3], kv.shape[-3] * r, *kv.shape[-2:])


class MultiheadAttention(Module):
    """Multi-head attention, as ``torch.nn.MultiheadAttention``, with its parameter names and initialization.

    ``in_proj_weight`` (3E, E) holds the query, key and value projections (or ``q_proj_weight``,
    ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) when ``kdim``/``vdim`` differ from E), drawn
    Xavier-uniform; ``in_proj_bias`` (3E,) and ``out_proj.bias`` start at 0; ``out_proj`` is a :class:`Linear`.
    A torch state_dict (as numpy arrays) loads with ``load_state_dict``.

    Args:
        embed_dim: E, the model's width.
        num_heads: the number of heads; E must be a multiple of it.
        dropout: dropout probability on the attention weights in training.
        bias: learn the input and output projection biases.
        add_bias_kv: not supported (True raises).
        add_zero_attn: not supported (True raises).
        kdim: the keys' width (E when None).
        vdim: the values' width (E when None).
        batch_first: inputs and outputs are (N, L, E) instead of (L, N, E).
        dtype: the parameters' dtype (the default float dtype when None).
        generator: a seed or numpy Generator for the initialization and the dropout masks.

    Raises:
        ValueError: ``embed_dim`` is not a multiple of ``num_heads``.
        NotImplementedError: ``add_bias_kv`` or ``add_zero_attn`` is True.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, dtype: Any = None,
                 generator: np.random.Generator | int | None = None) -> None:
        super().__init__()
        name = "MultiheadAttention"
        e = self.embed_dim = validate.integer(name, embed_dim, "embed_dim")
        self.num_heads = validate.integer(name, num_heads, "num_heads")
        if e % self.num_heads:
            raise ValueError(f"{name}: embed_dim ({e}) must be divisible by num_heads ({self.num_heads})")
        for flag in ("add_bias_kv", "add_zero_attn"):
            if locals()[flag]:
                raise NotImplementedError(f"{name}: {flag}=True is not supported")
        self.kdim = e if kdim is None else validate.integer(name, kdim, "kdim")
        self.vdim = e if vdim is None else validate.integer(name, vdim, "vdim")
        self.head_dim = e // self.num_heads
        self.dropout = validate.real(name, dropout, "dropout", 0.0, 1.0)
        self.batch_first = batch_first
        g, dtype = as_generator(generator), dtype or get_default_dtype()
        self.generator = None if generator is None else g

        def weight(shape: tuple[int, int]) -> Parameter:
            return init.xavier_uniform_(Parameter(np.zeros(shape), dtype=dtype), generator=g)

        same = self.kdim == e and self.vdim == e  # the unused names are None, as in PyTorch
        self.in_proj_weight = weight((3 * e, e)) if same else None
        self.q_proj_weight, self.k_proj_weight, self.v_proj_weight = (None, None, None) if same else (
            weight((e, e)), weight((e, self.kdim)), weight((e, self.vdim)))
        self.in_proj_bias = Parameter(np.zeros(3 * e), dtype=dtype) if bias else None
        self.out_proj = Linear(e, e, bias=bias, dtype=dtype, generator=g)
        if bias:
            self.out_proj.bias.data[...] = 0

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, " \
               f"batch_first={self.batch_first}"

    def _projections(self) -> list[Tensor]:
        if self.in_proj_weight is not None:
            e = self.embed_dim
            return [self.in_proj_weight[i * e:(i + 1) * e] for i in range(3)]
        return [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight]

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value`` in ``num_heads`` heads.

        Args:
            query: (L, N, E), or (N, L, E) with ``batch_first``, or unbatched (L, E).
            key: (S, N, kdim) (or (N, S, kdim), or (S, kdim)).
            value: (S, N, vdim) (or (N, S, vdim), or (S, vdim)).
            key_padding_mask: (N, S) (or (S,)): boolean (True: ignore that key) or float (added).
            need_weights: also return the attention weights.
            attn_mask: (L, S) or (N * num_heads, L, S): boolean (True: not allowed to attend) or float (added).
            average_attn_weights: average the returned weights over the heads.
            is_causal: a hint that ``attn_mask`` is the causal mask (it must be given, as in PyTorch).

        Returns:
            ``(attn_output, attn_weights)``: the output in the query's layout; the weights (N, L, S), or
            (N, num_heads, L, S) without averaging (no N when unbatched), after dropout; None without
            ``need_weights``. A query whose every key is masked gets weights 0 (PyTorch: NaN with
            ``need_weights``, 0 without).

        Raises:
            ValueError: an input or mask has the wrong rank or shape (named with the shapes).
            RuntimeError: ``is_causal`` without ``attn_mask`` (PyTorch's error).
        """
        name = "MultiheadAttention"
        q, k, v = as_tensor(query), as_tensor(key), as_tensor(value)
        if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise ValueError(f"{name}: expected query, key and value all 3-D (batched) or all 2-D (unbatched), "
                             f"got shapes {q.shape}, {k.shape} and {v.shape}")
        batched = q.ndim == 3
        q, k, v = [t if not batched else t if self.batch_first else t.transpose(0, 1) for t in (q, k, v)]
        if not batched:
            q, k, v = q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)
        (n, length, e), s, h = q.shape, k.shape[1], self.num_heads
        if (e, k.shape[2], v.shape[2]) != (self.embed_dim, self.kdim, self.vdim) or k.shape[:2] != v.shape[:2] \
                or k.shape[0] != n:
            raise ValueError(f"{name}: expected query (..., {self.embed_dim}), key (..., {self.kdim}) and value "
                             f"(..., {self.vdim}) with one batch size and key/value of one length, got "
                             f"{query.shape}, {key.shape} and {value.shape}")
        if is_causal and attn_mask is None:
            raise RuntimeError(f"{name}: Need attn_mask if specifying the is_causal hint (is_causal=True marks the "
                               "given attn_mask as causal)")
        biases = []
        if attn_mask is not None:
            b = _mask_bias(name, "attn_mask", attn_mask, False, q.dtype)
            if b.shape not in ((length, s), (n * h, length, s)):
                raise ValueError(f"{name}: attn_mask has shape {b.shape}, expected {(length, s)} or "
                                 f"{(n * h, length, s)}")
            biases.append(b if b.ndim == 2 else b.reshape(n, h, length, s))
        if key_padding_mask is not None:
            b = _mask_bias(name, "key_padding_mask", key_padding_mask, False, q.dtype)
            if b.shape != ((n, s) if batched else (s,)):
                raise ValueError(f"{name}: key_padding_mask has shape {b.shape}, expected "
                                 f"{(n, s) if batched else (s,)}")
            biases.append(b.reshape(n, 1, 1, s))
        w = self._projections()
        b = [None] * 3 if self.in_proj_bias is None else [self.in_proj_bias[i * e:(i + 1) * e] for i in range(3)]
        heads = []
        for x, wi, bi in zip((q, k, v), w, b):
            x = x @ wi.T
            x = x if bi is None else x + bi
            heads.append(x.reshape(n, x.shape[1], h, self.head_dim).transpose(1, 2))  # (N, h, len, d)
        p = self.dropout if self.training else 0.0
        out, weights = _attend(*heads, biases, p, self.generator, 1 / math.sqrt(self.head_dim))
        out = self.out_proj(out.transpose(1, 2).reshape(n, length, e))
        out = (out if self.batch_first else out.transpose(0, 1)) if batched else out[0]
        if not need_weights:
            return out, None
        weights = weights.mean(axis=1) if average_attn_weights else weights
        return out, weights if batched else weights[0]
