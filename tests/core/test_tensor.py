"""Tensor construction, dtypes, factories, comparisons and bad input."""

import warnings

import numpy as np
import pytest

import tinygrad_bn
from tinygrad_bn import ShapeError, Tensor, gradcheck
from tinygrad_bn.gradcheck import GradcheckError


def test_dtype_rules():
    assert Tensor([1, 2]).dtype == np.float32 and Tensor(3.0).dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64 and Tensor(np.zeros(2, np.float32)).dtype == np.float32
    assert Tensor(np.arange(3)).dtype.kind == "i"  # integer arrays stay integer (labels)
    x32 = Tensor(np.ones(2, np.float32))
    for y in (x32 * 2.5, 2.5 * x32, x32 + np.float64(1), x32 / 3, x32 ** 2, 1 - x32, x32 * [1, 2]):
        assert y.dtype == np.float32
    tinygrad_bn.set_default_dtype(np.float64)
    try:
        assert Tensor([1.0]).dtype == np.float64 and Tensor.zeros(2).dtype == np.float64
    finally:
        tinygrad_bn.set_default_dtype(np.float32)


def test_data_is_the_writable_array_itself():
    a = np.zeros(3)
    x = Tensor(a)
    assert x.data is a and x.numpy() is a
    x.data[0] = 5
    assert a[0] == 5 and x.detach().data is a and not x.detach().requires_grad
    assert Tensor(np.array([[2.5]])).item() == 2.5
    assert (x.shape, x.ndim, x.size(), x.size(-1), x.numel(), x.dim()) == ((3,), 1, (3,), 3, 3, 1)


def test_factories_are_seedable():
    a = Tensor.randn(2, 3, generator=7)
    b = Tensor.randn((2, 3), generator=np.random.default_rng(7))
    np.testing.assert_array_equal(a.data, b.data)
    assert a.dtype == np.float32 and Tensor.rand(4, dtype=np.float64).dtype == np.float64
    u = Tensor.uniform(1000, low=-2, high=-1, generator=1)
    assert u.data.min() >= -2 and u.data.max() < -1
    assert Tensor.ones(2, 2, requires_grad=True).requires_grad
    np.testing.assert_array_equal(Tensor.eye(2).data, np.eye(2))
    np.testing.assert_array_equal(Tensor.arange(1, 7, 2).data, [1, 3, 5])
    tinygrad_bn.manual_seed(3)
    c = Tensor.randn(3)
    tinygrad_bn.manual_seed(3)
    np.testing.assert_array_equal(c.data, Tensor.randn(3).data)


def test_comparisons_are_not_differentiable():
    x = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    m = x > 0
    assert m.dtype == bool and not m.requires_grad and m.node is None
    np.testing.assert_array_equal((x <= 0).data, [False, True])
    np.testing.assert_array_equal((x == Tensor(np.array([1.0, 0.0]))).data, [True, False])


def test_integer_and_object_arrays_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients, got dtype int64"):
        Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="object"):
        Tensor(np.array([None, 1], dtype=object), requires_grad=True)


@pytest.mark.parametrize("expr, message", [
    (lambda a, b: a + b, r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast together"),
    (lambda a, b: a * b, r"mul: shapes \(2, 3\) and \(4,\)"),
    (lambda a, b: a @ b, r"matmul: shapes \(2, 3\) and \(4,\) do not fit"),
    (lambda a, b: a.reshape(5), r"reshape: cannot reshape shape \(2, 3\) \(6 elements\) to \(5,\)"),
    (lambda a, b: a.sum(axis=2), r"sum: axis 2 is out of range for a tensor of shape \(2, 3\)"),
    (lambda a, b: a[5], r"getitem: .*input shapes \(2, 3\)"),
    (lambda a, b: a.broadcast_to(3, 3), r"broadcast_to: cannot broadcast shape \(2, 3\) to \(3, 3\)"),
])
def test_shape_errors_name_the_op_and_shapes(expr, message):
    a, b = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones(4))
    with pytest.raises(ShapeError, match=message) as info:
        expr(a, b)
    assert info.value.__context__ is None or info.value.__suppress_context__  # no numpy traceback chained


def test_batched_matmul_mismatch_is_clear():
    with pytest.raises(ShapeError, match=r"matmul: batch shapes of \(2, 2, 3\) and \(3, 3, 4\)"):
        Tensor(np.ones((2, 2, 3))) @ Tensor(np.ones((3, 3, 4)))


def test_log_and_sqrt_of_negative_numbers_follow_numpy_quietly():
    x = Tensor(np.array([-1.0, 0.0, 4.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.log() + x.sqrt()
        y.sum().backward()
    assert np.isnan(y.data[0]) and y.data[1] == -np.inf and y.data[2] == pytest.approx(np.log(4) + 2)


def test_gradcheck_reports_the_input_index_and_both_values():
    from tinygrad_bn.ops import primitive

    @primitive
    def wrong_square(x):
        return x ** 2

    @wrong_square.defvjp
    def wrong_square_vjp(F, need, g, out, x):
        return (g * 3 * x,)  # should be 2x

    with pytest.raises(GradcheckError, match=r"gradient of input 0 \(shape \(3,\)\) is wrong at index .*autodiff"):
        gradcheck(wrong_square, [np.array([1.0, 2.0, 3.0])])
    assert gradcheck(lambda x: x ** 2, [np.array([1.0, 2.0, 3.0])])
