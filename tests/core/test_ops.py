"""Every primitive: gradients against central differences (float64) over hypothesis-generated shapes,
including broadcasting and every axis/keepdims combination, and against PyTorch where it is installed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch_oracle import needs_torch, torch

from tinygrad_bn import Tensor, concatenate, gradcheck, stack, where

FAST = settings(max_examples=15, deadline=None)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def data(shape, seed, positive=False, spread=False):
    r = np.random.default_rng(seed)
    x = r.standard_normal(shape)
    if spread:  # keep values apart so kinks (relu, abs, max) are not straddled by finite differences
        x = r.permutation(np.linspace(-2, 2, x.size)).reshape(shape) + 0.01
    return np.abs(x) + 0.5 if positive else x


def torch_agrees(fn, tfn, arrays):
    """Same values and gradients as PyTorch (float64) for a random cotangent."""
    if torch is None:
        return
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = fn(*ours), tfn(*theirs)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(1).standard_normal(out.shape)
    (out * Tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-9, atol=1e-12)


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, False),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, False),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, False),
    "div": (lambda a, b: a / b, lambda a, b: a / b, True),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, True),
    "maximum": (lambda a, b: a.maximum(b), torch and torch.maximum, False),
    "minimum": (lambda a, b: a.minimum(b), torch and torch.minimum, False),
}


@pytest.mark.parametrize("name", BINARY)
@FAST
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 1000))
def test_binary_broadcasting(name, shapes, seed):
    fn, tfn, positive = BINARY[name]
    a, b = data(shapes.input_shapes[0], seed, positive), data(shapes.input_shapes[1], seed + 1, positive)
    if name in ("maximum", "minimum"):
        b = b + 0.05  # no exact ties: finite differences cannot see the split
    assert fn(Tensor(a), Tensor(b)).shape == shapes.result_shape
    gradcheck(fn, [a, b])
    torch_agrees(fn, tfn, [a, b])


UNARY = {
    "neg": (lambda x: -x, lambda x: -x, {}),
    "exp": (lambda x: x.exp(), lambda x: x.exp(), {}),
    "log": (lambda x: x.log(), lambda x: x.log(), {"positive": True}),
    "sqrt": (lambda x: x.sqrt(), lambda x: x.sqrt(), {"positive": True}),
    "relu": (lambda x: x.relu(), lambda x: x.relu(), {"spread": True}),
    "tanh": (lambda x: x.tanh(), lambda x: x.tanh(), {}),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: x.sigmoid(), {}),
    "abs": (lambda x: x.abs(), lambda x: x.abs(), {"spread": True}),
    "clip": (lambda x: x.clip(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), {"spread": True}),
    "pow_scalar": (lambda x: x ** 3, lambda x: x ** 3, {}),
    "pow_half": (lambda x: x ** 0.5, lambda x: x ** 0.5, {"positive": True}),
    "pow_negative": (lambda x: x ** -1.5, lambda x: x ** -1.5, {"positive": True}),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, {}),
    "reflected": (lambda x: 1 - 3 / (2 + x * x), lambda x: 1 - 3 / (2 + x * x), {}),
}


@pytest.mark.parametrize("name", UNARY)
@FAST
@given(shape=SHAPES, seed=st.integers(0, 1000))
def test_unary(name, shape, seed):
    fn, tfn, kw = UNARY[name]
    x = data(shape, seed, **kw)
    gradcheck(fn, [x])
    torch_agrees(fn, tfn, [x])


REDUCTIONS = {
    "sum": (lambda x, ax, kd: x.sum(axis=ax, keepdims=kd), lambda x, ax, kd: x.sum(dim=ax, keepdim=kd)),
    "mean": (lambda x, ax, kd: x.mean(axis=ax, keepdims=kd), lambda x, ax, kd: x.mean(dim=ax, keepdim=kd)),
    "var": (lambda x, ax, kd: x.var(axis=ax, keepdims=kd, correction=0),
            lambda x, ax, kd: x.var(dim=ax, keepdim=kd, correction=0)),
    "var_unbiased": (lambda x, ax, kd: x.var(axis=ax, keepdims=kd, correction=1),
                     lambda x, ax, kd: x.var(dim=ax, keepdim=kd, correction=1)),
    "max": (lambda x, ax, kd: x.amax(axis=ax, keepdims=kd), lambda x, ax, kd: x.amax(dim=ax, keepdim=kd)),
    "min": (lambda x, ax, kd: x.amin(axis=ax, keepdims=kd), lambda x, ax, kd: x.amin(dim=ax, keepdim=kd)),
}


@st.composite
def shape_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
    kind = draw(st.sampled_from(["none", "int", "negative", "tuple"]))
    if kind == "none":
        return shape, None
    if kind == "tuple":
        return shape, draw(hnp.valid_tuple_axes(len(shape), min_size=1))
    axis = draw(st.integers(0, len(shape) - 1))
    return shape, axis - len(shape) if kind == "negative" else axis


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("keepdims", [False, True])
@FAST
@given(case=shape_and_axis(), seed=st.integers(0, 1000))
def test_reductions_every_axis(name, keepdims, case, seed):
    shape, axis = case
    fn, tfn = REDUCTIONS[name]
    x = data(shape, seed, spread=name in ("max", "min"))
    f = lambda t: fn(t, axis, keepdims)
    expected = np.asarray(getattr(np, {"var_unbiased": "var"}.get(name, name))(
        x, axis=axis, keepdims=keepdims, **({"ddof": 1} if name == "var_unbiased" else {})))
    np.testing.assert_allclose(f(Tensor(x)).data, expected, rtol=1e-12)
    gradcheck(f, [x])
    dims = tuple(range(len(shape))) if axis is None else axis
    torch_agrees(f, lambda t: tfn(t, dims, keepdims), [x])


def test_amax_splits_ties_evenly_like_torch_amax():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    x.amax(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    y = Tensor(np.array([1.0, 1.0]), requires_grad=True)
    y.maximum(Tensor(np.array([1.0, 0.0]))).sum().backward()
    np.testing.assert_allclose(y.grad.data, [0.5, 1.0])


MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
                 ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (5, 3, 2)), ((3,), (4, 3, 2)), ((4, 2, 3), (3,))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb):
    a, b = data(sa, 0), data(sb, 1)
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, a @ b)
    gradcheck(lambda x, y: x @ y, [a, b])
    torch_agrees(lambda x, y: x @ y, lambda x, y: x @ y, [a, b])


SHAPE_OPS = {
    "reshape": (lambda x: x.reshape(2, -1, 2), lambda x: x.reshape(2, -1, 2), (4, 3)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    "transpose": (lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2), (2, 3, 4)),
    "T": (lambda x: x.T, lambda x: x.permute(1, 0), (2, 3)),
    "broadcast_to": (lambda x: x.broadcast_to(4, 2, 3), lambda x: x.broadcast_to(4, 2, 3), (2, 1)),
    "getitem_basic": (lambda x: x[1:, ::2, 0], lambda x: x[1:, ::2, 0], (3, 4, 2)),
    "getitem_int": (lambda x: x[1], lambda x: x[1], (3, 4)),
    "getitem_array": (lambda x: x[[0, 2, 0, 0]], lambda x: x[[0, 2, 0, 0]], (3, 4)),
    "getitem_arrays": (lambda x: x[np.array([0, 1, 1]), np.array([2, 2, 2])],
                       lambda x: x[np.array([0, 1, 1]), np.array([2, 2, 2])], (3, 4)),
    "getitem_mixed": (lambda x: x[:, np.array([1, 1, 0])], lambda x: x[:, np.array([1, 1, 0])], (3, 4)),
    "getitem_tensor_index": (lambda x: x[Tensor(np.array([2, 2]))], lambda x: x[torch.tensor([2, 2])], (3, 4)),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_ops(name):
    fn, tfn, shape = SHAPE_OPS[name]
    x = data(shape, 3)
    gradcheck(fn, [x])
    torch_agrees(fn, tfn, [x])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis):
    a, b, c = data((2, 3), 0), data((2, 3), 1), data((2, 3), 2)
    gradcheck(lambda x, y, z: concatenate([x, y, z], axis=axis), [a, b, c])
    gradcheck(lambda x, y, z: stack([x, y, z], axis=axis), [a, b, c])
    if torch is not None:
        torch_agrees(lambda x, y: concatenate([x, y], axis=axis), lambda x, y: torch.cat([x, y], axis), [a, b])
        torch_agrees(lambda x, y: stack([x, y], axis=axis), lambda x, y: torch.stack([x, y], axis), [a, b])
    gradcheck(lambda x, y: concatenate([x, y], axis=0), [data((1, 3), 0), data((4, 3), 1)])


def test_where_routes_gradient_by_condition():
    a, b = data((3, 4), 0), data((4,), 1)
    cond = a > 0
    gradcheck(lambda x, y: where(cond, x, y), [a, b])
    if torch is not None:
        torch_agrees(lambda x, y: where(cond, x, y), lambda x, y: torch.where(torch.tensor(cond), x, y), [a, b])


def test_astype_passes_gradient_back_in_the_input_dtype():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])


def test_composite_batchnorm_gradient():
    """The BN expression of the design, end to end, against finite differences."""
    def bn(x, w):
        z = x @ w
        return (z - z.mean(axis=0, keepdims=True)) / (z.var(axis=0, keepdims=True) + 1e-5).sqrt()
    gradcheck(bn, [data((6, 4), 0), data((4, 3), 1)])


@st.composite
def windows(draw):
    """A (N, C, H, W) shape with a kernel, dilation, padding and stride that fit it."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hw = tuple(draw(st.integers(max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]), 6)) for i in (0, 1))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *hw), dict(kernel_size=k, dilation=d, padding=p, stride=s)


