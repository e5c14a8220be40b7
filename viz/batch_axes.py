"""How each primitive moves batch axes: the explicit per-op contract of the noise analysis.

``RULES`` maps every primitive of ``tinygrad_bn.ops`` to a rule ``rule(attrs, shapes, out, axes,
signal) -> (out_axes, reduced)``: given the op's attributes, its input shapes, its output shape, the
batch-derived axes of each input and which inputs are signal, it returns the output's batch-derived
axes and whether a batch axis of a signal input was reduced away (a batch statistic). A primitive
missing from the table falls back to matching axes by size, with a warning (a test checks that
every primitive has an entry).

``ATEN`` does the same for the ATen ops of a PyTorch capture (:mod:`viz.torch_capture`) that are not
one of our primitives; it is keyed by the op's name as the graph shows it, ``"aten.<name>"`` (an ATen
op that is one of our primitives, such as ``aten.sub``, is named and ruled as that primitive).

To add a primitive ``foo``: write (or reuse) a rule below and add ``"foo": rule`` to ``RULES`` (an ATen
op: ``"aten.foo": rule`` to ``ATEN``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

Axes = frozenset[int]
Shape = tuple[int, ...]
Rule = Callable[[dict[str, Any], list[Shape], Shape, list[Axes], list[bool]], tuple[Axes, bool]]
NONE: Axes = frozenset()
Parts = dict[int, tuple[int, int]]
"""Where the batch sits in axes that merged it with others: axis -> ``(u, n)``, reading the axis (of size s) as
(u, n, s / (u * n)) row-major, the batch is the middle factor (``(S*N, E)``: axis 0 -> ``(S, N)``). An axis
not listed is batch-derived as a whole."""


def elementwise(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
                signal: list[bool]) -> tuple[Axes, bool]:
    """Same-position axes under numpy broadcasting (an axis stretched from size 1 is not batch-derived)."""
    return frozenset(a + len(out) - len(s) for s, ax in zip(shapes, axes) for a in ax
                     if s[a] == out[a + len(out) - len(s)]), False


def reduction(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
              signal: list[bool]) -> tuple[Axes, bool]:
    """``axis``/``keepdims`` reductions: reducing a batch axis of a signal input is a batch statistic."""
    red = set(attrs["axis"])
    a = axes[0] - red
    kept = a if attrs.get("keepdims") else {i - sum(r < i for r in red) for i in a}
    return frozenset(kept), bool(signal[0] and axes[0] & red)


def reshape(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
            signal: list[bool], parts: list[Parts] | None = None) -> tuple[Axes, bool]:
    """An output axis is batch-derived when it holds some of the batch's elements' strides (row-major order).

    ``parts`` tells, for an axis that merged the batch with other axes, where the batch sits in it (see
    :data:`Parts`): attention folds the heads into the batch, (N*H, S, d), and unfolds them later, and only the
    N axis is the batch again. A ghost batch splitting (N, C) into (k, N/k, C) makes both leading axes batch axes.
    """
    return frozenset(_reshape_spans(shapes[0], out, axes[0], parts[0] if parts else {})), False


def transpose(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
              signal: list[bool]) -> tuple[Axes, bool]:
    return frozenset(i for i, a in enumerate(attrs["axes"]) if a in axes[0]), False


def concatenate(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
                signal: list[bool]) -> tuple[Axes, bool]:
    return frozenset().union(*axes), False


def stack(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
          signal: list[bool]) -> tuple[Axes, bool]:
    k = attrs.get("axis", 0)
    k = k if k >= 0 else k + len(out)
    return frozenset(a + (a >= k) for s in axes for a in s), False


def same_axes(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
              signal: list[bool]) -> tuple[Axes, bool]:
    """Axis i of the output comes from axis i of the first input (padding)."""
    return axes[0], False


def unfold(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
           signal: list[bool]) -> tuple[Axes, bool]:
    """(N, C, H, W) -> (N, C*kh*kw, L): N and C keep their place, H and W become L."""
    return frozenset({0: 0, 1: 1, 2: 2, 3: 2}[a] for a in axes[0]), False


def fold(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
         signal: list[bool]) -> tuple[Axes, bool]:
    """(N, C*kh*kw, L) -> (N, C, H, W): L spreads over H and W."""
    return frozenset(b for a in axes[0] for b in {0: (0,), 1: (1,), 2: (2, 3)}[a]), False


def conv2d(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
           signal: list[bool]) -> tuple[Axes, bool]:
    """(N, C, H, W) * (O, C/g, kh, kw) -> (N, O, H', W'): N, H, W keep their place, the filter axis becomes C.

    The contraction runs over channels and kernel offsets: a batch-derived channel axis of a signal input,
    a spatial one under a kernel wider than 1, or any contracted axis of a signal weight is a batch statistic.
    """
    (ax, wax), kernel = axes, shapes[1][2:]
    res = {a for a in ax if a != 1} | ({1} if 0 in wax else set())
    mixed = 1 in ax or any(a in ax and kernel[a - 2] > 1 for a in (2, 3))
    return frozenset(res), bool((signal[0] and mixed) or (signal[1] and wax - {0}))


def max_pool2d(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
               signal: list[bool]) -> tuple[Axes, bool]:
    """(N, C, H, W) -> (N, C, H', W'): every axis keeps its place; a window over a batch-derived axis is a statistic."""
    kernel = attrs["kernel_size"]
    return axes[0], bool(signal[0] and any(a in axes[0] and kernel[a - 2] > 1 for a in (2, 3)))


def embedding(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
              signal: list[bool]) -> tuple[Axes, bool]:
    """weight (V, D) picked by indices I: output I + (D,); the indices' axes keep their place, D comes last."""
    (wax, iax), k = axes, len(shapes[1])
    return frozenset(iax) | frozenset(k for a in wax if a == 1), False


