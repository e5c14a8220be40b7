"""The earlier adversarial battery's open cases, with the good behaviour: an integer cast carries no gradient,
a ragged index list and the maximum of an empty tensor are clear errors, a save of Python objects names them."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

from tinygrad_bn import ShapeError, Tensor, jit, nn, optim


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