@FAST
@given(case=windows(), seed=st.integers(0, 1000))
def test_unfold_and_fold(case, seed):
    from tinygrad_bn import ops
    shape, kw = case
    x = data(shape, seed)
    cols = ops.unfold(Tensor(x), **kw)
    gradcheck(lambda t: ops.unfold(t, **kw), [Tensor(x, requires_grad=True)])
    g = data(cols.shape, seed + 1)
    gradcheck(lambda t: ops.fold(t, output_size=shape[2:], **kw), [Tensor(g, requires_grad=True)])
    # fold is unfold's adjoint: <unfold(x), g> == <x, fold(g)>
    np.testing.assert_allclose((cols.data * g).sum(), (x * ops.fold(Tensor(g), output_size=shape[2:], **kw).data).sum())
    args = (kw["kernel_size"], kw["dilation"], kw["padding"], kw["stride"])
    torch_agrees(lambda t: ops.unfold(t, **kw), lambda t: torch.nn.functional.unfold(t, *args), [x])
    torch_agrees(lambda t: ops.fold(t, output_size=shape[2:], **kw),
                 lambda t: torch.nn.functional.fold(t, shape[2:], *args), [g])


def test_pad_with_a_value_and_its_gradient():
    from tinygrad_bn import ops
    x = data((2, 3, 4), 0)
    widths = ((0, 0), (1, 2), (3, 0))
    y = ops.pad(Tensor(x), widths=widths, value=-np.inf)
    assert y.shape == (2, 6, 7) and np.isneginf(y.data[:, 0]).all() and (y.data[:, 1:4, 3:] == x).all()
    gradcheck(lambda t: ops.pad(t, widths=widths, value=1.5), [Tensor(x, requires_grad=True)])
    torch_agrees(lambda t: ops.pad(t, widths=widths, value=1.5),
                 lambda t: torch.nn.functional.pad(t, (3, 0, 1, 2), value=1.5), [x])