def embedding_grad(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
                   signal: list[bool]) -> tuple[Axes, bool]:
    """g of shape I + (D,) summed into (V, D) rows: summing over a batch axis of a signal is a statistic."""
    (gax, _), k = axes, len(shapes[1])
    return frozenset(1 + a - k for a in gax if a >= k), bool(signal[0] and any(a < k for a in gax))


def getitem(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
            signal: list[bool]) -> tuple[Axes, bool]:
    """Basic indexing moves axes; advanced (array) indexing of a batch axis makes the index axes batch-derived."""
    return _index_axes(attrs["index"], len(shapes[0]), axes[0], out), False


def scatter_add(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
                signal: list[bool]) -> tuple[Axes, bool]:
    """The inverse of ``getitem`` (its vjp): an output axis is batch-derived when indexing it gives a batch axis."""
    shape = tuple(attrs["shape"])
    return frozenset(a for a in range(len(shape))
                     if _index_axes(attrs["index"], len(shape), frozenset({a}), shapes[0]) & axes[0]), False


def matmul(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
           signal: list[bool]) -> tuple[Axes, bool]:
    """Batch axes of either operand move to the output; contracting a signal's batch axis is a statistic."""
    (sa, sb), (aa, ab) = shapes, axes
    a = (1, *sa) if len(sa) == 1 else sa  # promote 1-D operands as numpy does
    b = (*sb, 1) if len(sb) == 1 else sb
    aa = frozenset(x + 1 for x in aa) if len(sa) == 1 else aa
    n = max(len(a), len(b))
    res: set[int] = set()
    reduced = (signal[0] and len(a) - 1 in aa) or (signal[1] and len(b) - 2 in ab)
    res.update(n - 2 if x == len(a) - 2 else x + n - len(a) for x in aa if x != len(a) - 1)
    res.update(n - 1 if x == len(b) - 1 else x + n - len(b) for x in ab if x != len(b) - 2)
    drop = ([n - 2] if len(sa) == 1 else []) + ([n - 1] if len(sb) == 1 else [])
    kept = [j for j in range(n) if j not in drop]
    return frozenset(kept.index(j) for j in res if j in kept and out[kept.index(j)] > 1), bool(reduced)


def einsum(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
           signal: list[bool]) -> tuple[Axes, bool]:
    """By letter: an output axis is batch-derived when its letter is a batch axis of any operand; a signal's batch
    letter missing from the output was summed over (a statistic)."""
    terms, result = attrs["equation"].split("->")
    letters = {c for term, ax in zip(terms.split(","), axes) for i, c in enumerate(term) if i in ax}
    summed = any(sig and any(c not in result for i, c in enumerate(term) if i in ax)
                 for term, ax, sig in zip(terms.split(","), axes, signal))
    return frozenset(i for i, c in enumerate(result) if c in letters), summed


def source(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
           signal: list[bool]) -> tuple[Axes, bool]:
    """An op without inputs (a random draw): no batch axes of its own."""
    return NONE, False


def convolution(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
                signal: list[bool]) -> tuple[Axes, bool]:
    """ATen's N-d ``convolution(input, weight[, bias])``: as :func:`conv2d` for any number of spatial axes;
    a bias (O,) lands on the channel axis."""
    ax, wax = axes[0], axes[1]
    kernel = shapes[1][2:]
    res = {a for a in ax if a != 1} | ({1} if 0 in wax or (len(axes) > 2 and 0 in axes[2]) else set())
    mixed = 1 in ax or any(a in ax and kernel[a - 2] > 1 for a in range(2, len(out)))
    return frozenset(res), bool((signal[0] and mixed) or (signal[1] and wax - {0}))


