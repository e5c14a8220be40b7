"""The PyTorch-style Tensor surface: argmax/argmin, clone, pow, t, tinygrad_bn.tensor, np.asarray."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import tinygrad_bn
from tinygrad_bn import AxisError, ShapeError, Tensor, gradcheck


@needs_torch
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("kw", [dict(), dict(dim=0), dict(dim=1, keepdim=True), dict(dim=-1),
                                dict(dim=None, keepdim=True)], ids=str)
def test_argmax_argmin_match_torch(name, kw):
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    x[0, 0, :2] = 9  # ties: the first index wins, as in PyTorch
    ours = getattr(Tensor(x), name)(**kw)
    theirs = getattr(torch.from_numpy(x), name)(**kw)
    assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape) and not ours.requires_grad
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    if "dim" in kw and kw["dim"] is not None:  # numpy's spelling is the same argument
        spelled = getattr(Tensor(x), name)(axis=kw["dim"], keepdims=kw.get("keepdim", False))
        np.testing.assert_array_equal(spelled.data, ours.data)


def test_argmax_errors():
    with pytest.raises(AxisError, match=r"argmax: axis 3 is out of range for a tensor of shape \(2, 3\)"):
        Tensor(np.zeros((2, 3))).argmax(3)
    with pytest.raises(TypeError, match="argmax: got both axis=0 and dim=1"):
        Tensor(np.zeros((2, 3))).argmax(0, dim=1)
    with pytest.raises(ShapeError, match=r"argmin: cannot take the argmin of an empty tensor of shape \(0, 3\)"):
        Tensor(np.zeros((0, 3))).argmin()
    assert Tensor(np.float64(2.0)).argmax(0).item() == 0


def test_clone_copies_memory_and_passes_gradients():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x.clone()
    assert y.node.op == "clone" and not np.shares_memory(y.data, x.data)
    y.data[0, 0] = 100
    assert x.data[0, 0] == 0
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 2 * np.array([[100.0, 1, 2], [3, 4, 5]]))
    gradcheck(lambda t: t.clone() * 3, [Tensor(np.ones(3), requires_grad=True)])


def test_pow_and_t():
    x = Tensor(np.array([[1.0, 2.0, 3.0]]), requires_grad=True)
    np.testing.assert_array_equal(x.pow(2).data, [[1, 4, 9]])
    np.testing.assert_allclose(x.pow(Tensor(np.array([0.5]))).data, np.sqrt([[1, 2, 3]]))
    assert x.t().shape == (3, 1) and x.t().t().shape == (1, 3)
    v = Tensor(np.ones(3))
    assert v.t() is v and Tensor(np.float64(1)).t().shape == ()
    with pytest.raises(ShapeError, match=r"t: expects a tensor with at most 2 dimensions, got shape \(1, 2, 3\)"):
        Tensor(np.zeros((1, 2, 3))).t()
    gradcheck(lambda a: a.pow(3).t(), [Tensor(np.ones((2, 3)), requires_grad=True)])


@needs_torch
@pytest.mark.parametrize("data", [1.5, 3, True, [1, 2], [[1.0, 2.0]], np.arange(3), np.ones(2, np.float64),
                                  np.ones(2, np.float32)], ids=repr)
def test_tensor_factory_dtypes_match_torch(data):
    ours, theirs = tinygrad_bn.tensor(data), torch.tensor(data)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.") and ours.shape == tuple(theirs.shape)


def test_tensor_factory_copies_and_sets_flags():
    a = np.ones(3)
    t = tinygrad_bn.tensor(a, requires_grad=True, name="w")
    assert not np.shares_memory(t.data, a) and t.requires_grad and t.name == "w" and t.is_leaf
    assert tinygrad_bn.tensor([1, 2], dtype=np.float64).dtype == np.float64
    u = tinygrad_bn.tensor(t)
    assert not np.shares_memory(u.data, t.data) and not u.requires_grad
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        tinygrad_bn.tensor([1, 2], requires_grad=True)


def test_numpy_asarray_sees_the_data():
    t = Tensor(np.arange(4.0))
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert not np.shares_memory(np.array(t), t.data)
    assert float(np.mean(np.asarray(t))) == 1.5
