"""torch's everyday names with torch's semantics, side by side with torch: the module-level factories, cat,
einsum (values and gradients), one_hot, size/numel/dim, to(device), Module.apply, Sequential(OrderedDict),
@no_grad without parentheses."""

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import tinygrad_bn as tg
from tinygrad_bn import Tensor, gradcheck, nn


@needs_torch
@pytest.mark.parametrize("call", [
    "zeros(2, 3)", "ones((2, 3))", "full((2,), 7)", "full((2,), 1.5)", "full((2,), True)", "arange(5)",
    "arange(1, 4, 0.5)", "arange(2.0)", "linspace(0, 1, 5)", "eye(3)", "eye(2, 3)",
])
def test_factories_have_torchs_values_and_dtypes(call):
    ours, theirs = eval(f"tg.{call}"), eval(f"torch.{call}")
    assert ours.dtype == np.dtype(str(theirs.dtype).replace("torch.", "")), call
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)


def test_like_factories_and_random_ones_are_seeded():
    x = Tensor(np.ones((2, 3), np.float64))
    assert tg.zeros_like(x).dtype == np.float64 and tg.ones_like(x).data.sum() == 6
    assert tg.full_like(x, 4).data.max() == 4
    np.testing.assert_array_equal(tg.randn(3, generator=1).data, tg.randn(3, generator=1).data)
    assert tg.rand(4, generator=2).data.max() < 1 and tg.randn(2, 2, requires_grad=True).requires_grad


EQUATIONS = [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]), ("ij->ji", [(2, 3)]),
             ("ij->", [(2, 3)]), ("i,i->", [(3,), (3,)]), ("i,j->ij", [(2,), (3,)]), ("ij,j", [(2, 3), (3,)]),
             ("ijk,k->i", [(2, 3, 4), (4,)]), ("ab,cb->ac", [(2, 3), (4, 3)])]


@needs_torch
@pytest.mark.parametrize("equation,shapes", EQUATIONS)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 100))
def test_einsum_values_and_gradients_equal_torch(equation, shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = tg.einsum(equation, *ours), torch.einsum(equation, *theirs)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-10)
    gradcheck(lambda *xs: tg.einsum(equation, *xs), arrays)


def test_einsum_refuses_what_does_not_fit():
    a = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="einsum: letter 'j' is 3 long in one operand and 2"):
        tg.einsum("ij,jk->ik", a, a)
    with pytest.raises(ValueError, match="einsum: term 'ijk' has 3 letters but operand 0 has shape"):
        tg.einsum("ijk->i", a)
    with pytest.raises(ValueError, match=r"einsum: '\.\.\.'"):
        tg.einsum("...j->...", a)
    with pytest.raises(ValueError, match="has 2 operand terms but 1"):
        tg.einsum("ij,jk", a)


@needs_torch
def test_cat_and_one_hot_equal_torch():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(tg.cat([Tensor(a), Tensor(a)], dim=1).data, torch.cat([torch.tensor(a)] * 2, 1))
    y = np.array([[0, 3], [2, 1]])
    for c in (-1, 5):
        np.testing.assert_array_equal(nn.functional.one_hot(Tensor(y), c).data,
                                      torch.nn.functional.one_hot(torch.tensor(y), c).numpy())
    with pytest.raises(ValueError, match="one_hot: label 3 is out of range for num_classes=3"):
        nn.functional.one_hot(Tensor(y), 3)


def test_size_numel_dim_and_to():
    x = Tensor(np.zeros((2, 3, 4), np.float32))
    assert x.size() == (2, 3, 4) and x.size(-1) == 4 and x.size(dim=0) == 2 and x.numel() == 24 and x.dim() == 3
    with pytest.raises(tg.AxisError, match="size: axis 3 is out of range"):
        x.size(3)
    assert x.to("cpu") is x and x.to(np.float64).dtype == np.float64 and x.to(device="cpu", dtype="float64").dtype == \
        np.float64 and x.long().dtype == np.int64 and x.contiguous() is x
    with pytest.raises(ValueError, match="to: device 'cuda' is not available"):
        x.to("cuda")
    model = nn.Linear(2, 2)
    assert model.to("cpu") is model and model.to(np.float64).weight.dtype == np.float64
    with pytest.raises(ValueError, match="Linear.to: device 'mps' is not available"):
        model.to(device="mps")


@needs_torch
def test_apply_visits_modules_in_torchs_order_and_sequential_takes_an_ordered_dict():
    def build(lib):
        return lib.Sequential(OrderedDict(fc=lib.Linear(2, 3), act=lib.ReLU(),
                                          block=lib.Sequential(lib.Linear(3, 3), lib.Tanh())))
    ours, theirs = build(nn), build(torch.nn)
    seen, tseen = [], []
    ours.apply(lambda m: seen.append(type(m).__name__))
    theirs.apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen
    assert list(ours.state_dict()) == list(theirs.state_dict()) and ours.fc.out_features == 3


def test_no_grad_with_and_without_parentheses():
    x = Tensor(np.ones(2), requires_grad=True)

    @tg.no_grad
    def bare(t):
        return t * 2

    @tg.no_grad()
    def called(t):
        return t * 2
    assert not bare(x).requires_grad and not called(x).requires_grad and bare.__name__ == "bare"
    with tg.no_grad():
        assert not (x * 2).requires_grad
