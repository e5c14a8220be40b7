"""PyTorch's module-level functions: the factories (``tinygrad_bn.zeros(2, 3)`` as ``torch.zeros``), ``cat``
and ``einsum``. Each returns a Tensor; dtypes follow PyTorch (float32 by default, int64 for integer ranges)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops, validate
from .tensor import Tensor, concatenate

__all__ = ["arange", "cat", "einsum", "eye", "full", "full_like", "linspace", "ones", "ones_like", "rand", "randn",
           "zeros", "zeros_like"]

Generator = np.random.Generator | int | None


def zeros(*size: int | Sequence[int], dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros, as ``torch.zeros``.

    Args:
        *size: the sizes, as ints or one sequence.
        dtype: the dtype (default: the default dtype, float32).
        requires_grad: whether backward accumulates a gradient into it.

    Returns:
        A leaf Tensor.
    """
    return Tensor.zeros(*size, dtype=dtype, requires_grad=requires_grad)


def ones(*size: int | Sequence[int], dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones, as ``torch.ones``.

    Args:
        *size: the sizes, as ints or one sequence.
        dtype: the dtype (default: the default dtype, float32).
        requires_grad: whether backward accumulates a gradient into it.

    Returns:
        A leaf Tensor.
    """
    return Tensor.ones(*size, dtype=dtype, requires_grad=requires_grad)


def full(size: Sequence[int], fill_value: float, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``, as ``torch.full`` (an int or bool fill gives int64 or bool).

    Args:
        size: the sizes.
        fill_value: the value.
        dtype: the dtype (default: from the value, floats the default dtype).
        requires_grad: whether backward accumulates a gradient into it.

    Returns:
        A leaf Tensor.
    """
    if dtype is None and isinstance(fill_value, bool | int | np.integer | np.bool_):
        dtype = np.bool_ if isinstance(fill_value, bool | np.bool_) else np.int64
    return Tensor._make(np.full(validate.shape("full", tuple(size)), fill_value), dtype, requires_grad, None)


def randn(*size: int | Sequence[int], dtype: Any = None, requires_grad: bool = False,
          generator: Generator = None) -> Tensor:
    """Standard normal samples, as ``torch.randn``.

    Args:
        *size: the sizes, as ints or one sequence.
        dtype: the dtype (default: the default dtype, float32).
        requires_grad: whether backward accumulates a gradient into it.
        generator: a numpy Generator or a seed; None uses the library's (``manual_seed``).

    Returns:
        A leaf Tensor.
    """
    return Tensor.randn(*size, dtype=dtype, requires_grad=requires_grad, generator=generator)


def rand(*size: int | Sequence[int], dtype: Any = None, requires_grad: bool = False,
         generator: Generator = None) -> Tensor:
    """Uniform samples on [0, 1), as ``torch.rand``.

    Args:
        *size: the sizes, as ints or one sequence.
        dtype: the dtype (default: the default dtype, float32).
        requires_grad: whether backward accumulates a gradient into it.
        generator: a numpy Generator or a seed; None uses the library's (``manual_seed``).

    Returns:
        A leaf Tensor.
    """
    return Tensor.rand(*size, dtype=dtype, requires_grad=requires_grad, generator=generator)


def _like(t: Any) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"expected a Tensor, got {type(t).__name__}")
    return t