def pool(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
         signal: list[bool]) -> tuple[Axes, bool]:
    """A pooling window over the last ``len(kernel_size)`` axes: every axis keeps its place; a window wider
    than 1 over a batch-derived axis is a statistic."""
    kernel = tuple(attrs["kernel_size"])
    first = len(out) - len(kernel)
    return axes[0], bool(signal[0] and any(a >= first and kernel[a - first] > 1 for a in axes[0]))


def along(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
          signal: list[bool]) -> tuple[Axes, bool]:
    """An op that mixes values along ``dim`` and keeps the shape (softmax, cumulative sums): along a batch
    axis of a signal it is a batch statistic."""
    dim = attrs["dim"] % len(shapes[0])
    return axes[0], bool(signal[0] and dim in axes[0])


def repeat(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
           signal: list[bool]) -> tuple[Axes, bool]:
    """``x.repeat(*sizes)`` tiles x; its axes keep their place counted from the last (new axes come first)."""
    return frozenset(a + len(out) - len(shapes[0]) for a in axes[0]), False


def select(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
           signal: list[bool]) -> tuple[Axes, bool]:
    """``x.select(dim, i)``: axis ``dim`` is dropped, the later ones move down by one."""
    dim = attrs["dim"] % len(shapes[0])
    return frozenset(a - (a > dim) for a in axes[0] if a != dim), False


def gather(attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
           signal: list[bool]) -> tuple[Axes, bool]:
    """``x.gather(dim, index)``: the output has the index's shape; its axes and x's other axes keep their place."""
    dim = attrs["dim"] % len(shapes[0])
    return frozenset(a for a in axes[0] if a != dim) | axes[1], False


ELEMENTWISE = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "where", "neg", "exp", "log", "sqrt",
               "relu", "tanh", "sigmoid", "abs", "clip", "astype", "broadcast_to", "clone", "erf",
               "logsigmoid", "softplus")
RULES: dict[str, Rule] = {
    **dict.fromkeys(ELEMENTWISE, elementwise),
    **dict.fromkeys(("sum", "mean", "var", "max", "min"), reduction),
    "reshape": reshape, "transpose": transpose, "getitem": getitem, "scatter_add": scatter_add,
    "concatenate": concatenate, "stack": stack, "matmul": matmul, "einsum": einsum, "bernoulli": source,
    "pad": same_axes, "unfold": unfold, "fold": fold, "conv2d": conv2d,
    "max_pool2d": max_pool2d, "embedding": embedding, "embedding_grad": embedding_grad,
}


ATEN_ELEMENTWISE = ("rsqrt", "reciprocal", "gelu", "silu", "hardtanh", "leaky_relu", "elu", "sign", "square", "sin",
                    "cos", "gt", "ge", "lt", "le", "eq", "ne", "logical_not", "logical_and", "logical_or",
                    "bitwise_not", "masked_fill", "alias", "detach", "copy", "lift_fresh_copy", "log1p", "expm1")
ATEN: dict[str, Rule] = {
    **{f"aten.{op}": elementwise for op in ATEN_ELEMENTWISE},
    **{f"aten.{op}": reduction for op in ("any", "all", "prod", "argmax", "argmin", "logsumexp")},
    **{f"aten.{op}": along for op in ("_softmax", "_log_softmax", "cumsum", "cumprod")},
    **{f"aten.{op}": source for op in ("rand_like", "randn_like", "bernoulli", "rand", "randn", "normal",
                                        "randint_like", "uniform")},
    **{f"aten.{op}": same_axes for op in ("slice", "constant_pad_nd", "split", "split_with_sizes", "flip", "roll")},
    "aten.convolution": convolution, "aten.avg_pool1d": pool, "aten.avg_pool2d": pool, "aten.avg_pool3d": pool,
    "aten.max_pool3d": pool, "aten.select": select, "aten.gather": gather,
    "aten.repeat": repeat,
}


def known(op: str) -> bool:
    """Whether ``op`` has a batch-axis rule (in ``RULES`` or ``ATEN``)."""
    return op in RULES or op in ATEN


