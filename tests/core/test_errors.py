"""Bad input gets a clear error: axis, shape and flag arguments checked once at the public boundary (naming
the op, the argument and the tensor's shape; PyTorch's ``dim=``/``keepdim=`` spellings too), what cannot be a
tensor, a wrongly shaped hook gradient, the former raw tracebacks, and the earlier adversarial battery's cases."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

from tinygrad_bn import AxisError, ShapeError, Tensor, concatenate, grad, jit, nn, optim, stack, tensor
from tinygrad_bn.nn import functional as F

# ----- arguments ------------------------------------------------------------

x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)


@pytest.mark.parametrize("call, error, message", [
    (lambda: x.sum(axis=True), TypeError, r"sum: axis must be an int, a tuple of ints or None, got True \(bool\)"),
    (lambda: x.mean(axis=1.0), TypeError, r"mean: axis must be .* got 1.0 \(float\)"),
    (lambda: x.amax(axis="0"), TypeError, r"max: axis must be .* got '0' \(str\)"),
    (lambda: x.max(axis="0"), TypeError, r"max: dim must be one axis \(an int\) .* got '0'; .* use amax"),
    (lambda: x.var(axis=(0, 0.5)), TypeError, r"var: axis must be an int, got 0.5"),
    (lambda: x.min(axis=2), AxisError, r"min: axis 2 is out of range .* expected an axis in \[-2, 1\]"),
    (lambda: x.sum(axis=(0, -2)), ShapeError, r"sum: repeated axis in axis=\(0, -2\)"),
    (lambda: x.sum(0, keepdims="yes"), TypeError, r"sum: keepdims must be a bool, got 'yes'"),
    (lambda: x.var(correction="1"), TypeError, r"var: correction must be a number"),
    (lambda: x.reshape(2.0, 3), TypeError, r"reshape: sizes must be ints, got 2.0 \(float\) in shape \(2.0, 3\)"),
    (lambda: x.reshape(-1, -1), ShapeError, r"reshape: only one size can be -1"),
    (lambda: x.reshape(-2, -3), ShapeError, r"reshape: negative size -2"),
    (lambda: x.reshape(True, 6), TypeError, r"reshape: sizes must be ints, got True \(bool\)"),
    (lambda: x.broadcast_to(-1, 3), ShapeError, r"broadcast_to: negative size -1"),
    (lambda: x.permute(0, 5), AxisError, r"permute: axis 5 is out of range"),
    (lambda: x.permute(0, 0), ShapeError, r"permute: \(0, 0\) is not a permutation"),
    (lambda: x.unsqueeze(4), AxisError, r"unsqueeze: axis 4 is out of range .* \[-3, 2\]"),
    (lambda: x.unsqueeze(1.0), TypeError, r"unsqueeze: axis must be an int, got 1.0"),
    (lambda: x.flatten(3), AxisError, r"flatten: start_dim 3 is out of range"),
    (lambda: x.flatten(1, 0), ShapeError, r"flatten: start_dim 1 comes after end_dim 0"),
    (lambda: x.transpose(0, 3), AxisError, r"transpose: dim1 3 is out of range"),
    (lambda: x.squeeze(3), AxisError, r"squeeze: axis 3 is out of range"),
    (lambda: x.squeeze(0), ShapeError, r"squeeze: axis 0 of shape \(2, 3\) has size 2, not 1"),
    (lambda: x.softmax(2), AxisError, r"softmax: axis 2 is out of range"),
    (lambda: x.log_softmax(-3), AxisError, r"log_softmax: axis -3 is out of range"),
    (lambda: F.softmax(x, axis="1"), TypeError, r"softmax: axis must be an int"),
    (lambda: concatenate([x, x], axis=2), AxisError, r"concatenate: axis 2 is out of range"),
    (lambda: stack([x, x], axis=3.0), TypeError, r"stack: axis must be an int"),
    (lambda: x.mean(axis=0, dim=0), TypeError, r"mean: got both axis=0 and dim=0"),
    (lambda: x.unsqueeze(), TypeError, r"unsqueeze: missing the axis argument"),
])
def test_bad_axis_and_shape_arguments_name_the_op_argument_and_shape(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    if error is not TypeError or "axis must be an int," in message:
        assert "(2, 3)" in str(info.value)  # the tensor's shape


def test_out_of_range_axes_are_index_errors_too_as_in_pytorch():
    with pytest.raises(IndexError):
        x.sum(axis=5)


@pytest.mark.parametrize("factory", [Tensor.zeros, Tensor.ones, Tensor.randn, Tensor.rand, Tensor.uniform])
def test_factories_refuse_float_and_negative_sizes(factory):
    with pytest.raises(TypeError, match=rf"{factory.__name__}: sizes must be ints, got 2.0 \(float\)"):
        factory(2.0, 3)
    with pytest.raises(ShapeError, match=rf"{factory.__name__}: negative size -1"):
        factory(-1, 3)
    assert factory((2, np.int64(3))).shape == (2, 3)
    with pytest.raises(TypeError, match=r"eye: sizes must be ints"):
        Tensor.eye(2.5)


def test_torch_spellings_dim_and_keepdim_mean_axis_and_keepdims():
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    t = Tensor(a)
    for name in ("sum", "mean", "var", "std", "amax", "amin"):
        ours = getattr(t, name)(dim=(0, 2), keepdim=True).data
        np.testing.assert_allclose(ours, getattr(t, name)(axis=(0, 2), keepdims=True).data)
        assert ours.shape == (1, 3, 1)
    np.testing.assert_allclose(t.softmax(dim=0).data, t.softmax(axis=0).data)
    np.testing.assert_allclose(F.log_softmax(t, dim=1).data, F.log_softmax(t, 1).data)
    assert t.unsqueeze(dim=-1).shape == (2, 3, 4, 1) and t.unsqueeze(dim=0).squeeze(dim=0).shape == (2, 3, 4)
    assert Tensor(np.ones((1, 2, 1))).squeeze().shape == (2,)
    assert concatenate([t, t], dim=1).shape == (2, 6, 4) and stack([t, t], dim=-1).shape == (2, 3, 4, 2)
    assert t.flatten(1).shape == (2, 12) and t.flatten(0, 1).shape == (6, 4) and t.flatten().shape == (24,)


def test_zero_dimensional_tensors_accept_axis_0_and_minus_1_as_in_pytorch():
    s = Tensor(np.array(2.0), requires_grad=True)
    assert s.sum(0).item() == 2.0 and s.mean(-1).item() == 2.0 and s.softmax(0).item() == 1.0
    assert s.unsqueeze(0).shape == (1,) and s.flatten().shape == (1,)



# ----- refusals ------------------------------------------------------------

@pytest.mark.parametrize("data, error, message", [
    ("abc", TypeError, r"Tensor: cannot make a numeric tensor from str 'abc'"),
    (None, TypeError, r"from NoneType None"),
    ({"a": 1}, TypeError, r"from dict \{'a': 1\}"),
    (["1", 2], TypeError, r"from list \['1', 2\]"),
    (np.array([None, 1], dtype=object), TypeError, r"from an array of dtype object"),
    (2 ** 100, ValueError, r"integers too large for int64 \(1267650600228229401496703205376\)"),
    ([1, 2 ** 70], ValueError, r"integers too large for int64"),
    ([[1, 2], [3]], ValueError, r"ragged nested sequence: the rows have different lengths \(\[\[1, 2\], \[3\]\]\)"),
])
def test_what_cannot_be_a_numeric_tensor_is_refused_naming_the_type(data, error, message):
    with pytest.raises(error, match=message):
        Tensor(data)
    with pytest.raises(error, match=message.replace("Tensor:", "tensor:")):
        tensor(data)


def test_complex_tensors_hold_values_but_refuse_gradients():
    z = Tensor(np.array([1 + 2j, 3j]))
    assert z.dtype == np.complex128 and (z * 2).data[1] == 6j
    with pytest.raises(TypeError, match=r"complex gradients \(PyTorch's conjugate convention\) are not implemented"):
        Tensor(np.array([1 + 2j]), requires_grad=True)
    with pytest.raises(TypeError, match="requires_grad_: only floating-point"):
        z.requires_grad_()


@pytest.mark.parametrize("where", ["leaf", "intermediate"])
def test_a_hook_returning_a_wrong_shape_names_the_hook_and_both_shapes(where):
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    target = x if where == "leaf" else y

    def halve_rows(g):
        return g[0]

    target.register_hook(halve_rows)
    with pytest.raises(ValueError, match=r"hook .*halve_rows returned a gradient of shape \(3,\) for a tensor whose "
                                         r"gradient has shape \(2, 3\)"):
        y.sum().backward()
    assert x.grad is None  # nothing corrupted


def test_a_hook_may_return_an_ndarray():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: g.data * 10)
    x.register_hook(lambda g: np.asarray(g.data) + 1)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [21.0, 21.0, 21.0])
    with pytest.raises(TypeError, match=r"hook .* returned a str; expected a Tensor, an ndarray or None"):
        z = Tensor(np.ones(1), requires_grad=True)
        z.register_hook(lambda g: "oops")
        (z * 1).sum().backward()


@pytest.mark.parametrize("call, error, message", [
    (lambda: Tensor(np.ones((2, 3))) < Tensor(np.ones(4)), ShapeError, r"less: shapes \(2, 3\) and \(4,\)"),
    (lambda: Tensor(np.ones(3)) == np.ones(2), ShapeError, r"equal: shapes \(3,\) and \(2,\)"),
    (lambda: grad([_y(), _y()], [_x], [Tensor(np.ones(3))]), ValueError, r"grad: got 1 grad_outputs for 2 outputs"),
    (lambda: nn.Dropout(p="0.5"), TypeError, r"Dropout: p must be a real number, got '0.5' \(str\)"),
    (lambda: nn.Dropout(p=1.5), ValueError, r"Dropout: invalid p 1.5; expected a finite number in \[0, 1\]"),
    (lambda: F.dropout(Tensor(np.ones(2)), p=float("nan")), ValueError, r"dropout: invalid p nan"),
    (lambda: nn.BatchNorm1d(2.5), TypeError, r"BatchNorm1d: num_features must be an integer, got 2.5"),
    (lambda: nn.BatchNorm2d(-1), ValueError, r"BatchNorm2d: invalid num_features -1; expected an integer >= 0"),
    (lambda: nn.Linear(3, "4"), TypeError, r"Linear: out_features must be an integer, got '4'"),
])
def test_former_raw_tracebacks_are_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


_x = Tensor(np.ones(3), requires_grad=True)


def _y():
    return _x * 2


def test_zero_size_batch_norm_and_linear_work_as_in_pytorch():
    bn = nn.BatchNorm1d(0)
    assert bn(Tensor(np.ones((4, 0), dtype=np.float32))).shape == (4, 0)
    assert nn.Linear(3, 2)(Tensor(np.ones((0, 3), dtype=np.float32))).shape == (0, 2)



# ----- battery errors ------------------------------------------------------------

@pytest.mark.parametrize("dtype", [int, np.int32, np.int64, bool, "uint8", np.complex128])  # complex never does
def test_a_non_float_cast_does_not_require_grad(dtype):
    x = Tensor([1.5, -2.0], requires_grad=True)
    y = x.astype(dtype)
    assert not y.requires_grad and y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.data, np.array([1.5, -2.0]).astype(dtype))
    (x * 2).sum().backward()  # the graph of x is untouched
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


@needs_torch
def test_integer_cast_matches_pytorch():
    t = torch.tensor([1.5, -2.0], requires_grad=True)
    assert t.to(torch.int64).requires_grad is Tensor([1.5, -2.0], requires_grad=True).astype(np.int64).requires_grad


def test_a_float_cast_still_carries_the_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.astype(np.float32).sum().backward()
    assert x.grad.dtype == np.float64 and np.all(x.grad.data == 1)


def test_an_integer_cast_inside_a_jit_is_recomputed_each_call():
    step = jit(lambda a: (a * a.astype(int)).sum(), backward=False)
    for v in (1.5, 2.5, 3.5):
        assert step(Tensor([v])).item() == pytest.approx(v * int(v))


@pytest.mark.parametrize("index", [[[0, 1], [0]], ([0, 1], [[0], [1, 2]])])
def test_a_ragged_index_list_is_a_clear_index_error(index):
    x = Tensor(np.arange(12.0).reshape(3, 4))
    with pytest.raises(IndexError, match=r"getitem: the index list .* is ragged .*must be rectangular"):
        x[index]


def test_a_rectangular_index_list_still_indexes():
    x = Tensor(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(x[[[0, 1], [2, 0]]].data, x.data[np.array([[0, 1], [2, 0]])])
    np.testing.assert_array_equal(x[[0, 2], [[1], [3]]].data, x.data[[0, 2], [[1], [3]]])


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0])
def test_the_extreme_of_an_empty_tensor_says_empty(op, axis):
    with pytest.raises(ShapeError, match=rf"{op}: cannot reduce an empty axis: axis 0 of size 0 .*empty tensor of "
                                         r"shape \(0, 3\)"):
        getattr(Tensor(np.zeros((0, 3))), op)(axis=axis)


def test_saving_an_object_buffer_names_it(tmp_path):
    m = nn.Linear(2, 2)
    m.register_buffer("tags", Tensor(np.zeros(2)))
    m.tags.data = np.array([{"a": 1}, None], dtype=object)
    with pytest.raises(TypeError, match="save: 'tags' has dtype object"):
        nn.save(m, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_saving_an_optimizer_state_of_objects_names_the_entry(tmp_path):
    p = Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.state[p] = {"momentum_buffer": np.array([None, 1], dtype=object)}
    with pytest.raises(TypeError, match=r"save: state_dict\(\)\['state'\]\[0\]\['momentum_buffer'\] has dtype object"):
        optim.save(opt, tmp_path / "o.npz")
    assert list(tmp_path.iterdir()) == []
