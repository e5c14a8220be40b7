"""Differential fuzzing against PyTorch: random graphs of every primitive, with broadcasting, axes,
zero-size tensors and edge values (0, ±inf, nan, huge, tiny), in float32 and float64 — values,
gradients, and (smooth float64 graphs) second-order gradients. Fixed seed profile: the same graphs every run."""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygrad_bn import Tensor, concatenate, grad, stack, where
from tinygrad_bn.testing import assert_close, axes, broadcastable_shapes, edge_floats

TF = torch.nn.functional
GRAPHS = 320

# name: (ours, theirs, smooth) for unary ops on one tensor
UNARY = {  # hypothesis draws the first entries most: the masking ops lead
    "relu": (lambda x: x.relu(), torch.relu, False),
    "sqrt": (lambda x: x.sqrt(), torch.sqrt, False),
    "log": (lambda x: x.log(), torch.log, False),
    "clip": (lambda x: x.clip(-1.0, 2.0), lambda x: x.clamp(-1.0, 2.0), False),
    "neg": (lambda x: -x, lambda x: -x, True),
    "exp": (lambda x: x.exp(), torch.exp, True),
    "tanh": (lambda x: x.tanh(), torch.tanh, True),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid, True),
    "abs": (lambda x: x.abs(), torch.abs, False),
    "logsigmoid": (lambda x: x.logsigmoid(), TF.logsigmoid, True),
    "softplus": (lambda x: x.softplus(), TF.softplus, True),
    "square": (lambda x: x ** 2, lambda x: x ** 2, True),
    "cube": (lambda x: x ** 3, lambda x: x ** 3, True),
    "pow_neg": (lambda x: x ** -1.5, lambda x: x ** -1.5, False),  # (PyTorch computes ** -0.5 as rsqrt: nan at -inf)
    "pow0": (lambda x: x ** 0, lambda x: x ** 0, True),
    "astype": (lambda x: x.astype(np.float64).astype(x.dtype), lambda x: x.double().to(x.dtype), True),
    "T": (lambda x: x.T, lambda x: x.permute(tuple(reversed(range(x.ndim)))), True),
    "flatten": (lambda x: x.reshape(-1), lambda x: x.reshape(-1), True),
    "unsqueeze": (lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(0), True),
    "stack": (lambda x: stack([x, x * 2.0]), lambda x: torch.stack([x, x * 2.0]), True),
    "broadcast_to": (lambda x: x.broadcast_to(2, *x.shape), lambda x: x.expand(2, *x.shape), True),
}
# ops that need at least one axis
AXIS_OPS = {
    "concatenate": (lambda x: concatenate([x, x * 3.0], axis=-1), lambda x: torch.cat([x, x * 3.0], -1), True),
    "slice": (lambda x: x[..., ::2], lambda x: x[..., ::2], True),
    "take": (lambda x: x[np.array([0, 0, -1])], lambda x: x[torch.tensor([0, 0, -1])], True),
}
BINARY = {
    "where": (lambda a, b: where(a > b, a, b), lambda a, b: torch.where(a > b, a, b), False),
    "div": (lambda a, b: a / b, lambda a, b: a / b, False),
    "add": (lambda a, b: a + b, lambda a, b: a + b, True),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, True),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, True),
    "maximum": (lambda a, b: a.maximum(b), torch.maximum, False),
    "minimum": (lambda a, b: a.minimum(b), torch.minimum, False),
    "pow": (lambda a, b: a.abs() ** b, lambda a, b: a.abs() ** b, False),
}
REDUCE = ["sum", "mean", "var", "max", "min", "softmax", "log_softmax"]


