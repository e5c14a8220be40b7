"""Parameter initialization in place, with ``torch.nn.init``'s names, fan computation and formulas.

Every function fills ``tensor.data`` in place (outside the graph), keeps its dtype and returns the
tensor; the random ones take ``generator=`` (a seed or a numpy Generator; default: the library's
generator, seeded by ``manual_seed``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import validate
from ..tensor import Tensor, as_generator

_GAIN_ONE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
             "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    Args:
        nonlinearity: ``"linear"``, ``"conv1d"`` ... ``"conv_transpose3d"``, ``"sigmoid"`` (1), ``"tanh"``
            (5/3), ``"relu"`` (sqrt 2), ``"leaky_relu"`` (sqrt(2 / (1 + slope^2))) or ``"selu"`` (3/4).
        param: the negative slope of ``"leaky_relu"`` (default 0.01); ignored otherwise.

    Returns:
        The gain.

    Raises:
        ValueError: an unknown nonlinearity, or a slope that is not a number.
    """
    if nonlinearity in _GAIN_ONE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else validate.real("calculate_gain", param, "param", -math.inf)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fans(tensor: Tensor, op: str = "fans") -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight, as PyTorch computes them.

    For shape ``(out, in, *kernel)``: ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``
    (a Linear weight is ``(out, in)``; a conv weight's ``in`` is ``in_channels / groups``).

    Args:
        tensor: a weight with at least 2 axes.
        op: the function named in the error.

    Returns:
        ``(fan_in, fan_out)``.

    Raises:
        ValueError: fewer than 2 axes.
    """
    shape = _tensor(op, tensor).shape
    if len(shape) < 2:
        raise ValueError(f"{op}: fan in and fan out need a tensor with at least 2 axes, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | int | None = None
             ) -> Tensor:
    """Fill with values drawn from U(a, b).

    Args:
        tensor: the floating-point tensor to fill.
        a: the lower bound.
        b: the upper bound, >= a.
        generator: a seed or numpy Generator.

    Returns:
        ``tensor``, filled in place.

    Raises:
        ValueError: ``a > b`` or a bound that is not finite.
    """
    a = validate.real("uniform_", a, "a", -math.inf)
    b = validate.real("uniform_", b, "b", a)
    return _fill(_floating("uniform_", tensor), as_generator(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: np.random.Generator | int | None = None
            ) -> Tensor:
    """Fill with values drawn from N(mean, std^2).

    Args:
        tensor: the floating-point tensor to fill.
        mean: the mean.
        std: the standard deviation, >= 0.
        generator: a seed or numpy Generator.

    Returns:
        ``tensor``, filled in place.
    """
    mean = validate.real("normal_", mean, "mean", -math.inf)
    std = validate.real("normal_", std, "std")
    return _fill(_floating("normal_", tensor), as_generator(generator).normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``.

    Args:
        tensor: the tensor to fill.
        val: the value.

    Returns:
        ``tensor``, filled in place.
    """
    _tensor("constant_", tensor).data[...] = val
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0.

    Args:
        tensor: the tensor to fill.

    Returns:
        ``tensor``, filled in place.
    """
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1.

    Args:
        tensor: the tensor to fill.

    Returns:
        ``tensor``, filled in place.
    """
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | int | None = None) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Args:
        tensor: a weight with at least 2 axes (see :func:`fans`).
        gain: the scale, e.g. ``calculate_gain("tanh")``.
        generator: a seed or numpy Generator.

    Returns:
        ``tensor``, filled in place.
    """
    a = math.sqrt(3.0) * _xavier_std("xavier_uniform_", tensor, gain)
    return _fill(tensor, as_generator(generator).uniform(-a, a, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | int | None = None) -> Tensor:
    """Glorot & Bengio (2010): N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Args:
        tensor: a weight with at least 2 axes (see :func:`fans`).
        gain: the scale.
        generator: a seed or numpy Generator.

    Returns:
        ``tensor``, filled in place.
    """
    std = _xavier_std("xavier_normal_", tensor, gain)
    return _fill(tensor, as_generator(generator).normal(0.0, std, tensor.shape))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | int | None = None) -> Tensor:
    """He et al. (2015): U(-bound, bound) with ``bound = sqrt(3) * gain / sqrt(fan)``.

    Args:
        tensor: a weight with at least 2 axes (see :func:`fans`).
        a: the negative slope of the leaky ReLU that follows (used with ``nonlinearity="leaky_relu"``);
            ``a=sqrt(5)`` gives PyTorch's default Linear/Conv init.
        mode: ``"fan_in"`` (keeps the forward pass's variance) or ``"fan_out"`` (the backward pass's).
        nonlinearity: see :func:`calculate_gain`.
        generator: a seed or numpy Generator.

    Returns:
        ``tensor``, filled in place.
    """
    bound = math.sqrt(3.0) * _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    return _fill(tensor, as_generator(generator).uniform(-bound, bound, tensor.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | int | None = None) -> Tensor:
    """He et al. (2015): N(0, std^2) with ``std = gain / sqrt(fan)``.

    Args:
        tensor: a weight with at least 2 axes (see :func:`fans`).
        a: the negative slope of the leaky ReLU that follows (with ``nonlinearity="leaky_relu"``).
        mode: ``"fan_in"`` or ``"fan_out"``.
        nonlinearity: see :func:`calculate_gain`.
        generator: a seed or numpy Generator.

    Returns:
        ``tensor``, filled in place.
    """
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity)
    return _fill(tensor, as_generator(generator).normal(0.0, std, tensor.shape))


def _xavier_std(op: str, tensor: Tensor, gain: float) -> float:
    fan_in, fan_out = fans(_floating(op, tensor), op)
    return validate.real(op, gain, "gain") * math.sqrt(2.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0


def _kaiming_std(op: str, tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fans(_floating(op, tensor), op)[mode == "fan_out"]
    gain = calculate_gain(nonlinearity, validate.real(op, a, "a", -math.inf))
    return gain / math.sqrt(fan) if fan else 0.0


def _tensor(op: str, tensor: Any) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(tensor).__name__}")
    return tensor


def _floating(op: str, tensor: Any) -> Tensor:
    if _tensor(op, tensor).dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {tensor.dtype}")
    return tensor


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    tensor.data[...] = values
    return tensor
