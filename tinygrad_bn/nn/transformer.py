"""The transformer encoder: :class:`TransformerEncoderLayer` (attention and feed-forward blocks with residuals and
LayerNorm, post- or pre-norm) and :class:`TransformerEncoder` (a stack of copies), as in PyTorch."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ops import composites
from ..tensor import Tensor, as_generator
from .attention import MultiheadAttention
from .containers import ModuleList
from .layers import Dropout, LayerNorm, Linear
from .module import Module

ACTIVATIONS = {"relu": composites.relu, "gelu": composites.gelu}


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward network, each with a residual and a LayerNorm, as
    ``torch.nn.TransformerEncoderLayer`` (same submodule names, so a torch state_dict loads).

    Post-norm (``norm_first=False``): ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``; pre-norm:
    ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``, where ``ff(x) = linear2(dropout(activation(linear1(x))))``.
    ``norm1``/``norm2`` are ordinary attributes: assign another module (a BatchNorm over tokens) to study it.

    Args:
        d_model: the model's width E.
        nhead: the number of attention heads.
        dim_feedforward: the hidden width of the feed-forward network.
        dropout: the dropout probability (attention weights, feed-forward, both residual branches).
        activation: ``"relu"``, ``"gelu"`` or a callable (a function or a Module).
        layer_norm_eps: the LayerNorms' eps.
        batch_first: inputs are (N, L, E) instead of (L, N, E).
        norm_first: pre-norm instead of post-norm.
        bias: learn the linear layers' and LayerNorms' biases.
        dtype: the parameters' dtype (the default float dtype when None).
        generator: a seed or numpy Generator for the initialization and the dropout masks.

    Raises:
        ValueError: an unknown activation name.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, dtype: Any = None,
                 generator: np.random.Generator | int | None = None) -> None:
        super().__init__()
        if isinstance(activation, str) and activation not in ACTIVATIONS:
            raise ValueError(f"TransformerEncoderLayer: activation should be 'relu' or 'gelu' (or a callable), "
                             f"not {activation!r}")
        g = None if generator is None else as_generator(generator)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype, generator=g)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, generator=g)
        self.dropout = Dropout(dropout, generator=g)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, generator=g)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        if not bias:  # PyTorch's LayerNorm(bias=False): a weight, no bias
            self.norm1.bias = self.norm2.bias = None
        self.dropout1 = Dropout(dropout, generator=g)
        self.dropout2 = Dropout(dropout, generator=g)
        self.activation = ACTIVATIONS[activation] if isinstance(activation, str) else activation

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        """Run the block on a sequence.

        Args:
            src: (L, N, E), (N, L, E) with ``batch_first``, or unbatched (L, E).
            src_mask: the attention mask, (L, L) or (N * nhead, L, L) (see :class:`MultiheadAttention`).
            src_key_padding_mask: (N, L): True (or -inf) marks padding that no position attends to.
            is_causal: a hint that ``src_mask`` is the causal mask (which must be given).

        Returns:
            A Tensor of ``src``'s shape.
        """
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, mask: Any, padding: Any, is_causal: bool) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding, need_weights=False,
                             is_causal=is_causal)[0]
        return self.dropout1(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr`` beyond the submodules."""
        return f"norm_first={self.norm_first}"


class TransformerEncoder(Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...; each starts
    with the same weights, as in PyTorch), then an optional final ``norm``. A layer made with a seeded
    ``generator`` gives each copy a child of it (``Generator.spawn``), so the copies draw independent dropout
    masks, reproducibly.

    Args:
        encoder_layer: the layer to copy, e.g. a :class:`TransformerEncoderLayer`.
        num_layers: how many copies.
        norm: an optional module applied to the output (e.g. a LayerNorm).
        enable_nested_tensor: accepted for PyTorch's signature; there are no nested tensors here (padded positions
            are computed like the others, as PyTorch does in training).
        mask_check: accepted for PyTorch's signature.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer, _child_generators(encoder_layer))
                                  for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        """Run every layer in turn, then ``norm``.

        Args:
            src: the sequence, in the layers' layout.
            mask: the attention mask passed to every layer.
            src_key_padding_mask: the padding mask passed to every layer.
            is_causal: a hint that ``mask`` is causal (passed to every layer).

        Returns:
            A Tensor of ``src``'s shape.
        """
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


def _child_generators(module: Module) -> dict[int, np.random.Generator]:
    """A deepcopy memo that replaces each numpy Generator held by ``module``'s tree by a fresh child of it."""
    found = {id(v): v for m in module.modules() for v in vars(m).values() if isinstance(v, np.random.Generator)}
    return {k: g.spawn(1)[0] for k, g in found.items()}