def batch_axes(op: str, attrs: dict[str, Any], shapes: list[Shape], out: Shape, axes: list[Axes],
               signal: list[bool], parts: list[Parts] | None = None) -> tuple[Axes, bool]:
    """Apply ``op``'s rule (``parts``: each input's :data:`Parts`, which :func:`reshape` reads); an op missing
    from ``RULES`` and ``ATEN`` warns and matches axes by size."""
    rule = RULES.get(op) or ATEN.get(op)
    if rule is reshape:
        return reshape(attrs, shapes, out, axes, signal, parts)
    if rule is not None:
        return rule(attrs, shapes, out, axes, signal)
    warnings.warn(f"viz: no batch-axis rule for op {op!r} (viz.batch_axes.RULES, ATEN); guessing its batch axes by "
                  "size", stacklevel=3)
    sizes = {s[a] for s, ax in zip(shapes, axes) for a in ax}
    return frozenset(j for j, n in enumerate(out) if n > 1 and n in sizes), False


def batch_parts(op: str, shapes: list[Shape], out: Shape, axes: list[Axes], parts: list[Parts],
                out_axes: Axes) -> Parts:
    """The output's :data:`Parts`: exact through a reshape; through any other op an output axis keeps the part
    of the input axes of its size when they all agree (a whole batch axis of that size makes it whole)."""
    if RULES.get(op) is reshape:
        found: Parts = {}
        for j, (lo, hi) in _reshape_spans(shapes[0], out, axes[0], parts[0]).items():
            q = math.prod(out[:j])
            if (lo, hi) != (q, q * out[j]) and lo % q == 0 and hi % lo == 0:
                found[j] = (lo // q, hi // lo)
        return found
    if not any(parts):
        return {}
    found = {}
    for j in out_axes:
        seen = {p.get(a) for s, ax, p in zip(shapes, axes, parts) for a in ax if s[a] == out[j]}
        if len(seen) == 1 and None not in seen:
            found[j] = seen.pop()
    return found


# ----- helpers --------------------------------------------------------------------------------

def _reshape_spans(shape: Shape, out: Shape, axes: Axes, parts: Parts) -> dict[int, tuple[int, int]]:
    """Output axis -> the batch's span in it, in row-major order: axis j of shape s spans ``[prod(s[:j]),
    prod(s[:j + 1]))`` (a reshape keeps that order), and the batch the part of its axes' spans ``parts`` says."""
    spans: dict[int, tuple[int, int]] = {}
    for a in axes:
        u, n = parts.get(a, (1, shape[a]))
        lo = math.prod(shape[:a]) * u
        hi = lo * n
        for j, size in enumerate(out):
            q = math.prod(out[:j])
            start, end = max(lo, q), min(hi, q * size)
            if size > 1 and start < end:
                old = spans.get(j, (start, end))
                spans[j] = (min(old[0], start), max(old[1], end))
    return spans


def _index_axes(index: Any, ndim: int, axes: Axes, out: Shape) -> Axes:
    """Output axes of ``x[index]`` that come from the ``axes`` of ``x`` (numpy's basic and advanced rules)."""
    items = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in items):
        k = next(n for n, i in enumerate(items) if i is Ellipsis)
        used = sum(_consumes(i) for i in items if i is not Ellipsis)
        items = items[:k] + (slice(None),) * (ndim - used) + items[k + 1:]
    items = items + (slice(None),) * (ndim - sum(_consumes(i) for i in items))
    arrays = [k for k, i in enumerate(items) if _is_array(i)]
    advanced = arrays + ([k for k, i in enumerate(items) if isinstance(i, int | np.integer)] if arrays else [])
    shapes = [(int(np.count_nonzero(items[k])),) if _is_mask(items[k]) else np.shape(items[k]) for k in advanced]
    width = len(np.broadcast_shapes(*shapes)) if arrays else 0
    together = bool(arrays) and max(advanced) - min(advanced) + 1 == len(advanced)
    result: set[int] = set()
    src = dst = 0
    hit = False
    if arrays and not together:
        dst = width  # separated advanced indices put their axes first
    for k, i in enumerate(items):
        if k in advanced:
            n = _consumes(i)
            hit = hit or any(a in axes for a in range(src, src + n))
            if together and k == min(advanced):
                start, dst = dst, dst + width
            src += n
        elif i is None:
            dst += 1
        elif isinstance(i, slice):
            if src in axes:
                result.add(dst)
            src, dst = src + 1, dst + 1
        else:  # a plain integer in basic indexing drops the axis
            src += 1
    if hit:
        first = start if together else 0
        result.update(range(first, first + width))
    return frozenset(a for a in result if a < len(out))


def _is_array(i: Any) -> bool:
    return isinstance(i, np.ndarray | list)


def _is_mask(i: Any) -> bool:
    return _is_array(i) and np.asarray(i).dtype == bool


def _consumes(i: Any) -> int:
    """Input axes one index item uses up."""
    if i is None:
        return 0
    return np.asarray(i).ndim if _is_mask(i) else 1