def zeros_like(t: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``t``'s shape and dtype, as ``torch.zeros_like``.

    Args:
        t: the tensor whose shape (and dtype) to take.
        dtype: another dtype.
        requires_grad: whether backward accumulates a gradient into it.

    Returns:
        A leaf Tensor.
    """
    return full_like(t, 0, dtype=dtype, requires_grad=requires_grad)


def ones_like(t: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of ``t``'s shape and dtype, as ``torch.ones_like``.

    Args:
        t: the tensor whose shape (and dtype) to take.
        dtype: another dtype.
        requires_grad: whether backward accumulates a gradient into it.

    Returns:
        A leaf Tensor.
    """
    return full_like(t, 1, dtype=dtype, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: float, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` in ``t``'s shape and dtype, as ``torch.full_like``.

    Args:
        t: the tensor whose shape (and dtype) to take.
        fill_value: the value.
        dtype: another dtype.
        requires_grad: whether backward accumulates a gradient into it.

    Returns:
        A leaf Tensor.
    """
    return Tensor(np.full(_like(t).shape, fill_value, dtype or t.dtype), requires_grad=requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (excluded) by ``step``, as ``torch.arange``: int64 when all three are
    integers, else the default float dtype.

    Args:
        start: the first value; the end when ``end`` is None (the values then start at 0).
        end: the end (excluded).
        step: the spacing (not 0).
        dtype: the dtype.
        requires_grad: whether backward accumulates a gradient into it.

    Returns:
        A 1-D leaf Tensor.

    Raises:
        ValueError: ``step`` is 0.
    """
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    start, end = (0, start) if end is None else (start, end)
    integer = all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in (start, end, step))
    data = np.arange(start, end, step)
    return Tensor._make(data, dtype or (np.int64 if integer else None), requires_grad, None)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` (both included), as ``torch.linspace``.

    Args:
        start: the first value.
        end: the last value.
        steps: how many values (at least 0).
        dtype: the dtype (default: the default dtype, float32).
        requires_grad: whether backward accumulates a gradient into it.

    Returns:
        A 1-D leaf Tensor.
    """
    n = validate.integer("linspace", steps, "steps", low=0)
    return Tensor._make(np.linspace(start, end, n), dtype, requires_grad, None)


def eye(n: int, m: int | None = None, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix of shape (n, m), as ``torch.eye``.

    Args:
        n: the number of rows.
        m: the number of columns (default ``n``).
        dtype: the dtype (default: the default dtype, float32).
        requires_grad: whether backward accumulates a gradient into it.

    Returns:
        A leaf Tensor.
    """
    return Tensor.eye(n, m, dtype=dtype, requires_grad=requires_grad)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing axis, as ``torch.cat`` (:func:`~tinygrad_bn.concatenate`).

    Args:
        tensors: Tensors whose shapes agree except along ``dim``.
        dim: the axis to join along.

    Returns:
        A Tensor.
    """
    return concatenate(tensors, dim=dim)


def einsum(equation: str, *operands: Tensor | Sequence[Tensor]) -> Tensor:
    """Einstein summation, as ``torch.einsum`` (``einsum("bij,bjk->bik", a, b)``), differentiable in every operand.

    Without ``->`` the output holds the letters that appear once, in alphabetical order (numpy's and torch's
    rule). Operands may also come as one list.

    Args:
        equation: a term of letters per operand, comma-separated, then optionally ``->`` and the output term.
        *operands: the tensors.

    Returns:
        A Tensor.

    Raises:
        ValueError: the equation does not fit the operands (count, ranks, sizes of a repeated letter), uses
            ``...``, or repeats a letter within one term.
    """
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    xs = [t if isinstance(t, Tensor) else Tensor(t) for t in operands]
    text = equation.replace(" ", "")
    if "..." in text:
        raise ValueError(f"einsum: '...' (broadcast dimensions) is not supported, in {equation!r}")
    ins, arrow, out = text.partition("->")
    terms = ins.split(",")
    if not arrow:
        letters = "".join(terms)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(terms) != len(xs):
        raise ValueError(f"einsum: {equation!r} has {len(terms)} operand terms but {len(xs)} operands were given")
    sizes: dict[str, int] = {}
    for i, (term, x) in enumerate(zip(terms, xs)):
        if not term.isalpha() and term or len(set(term)) != len(term):
            raise ValueError(f"einsum: term {term!r} of {equation!r} must be distinct letters")
        if len(term) != x.ndim:
            raise ValueError(f"einsum: term {term!r} has {len(term)} letters but operand {i} has shape {x.shape}")
        for c, n in zip(term, x.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: letter {c!r} is {sizes[c]} long in one operand and {n} in operand {i} "
                                 f"(shape {x.shape})")
    if len(set(out)) != len(out) or any(c not in sizes for c in out):
        raise ValueError(f"einsum: output term {out!r} must be distinct letters of the inputs, in {equation!r}")
    return ops.einsum(*xs, equation=",".join(terms) + "->" + out)
