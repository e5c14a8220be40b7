"""Linear, the elementwise activations, Dropout and LayerNorm."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .. import validate
from ..ops import composites
from ..tensor import Tensor, as_generator, constant, get_default_dtype, where
from .module import Module, Parameter
from .normalization import layer_norm


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape (out, in), initialized like PyTorch's.

    Weight and bias are drawn from U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform with a=sqrt(5)).

    Args:
        in_features: size of the input's last axis.
        out_features: size of the output's last axis.
        bias: learn an additive (out_features,) bias.
        dtype: the parameters' dtype (the default float dtype when None).
        generator: a seed or numpy Generator for the initialization (None: the library's).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None,
                 generator: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.in_features = validate.integer("Linear", in_features, "in_features", low=0)
        self.out_features = validate.integer("Linear", out_features, "out_features", low=0)
        self.weight, self.bias = _uniform_parameter(in_features, (out_features, in_features), bias, dtype, generator)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x @ weight.T + bias``.

        Args:
            x: input of shape (..., in_features), e.g. (N, in_features).

        Returns:
            A Tensor of shape (..., out_features).

        Raises:
            ValueError: the last axis of ``x`` is not ``in_features`` long.
        """
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: expected an input whose last axis has {self.in_features} features, "
                             f"got shape {x.shape}")
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _uniform_parameter(fan_in: int, shape: tuple[int, ...], bias: bool, dtype: Any,
                       gen: np.random.Generator | int | None) -> tuple[Parameter, Parameter | None]:
    """PyTorch's default init of a weight of ``shape`` and its (shape[0],) bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    g, dtype = as_generator(gen), dtype or get_default_dtype()
    weight = Parameter(g.uniform(-bound, bound, shape), dtype=dtype)
    return weight, (Parameter(g.uniform(-bound, bound, shape[0]), dtype=dtype) if bias else None)


class ReLU(Module):
    """max(x, 0).

    Args:
        inplace: accepted for PyTorch's signature; the result is always a new tensor (the same values), since
            in place would cost a copy here to keep the graph right.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        """Return ``"inplace=True"`` when it was asked for."""
        return "inplace=True" if self.inplace else ""

    def forward(self, x: Tensor) -> Tensor:
        """Return ``max(x, 0)`` of ``x``, elementwise (same shape).

        Args:
            x: a Tensor of any shape.
        """
        return x.relu()


class Hardtanh(Module):
    """``clamp(x, min_val, max_val)``, as ``torch.nn.Hardtanh``: the gradient passes strictly inside the range
    (0 at the bounds themselves, where ``clamp``'s passes).

    Args:
        min_val: the lower bound.
        max_val: the upper bound (above ``min_val``).
        inplace: accepted for PyTorch's signature (see :class:`ReLU`).

    Raises:
        ValueError: ``max_val`` is not above ``min_val``.
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if not max_val > min_val:
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = float(min_val), float(max_val), inplace

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` clipped to [min_val, max_val].

        Args:
            x: a Tensor of any shape.
        """
        inside = constant(functools.partial(_strictly_between, self.min_val, self.max_val), x)
        return where(inside, x, constant(functools.partial(np.clip, a_min=self.min_val, a_max=self.max_val), x))

    def extra_repr(self) -> str:
        """Return the bounds shown in ``repr``."""
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x: Tensor) -> Tensor:
        """Return ``tanh(x)`` of ``x``, elementwise (same shape).

        Args:
            x: a Tensor of any shape.
        """
        return x.tanh()


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x: Tensor) -> Tensor:
        """Return ``sigmoid(x)`` of ``x``, elementwise (same shape).

        Args:
            x: a Tensor of any shape.
        """
        return x.sigmoid()


class LeakyReLU(Module):
    """``x`` where positive, else ``negative_slope * x``.

    Args:
        negative_slope: the slope for negative inputs.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        """Return the leaky ReLU of ``x``, elementwise (same shape).

        Args:
            x: a Tensor of any shape.
        """
        return composites.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """``x`` where positive, else ``alpha * (exp(x) - 1)``.

    Args:
        alpha: the value approached for very negative inputs is ``-alpha``.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        """Return the ELU of ``x``, elementwise (same shape).

        Args:
            x: a Tensor of any shape.
        """
        return composites.elu(x, self.alpha)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"alpha={self.alpha}"


class GELU(Module):
    """``x * Phi(x)``, exact (``approximate="none"``) or with PyTorch's tanh formula (``"tanh"``).

    Args:
        approximate: ``"none"`` (exact, with ``erf``) or ``"tanh"``.

    Raises:
        ValueError: another ``approximate``.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        """Return the GELU of ``x``, elementwise (same shape).

        Args:
            x: a Tensor of any shape.
        """
        return composites.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)``."""

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x * sigmoid(x)`` of ``x``, elementwise (same shape).

        Args:
            x: a Tensor of any shape.
        """
        return composites.silu(x)


class Softmax(Module):
    """Softmax along ``dim`` (required: PyTorch's implicit choice of axis is deprecated there).

    Args:
        dim: the axis to normalize over.

    Raises:
        TypeError: ``dim`` is not given.
    """

    _fn = staticmethod(composites.softmax)

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        if dim is None:
            raise TypeError(f"{type(self).__name__}: pass the axis to normalize over, e.g. dim=1")
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        """Return the (log-)softmax of ``x`` along ``dim`` (same shape).

        Args:
            x: a Tensor with axis ``dim``.
        """
        return self._fn(x, self.dim)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log-softmax along ``dim`` (required)."""

    _fn = staticmethod(composites.log_softmax)


class Dropout(Module):
    """Inverted dropout with probability ``p`` in training (a recorded random mask); identity in eval.

    Args:
        p: the probability of zeroing an entry, in [0, 1].
        generator: a seed or numpy Generator for the masks (None: the library's generator).
    """

    def __init__(self, p: float = 0.5, generator: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.p = validate.real("Dropout", p, "p", 0.0, 1.0)
        self.generator = None if generator is None else as_generator(generator)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` with entries zeroed with probability ``p``, the rest scaled by ``1/(1-p)``; ``x`` in eval.

        Args:
            x: a Tensor of any shape.
        """
        return composites.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"p={self.p}"


class LayerNorm(Module):
    """Normalize each sample over its last axes (statistics per sample, never across the batch).

    Args:
        normalized_shape: the shape of the last axes normalized over, e.g. ``C`` or ``(C, H, W)``.
        eps: added to the variance.
        elementwise_affine: learn a weight (ones) and bias (zeros) of ``normalized_shape``.
        dtype: the parameters' dtype (the default float dtype when None).
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.ones(shape), dtype=dtype) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape), dtype=dtype) if elementwise_affine else None

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` normalized over its last axes, then scaled and shifted (same shape).

        Args:
            x: input of shape (..., *normalized_shape).

        Raises:
            ValueError: ``x``'s shape does not end with ``normalized_shape``.
        """
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return f"{self.normalized_shape}, eps={self.eps}"


def _strictly_between(low: float, high: float, a: np.ndarray) -> np.ndarray:
    return (a > low) & (a < high)