def test_unfold_names_a_kernel_larger_than_the_padded_input():
    from tinygrad_bn import ShapeError, ops
    with pytest.raises(ShapeError, match=r"unfold: kernel \(5, 5\) .* larger than the input \(3, 3\)"):
        ops.unfold(Tensor(np.zeros((1, 1, 3, 3))), kernel_size=(5, 5), padding=(0, 0))


@needs_torch
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
@FAST
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=st.integers(0, 1000), ties=st.booleans())
def test_max_and_min_along_a_dim_return_values_and_indices_as_torch(name, keepdim, shape, seed, ties):
    """``x.max(dim)`` is torch's: a (values, indices) named tuple, the gradient to the returned index only
    (ties included); ``x.max()`` of every entry stays a Tensor; ``axis=`` is the same argument."""
    x = np.random.default_rng(seed).integers(0, 3, shape).astype(np.float64) if ties else data(shape, seed)
    dim = seed % len(shape)
    ours, theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    v, i = getattr(ours, name)(dim, keepdim=keepdim)
    tv, ti = getattr(theirs, name)(dim=dim, keepdim=keepdim)
    np.testing.assert_array_equal(v.data, tv.detach().numpy())
    np.testing.assert_array_equal(i.data, ti.numpy())
    assert i.dtype == np.int64 and getattr(ours, name)(axis=dim, keepdims=keepdim).indices.shape == i.shape
    g = np.random.default_rng(seed + 1).standard_normal(v.shape)
    v.backward(g)
    tv.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-12)
    assert getattr(Tensor(x), name)().shape == ()
    with pytest.raises(TypeError, match=f"a{name}"):
        getattr(Tensor(x), name)(dim=(0,))
