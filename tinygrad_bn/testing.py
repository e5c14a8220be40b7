"""What the project's own tests use to study gradients, public for yours (pytest, hypothesis).

- :func:`assert_close` compares a Tensor or array with the expected values (nan and inf must match
  position by position) and names the worst index;
- :func:`gradcheck` / :func:`gradgradcheck` compare first and second derivatives with finite differences;
- :func:`compare_with_torch` runs a function and its PyTorch twin and compares values and gradients
  (skipped, with the reason, when PyTorch is not installed);
- hypothesis strategies :func:`tensors`, :func:`broadcastable_shapes` and :func:`axes` (need ``hypothesis``).
"""

from __future__ import annotations

import unittest
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .tensor import Tensor

__all__ = ["GradcheckError", "assert_close", "axes", "broadcastable_shapes", "compare_with_torch", "edge_floats",
           "gradcheck", "gradgradcheck", "tensors"]


def _array(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch.Tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


def assert_close(actual: Any, expected: Any, rtol: float = 1e-7, atol: float = 0.0, msg: str = "") -> None:
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` elementwise, nan and ±inf matching exactly.

    Args:
        actual: a Tensor, a ``torch.Tensor``, an array or a number.
        expected: the same kinds; broadcast against ``actual`` only if the shapes are equal.
        rtol: relative tolerance.
        atol: absolute tolerance.
        msg: what is compared, put at the front of the message.

    Raises:
        AssertionError: the shapes differ, or some elements differ; the message names how many, the worst
            index, both values and the tolerance there.
    """
    a, e = _array(actual), _array(expected)
    what = f"{msg}: " if msg else ""
    if a.shape != e.shape:
        raise AssertionError(f"assert_close: {what}shape {a.shape} differs from the expected shape {e.shape}")
    if a.size == 0:
        return
    a64 = a.astype(np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(e) else np.float64)
    e64 = e.astype(a64.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        same = (a64 == e64) | (np.isnan(a64) & np.isnan(e64))
        excess = np.abs(a64 - e64) - (atol + rtol * np.abs(e64))
    excess = np.where(same, -np.inf, np.where(np.isnan(excess), np.inf, excess))
    bad = excess > 0
    if bad.any():
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), a.shape))
        raise AssertionError(
            f"assert_close: {what}{int(bad.sum())} of {a.size} elements differ; worst at index {worst}: "
            f"actual {a[worst].item()!r}, expected {e[worst].item()!r} (allowed |difference| <= atol {atol} + "
            f"rtol {rtol} * |expected|)")


def compare_with_torch(fn: Callable[..., Any], torch_fn: Callable[..., Any], inputs: Sequence[Any],
                       rtol: float = 1e-7, atol: float = 1e-10, grads: bool = True, seed: int = 0) -> None:
    """Check ``fn(*inputs)`` against ``torch_fn(*inputs)``: the values, then the gradients of every float input.

    Each input (a Tensor, an array or a number) is given to ``fn`` as a Tensor and to ``torch_fn`` as a
    ``torch.Tensor`` of the same dtype; float arrays and Tensors with ``requires_grad=True`` require grad
    (as in :func:`gradcheck`; a Tensor with ``requires_grad=False`` is held constant). The output (a
    Tensor, or a tuple of them) is contracted with fixed random cotangents, and both libraries'
    vector-Jacobian products are compared (an input that does not influence the output has gradient 0).

    Args:
        fn: our function of Tensors.
        torch_fn: the same function written with PyTorch.
        inputs: the arguments, in order.
        rtol: relative tolerance (see :func:`assert_close`).
        atol: absolute tolerance.
        grads: whether to compare gradients too.
        seed: seed of the random cotangents.

    Raises:
        unittest.SkipTest: PyTorch is not installed (pytest reports the test as skipped with this reason).
        AssertionError: a value or a gradient differs (the message names which, and the worst index).
    """
    try:
        import torch
    except ImportError:
        raise unittest.SkipTest("compare_with_torch: PyTorch is not installed") from None
    arrays = [np.array(_array(x)) for x in inputs]
    wants = [grads and a.dtype.kind == "f" and (x.requires_grad if isinstance(x, Tensor) else True)
             for x, a in zip(inputs, arrays)]
    ours = [Tensor(a.copy(), requires_grad=w) for a, w in zip(arrays, wants)]
    theirs = [torch.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    out, tout = _outputs(fn(*ours)), _outputs(torch_fn(*theirs))
    if len(out) != len(tout):
        raise AssertionError(f"compare_with_torch: {len(out)} outputs but PyTorch gives {len(tout)}")
    for i, (o, t) in enumerate(zip(out, tout)):
        assert_close(o, t, rtol, atol, msg=f"output {i}" if len(out) > 1 else "output")
    used = [i for i, w in enumerate(wants) if w]
    if not used:
        return
    rng = np.random.default_rng(seed)
    cots = [rng.standard_normal(_array(t).shape).astype(_array(t).dtype) for t in tout]
    mine_live = [(o, c) for o, c in zip(out, cots) if isinstance(o, Tensor) and o.requires_grad]
    theirs_live = [(t, c) for t, c in zip(tout, cots) if t.requires_grad]
    mine = grad([o for o, _ in mine_live], [ours[i] for i in used], [Tensor(c) for _, c in mine_live],
                allow_unused=True) if mine_live else [None] * len(used)
    theirs_g = torch.autograd.grad([t for t, _ in theirs_live], [theirs[i] for i in used],
                                   [torch.tensor(c) for _, c in theirs_live],
                                   allow_unused=True) if theirs_live else [None] * len(used)
    for i, g, tg in zip(used, mine, theirs_g):
        zeros = np.zeros_like(arrays[i])
        assert_close(zeros if g is None else g, zeros if tg is None else tg, rtol, atol, msg=f"gradient of input {i}")


def _outputs(out: Any) -> list[Any]:
    return list(out) if isinstance(out, tuple | list) else [out]


# ----- hypothesis strategies ------------------------------------------------------------------

def _hypothesis() -> tuple[Any, Any]:
    try:
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp
    except ImportError:  # pragma: no cover - hypothesis is a test dependency
        raise ImportError("tinygrad_bn.testing strategies need hypothesis (pip install hypothesis)") from None
    return st, hnp


def edge_floats(dtype: Any = np.float64, finite: bool = False, huge: float | None = None) -> Any:
    """A strategy of floats of ``dtype`` that favours the edges: 0, -0, ±1, ±``huge``, the tiniest normal
    numbers and (unless ``finite``) ±inf and nan, mixed with ordinary values in [-10, 10].

    Args:
        dtype: a float dtype.
        finite: leave out inf and nan.
        huge: the large edge value (default: the largest finite number of ``dtype``).

    Returns:
        A hypothesis strategy of Python floats.
    """
    st, _ = _hypothesis()
    info = np.finfo(dtype)
    big = float(info.max) if huge is None else float(huge)
    edges = [0.0, -0.0, 1.0, -1.0, big, -big, float(info.tiny), -float(info.tiny)]
    if not finite:
        edges += [np.inf, -np.inf, np.nan]
    width = np.dtype(dtype).itemsize * 8
    return st.one_of(st.sampled_from(edges), st.floats(-10, 10, width=width))


def tensors(shape: Any = None, dtype: Any = np.float64, elements: Any = None, requires_grad: bool = False,
            min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> Any:
    """A hypothesis strategy of Tensors.

    Args:
        shape: a fixed shape, a strategy of shapes, or None for shapes of ``min_dims``..``max_dims`` axes
            with ``min_side``..``max_side`` entries each (``min_side=0`` allows zero-size tensors).
        dtype: a float dtype.
        elements: a strategy of the values; by default finite floats in [-10, 10]
            (:func:`edge_floats` gives 0, ±inf, nan, huge and tiny values too).
        requires_grad: whether the tensors require grad.
        min_dims: fewest axes (when ``shape`` is None).
        max_dims: most axes.
        min_side: smallest axis length.
        max_side: largest axis length.

    Returns:
        A strategy drawing Tensors.
    """
    st, hnp = _hypothesis()
    if shape is None:
        shape = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)
    elif not isinstance(shape, st.SearchStrategy):
        shape = st.just(tuple(shape))
    if elements is None:
        elements = st.floats(-10, 10, width=np.dtype(dtype).itemsize * 8)
    return hnp.arrays(np.dtype(dtype), shape, elements=elements).map(
        lambda a: Tensor(a, requires_grad=requires_grad))


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4) -> Any:
    """A strategy of ``num_shapes`` shapes that broadcast together.

    Args:
        num_shapes: how many shapes each draw holds.
        min_dims: fewest axes of a shape.
        max_dims: most axes.
        min_side: smallest axis length.
        max_side: largest axis length.

    Returns:
        A hypothesis strategy of tuples of ``num_shapes`` shapes.
    """
    _, hnp = _hypothesis()
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             min_side=min_side, max_side=max_side).map(lambda r: r.input_shapes)


def axes(ndim: int, allow_none: bool = True) -> Any:
    """A strategy of valid ``axis`` arguments for a tensor with ``ndim`` axes.

    Args:
        ndim: the number of axes of the tensor.
        allow_none: also draw None (every axis).

    Returns:
        A hypothesis strategy of None, an int (negative too) or a tuple of distinct ints.
    """
    st, hnp = _hypothesis()
    n = max(ndim, 1)
    options = [st.integers(-n, n - 1), hnp.valid_tuple_axes(ndim)]
    return st.one_of(st.none(), *options) if allow_none else st.one_of(*options)