def _reduce(lib, name, x, axis, keepdims):
    if name in ("softmax", "log_softmax"):
        a = 0 if axis is None else axis if isinstance(axis, int) else (axis[0] if axis else 0)
        return getattr(x, name)(a) if lib == "ours" else getattr(x, name)(a)
    if lib == "ours":  # the reductions over any axes: amax/amin, and var with the correction said
        kw = {"correction": 0} if name == "var" else {}
        return getattr(x, {"max": "amax", "min": "amin"}.get(name, name))(axis=axis, keepdims=keepdims, **kw)
    dims = tuple(range(x.ndim)) if axis is None else axis
    if name == "var":
        return x.var(dim=dims, keepdim=keepdims, correction=0)
    if name in ("max", "min"):
        return (torch.amax if name == "max" else torch.amin)(x, dim=dims, keepdim=keepdims)
    return getattr(x, name)(dim=dims, keepdim=keepdims)


@st.composite
def programs(draw):
    """Two leaves of broadcastable shapes and a list of steps (op name, arguments), shapes tracked."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    sa, sb = draw(broadcastable_shapes(min_side=draw(st.sampled_from([0, 1, 1, 1])), max_side=3))
    # huge values well inside the range: at the very edge, rounding order decides inf or not (2 * x * w vs x * (2 * w))
    huge = 1e18 if dtype == np.float32 else 1e150
    values = edge_floats(dtype, huge=huge) if draw(st.booleans()) else \
        st.floats(-3, 3, width=np.dtype(dtype).itemsize * 8)
    a = np.array(draw(st.lists(values, min_size=int(np.prod(sa)), max_size=int(np.prod(sa)))), dtype).reshape(sa)
    b = np.array(draw(st.lists(values, min_size=int(np.prod(sb)), max_size=int(np.prod(sb)))), dtype).reshape(sb)
    shape, steps = np.broadcast_shapes(sa, sb), [("add_leaves",)]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["unary", "binary", "reduce", "unary", "matmul", "axis"]))
        if kind == "axis" and shape and shape[0] > 0:
            name = draw(st.sampled_from(list(AXIS_OPS)))
            steps.append(("unary", name))
            shape = {"concatenate": (*shape[:-1], 2 * shape[-1]), "slice": (*shape[:-1], (shape[-1] + 1) // 2),
                     "take": (3, *shape[1:])}[name]
        elif kind == "unary":
            name = draw(st.sampled_from(list(UNARY)))
            steps.append(("unary", name))
            shape = {"T": shape[::-1], "flatten": (int(np.prod(shape)),), "unsqueeze": (1, *shape),
                     "stack": (2, *shape), "broadcast_to": (2, *shape)}.get(name, shape)
        elif kind == "binary" and _fits(shape, sb):
            steps.append(("binary", draw(st.sampled_from(list(BINARY)))))
        elif kind == "reduce":
            name = draw(st.sampled_from(REDUCE))
            axis = draw(axes(len(shape), allow_none=name not in ("softmax", "log_softmax")).filter(lambda a: a != ()))
            # (axis=() reduces nothing, as in numpy; PyTorch's dim=() reduces every axis)
            keepdims = draw(st.booleans())
            picked = tuple(range(len(shape))) if axis is None else (axis,) if isinstance(axis, int) else axis
            picked = tuple(p % max(len(shape), 1) for p in picked) if shape else ()
            if name in ("max", "min") and any(shape[p] == 0 for p in picked):
                continue  # both libraries refuse to reduce an empty axis
            steps.append(("reduce", name, axis, keepdims))
            if name not in ("softmax", "log_softmax"):
                shape = tuple(1 if i in picked else n for i, n in enumerate(shape)) if keepdims else \
                    tuple(n for i, n in enumerate(shape) if i not in picked)
        elif kind == "matmul" and len(shape) >= 1:
            w = np.random.default_rng(len(steps)).standard_normal((shape[-1], 2)).astype(dtype)
            steps.append(("matmul", w))
            shape = (*shape[:-1], 2)
    return dtype, a, b, steps


def _fits(shape, other):
    try:
        return np.broadcast_shapes(shape, other) == shape
    except ValueError:
        return False


def run(lib, steps, a, b):
    h = None
    for step in steps:
        if step[0] == "add_leaves":
            h = a + b
        elif step[0] == "unary":
            h = {**UNARY, **AXIS_OPS}[step[1]][0 if lib == "ours" else 1](h)
        elif step[0] == "binary":
            h = BINARY[step[1]][0 if lib == "ours" else 1](h, b)
        elif step[0] == "reduce":
            h = _reduce(lib, *step[1:2], h, *step[2:])
        else:
            h = h @ (Tensor(step[1]) if lib == "ours" else torch.tensor(step[1]))
    return h


def smooth(steps):
    table = {"unary": {**UNARY, **AXIS_OPS}, "binary": BINARY}
    return all(table[s[0]][s[1]][2] if s[0] in table else s[0] != "reduce" or s[1] in ("sum", "mean", "var",
                                                                                        "softmax", "log_softmax")
               for s in steps)


@settings(max_examples=GRAPHS, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_graphs_agree_with_torch(program):
    dtype, a, b, steps = program
    tol = dict(rtol=2e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-7, atol=1e-10)
    with np.errstate(all="ignore"):
        A, B = Tensor(a.copy(), requires_grad=True), Tensor(b.copy(), requires_grad=True)
        out = run("ours", steps, A, B)
    TA, TB = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    tout = run("torch", steps, TA, TB)
    assert_close(out, tout, **tol, msg=f"value of {steps}")
    w = np.random.default_rng(0).standard_normal(out.shape).astype(dtype)
    with np.errstate(all="ignore"):
        ga, gb = grad(out, [A, B], Tensor(w), allow_unused=True, create_graph=True)
    tga, tgb = torch.autograd.grad(tout, [TA, TB], torch.tensor(w), allow_unused=True, create_graph=True)
    for name, g, tg, x in (("a", ga, tga, a), ("b", gb, tgb, b)):
        assert_close(np.zeros_like(x) if g is None else g, np.zeros_like(x) if tg is None else tg, **tol,
                     msg=f"gradient of {name} in {steps}")
    if dtype != np.float64 or not smooth(steps) or not np.isfinite(a).all() or not np.isfinite(b).all():
        return
    v = np.random.default_rng(1).standard_normal(a.shape)
    if ga is None or tga is None or not tga.requires_grad:
        return
    if not (np.isfinite(ga.data).all() and np.isfinite(out.data).all()):
        # past an overflow (values near 1e300) the second derivative is inf - inf, whose sign and size follow the
        # order numpy's SIMD sums take, which varies with memory alignment from one process to the next
        return
    with np.errstate(all="ignore"):
        gga, = grad((ga * Tensor(v)).sum(), [A], allow_unused=True)
    tgga, = torch.autograd.grad((tga * torch.tensor(v)).sum(), [TA], allow_unused=True)
    assert_close(np.zeros_like(a) if gga is None else gga, np.zeros_like(a) if tgga is None else tgga, rtol=1e-6,
                 atol=1e-8, msg=f"second-order gradient of a in {steps}")


def test_zero_size_inputs_of_every_op_agree_with_torch():
    e, col = np.zeros((0, 3)), np.ones((1, 3))
    for name, (ours, theirs, _) in {**UNARY, **AXIS_OPS}.items():
        if name == "take":
            continue  # indexes row 0 of a tensor with no rows: an IndexError in both
        with np.errstate(all="ignore"):
            out = ours(Tensor(e))
        assert_close(out, theirs(torch.tensor(e)), msg=name)
    for name, (ours, theirs, _) in BINARY.items():
        assert_close(ours(Tensor(e), Tensor(col)), theirs(torch.tensor(e), torch.tensor(col)), msg=name)
    for name in REDUCE:
        for axis in (0, 1) if name not in ("max", "min") else (1,):
            with np.errstate(all="ignore"):
                out = _reduce("ours", name, Tensor(e), axis, False)
            assert_close(out, _reduce("torch", name, torch.tensor(e), (axis,) if name in ("sum", "mean", "var",
                         "max", "min") else axis, False), msg=f"{name} axis {axis}")
    assert_close(concatenate([Tensor(e), Tensor(e)]), torch.cat([torch.tensor(e)] * 2))
    assert_close(Tensor(e) @ Tensor(np.ones((3, 2))), torch.tensor(e) @ torch.ones(3, 2, dtype=torch.float64))
