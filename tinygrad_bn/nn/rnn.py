"""The LSTM, unrolled over time from primitives (matmul, slices, sigmoid, tanh, mul, add), as ``torch.nn.LSTM``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import validate
from ..graph import scope
from ..ops.composites import as_tensor, dropout
from ..tensor import Tensor, as_generator, concatenate, get_default_dtype, stack
from .module import Module, Parameter


class LSTM(Module):
    """A multi-layer (optionally bidirectional) long short-term memory network, as ``torch.nn.LSTM``.

    Each step: ``gates = x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh`` split into input, forget, cell and output
    gates ``i, f, g, o`` (PyTorch's order); ``c = sigmoid(f) * c + sigmoid(i) * tanh(g)``;
    ``h = sigmoid(o) * tanh(c)``. Parameters are named as PyTorch's (``weight_ih_l0`` (4H, in),
    ``weight_hh_l0`` (4H, H), ``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse`` for the backward direction) and
    drawn from U(-1/sqrt(H), 1/sqrt(H)), so a torch state_dict (as numpy arrays) loads. Each layer and
    direction is a function scope (``l0``, ``l0_reverse``) holding one ``lstm_cell`` scope per step.

    Args:
        input_size: the input's features.
        hidden_size: H, the hidden state's features.
        num_layers: stacked layers; each takes the previous one's output sequence.
        bias: learn ``bias_ih``/``bias_hh``.
        batch_first: input and output are (N, L, features) instead of (L, N, features).
        dropout: dropout probability on each layer's output but the last's, in training.
        bidirectional: also run each layer backwards in time; the outputs are concatenated (2H features).
        proj_size: only 0 is supported.
        dtype: the parameters' dtype (the default float dtype when None).
        generator: a seed or numpy Generator for the initialization and the dropout masks.

    Raises:
        NotImplementedError: ``proj_size`` is not 0.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype: Any = None, generator: np.random.Generator | int | None = None) -> None:
        super().__init__()
        if proj_size:
            raise NotImplementedError(f"LSTM: proj_size={proj_size!r} is not supported (only 0)")
        self.input_size = validate.integer("LSTM", input_size, "input_size")
        self.hidden_size = h = validate.integer("LSTM", hidden_size, "hidden_size")
        self.num_layers = validate.integer("LSTM", num_layers, "num_layers")
        self.dropout = validate.real("LSTM", dropout, "dropout", 0.0, 1.0)
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        g, dtype = as_generator(generator), dtype or get_default_dtype()
        self.generator = None if generator is None else g
        bound = 1 / math.sqrt(h)
        for layer in range(self.num_layers):
            for suffix in self._suffixes():
                width = self.input_size if layer == 0 else h * len(self._suffixes())
                shapes = {"weight_ih": (4 * h, width), "weight_hh": (4 * h, h)}
                if bias:
                    shapes.update(bias_ih=(4 * h,), bias_hh=(4 * h,))
                for name, shape in shapes.items():
                    setattr(self, f"{name}_l{layer}{suffix}", Parameter(g.uniform(-bound, bound, shape), dtype=dtype))

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        extras = [f"num_layers={self.num_layers}"] * (self.num_layers > 1) + ["bias=False"] * (not self.bias)
        extras += ["batch_first=True"] * self.batch_first + [f"dropout={self.dropout}"] * (self.dropout > 0)
        extras += ["bidirectional=True"] * self.bidirectional
        return ", ".join([f"{self.input_size}, {self.hidden_size}", *extras])

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the sequence through every layer.

        Args:
            input: (L, N, input_size), (N, L, input_size) with ``batch_first``, or unbatched (L, input_size).
            hx: ``(h_0, c_0)``, each (D * num_layers, N, H) (unbatched: (D * num_layers, H)), D = 2 if
                bidirectional else 1; zeros when None.

        Returns:
            ``(output, (h_n, c_n))``: output (L, N, D * H) in the input's layout; the last hidden and cell states
            of each layer and direction, shaped as ``h_0``.

        Raises:
            ValueError: the input is not 2-D or 3-D, has another feature size or no steps, or ``hx`` has the
                wrong shape.
        """
        x = as_tensor(input)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size or x.shape[0 if x.ndim == 2 or
                                                                             not self.batch_first else 1] == 0:
            raise ValueError(f"LSTM: expected an input of shape (L, N, {self.input_size})"
                             f"{' (batch_first: (N, L, ...))' if self.batch_first else ''} or (L, {self.input_size})"
                             f" with L > 0, got {x.shape}")
        batched = x.ndim == 3
        x = (x.transpose(0, 1) if self.batch_first else x) if batched else x.unsqueeze(1)
        n, states = x.shape[1], len(self._suffixes()) * self.num_layers
        h0, c0 = self._initial_state(hx, (states, n, self.hidden_size), batched, x.dtype)
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes()):
                i = layer * len(self._suffixes()) + d
                key = f"l{layer}{suffix}"
                out, h, c = scope(key)(self._direction)(x, h0[i], c0[i], key, d == 1)
                outs.append(out)
                hs.append(h)
                cs.append(c)
            x = outs[0] if len(outs) == 1 else concatenate(outs, axis=-1)
            if layer < self.num_layers - 1:
                x = dropout(x, self.dropout, self.training, self.generator)
        h_n, c_n = stack(hs), stack(cs)
        if not batched:
            return x[:, 0], (h_n[:, 0], c_n[:, 0])
        return (x.transpose(0, 1) if self.batch_first else x), (h_n, c_n)

    def _initial_state(self, hx: Any, shape: tuple[int, int, int], batched: bool,
                       dtype: np.dtype) -> tuple[Tensor, Tensor]:
        if hx is None:
            zero = Tensor(np.zeros(shape, dtype=dtype))
            return zero, zero
        if not isinstance(hx, tuple | list) or len(hx) != 2:
            raise ValueError(f"LSTM: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        want = shape if batched else (shape[0], shape[2])
        h0, c0 = as_tensor(hx[0]), as_tensor(hx[1])
        if h0.shape != want or c0.shape != want:
            raise ValueError(f"LSTM: expected h_0 and c_0 of shape {want}, got {h0.shape} and {c0.shape}")
        return (h0, c0) if batched else (h0.unsqueeze(1), c0.unsqueeze(1))

    def _direction(self, x: Tensor, h: Tensor, c: Tensor, key: str, reverse: bool) -> tuple[Tensor, Tensor, Tensor]:
        """One layer in one direction over the whole sequence: ``(outputs (L, N, H), h_last, c_last)``."""
        w_ih, w_hh = getattr(self, f"weight_ih_{key}"), getattr(self, f"weight_hh_{key}")
        xw = x @ w_ih.T  # the input's part of every step at once
        if self.bias:
            xw = xw + getattr(self, f"bias_ih_{key}")
        b_hh = getattr(self, f"bias_hh_{key}") if self.bias else None
        outs = []
        for t in reversed(range(x.shape[0])) if reverse else range(x.shape[0]):
            h, c = _cell(xw[t], h, c, w_hh, b_hh)
            outs.append(h)
        return stack(outs[::-1] if reverse else outs), h, c


@scope("lstm_cell")
def _cell(xw: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    """One step: the gates from the input's part ``xw`` and ``h``, then the new ``(h, c)``."""
    gates = xw + h @ w_hh.T
    if b_hh is not None:
        gates = gates + b_hh
    hid = h.shape[-1]
    i, f = gates[:, :hid].sigmoid(), gates[:, hid:2 * hid].sigmoid()
    g, o = gates[:, 2 * hid:3 * hid].tanh(), gates[:, 3 * hid:].sigmoid()
    c = f * c + i * g
    return o * c.tanh(), c
