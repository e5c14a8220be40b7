"""Axis, shape and flag arguments are checked once at the public boundary: a bad one raises naming
the op, the argument and the tensor's shape; PyTorch's ``dim=``/``keepdim=`` spellings work too."""

import numpy as np
import pytest

from tinygrad_bn import AxisError, ShapeError, Tensor, concatenate, stack
from tinygrad_bn.nn import functional as F

x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)


@pytest.mark.parametrize("call, error, message", [
    (lambda: x.sum(axis=True), TypeError, r"sum: axis must be an int, a tuple of ints or None, got True \(bool\)"),
    (lambda: x.mean(axis=1.0), TypeError, r"mean: axis must be .* got 1.0 \(float\)"),
    (lambda: x.max(axis="0"), TypeError, r"max: axis must be .* got '0' \(str\)"),
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
    for name in ("sum", "mean", "var", "std", "max", "min"):
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
