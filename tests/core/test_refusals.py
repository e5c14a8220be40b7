"""What cannot be a tensor, a wrongly shaped hook gradient, and the former raw tracebacks: each is a clear
error naming the type, the hook, the op or layer and the shapes or argument."""

import numpy as np
import pytest

from tinygrad_bn import ShapeError, Tensor, grad, nn, tensor
from tinygrad_bn.nn import functional as F


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
