"""nn.Embedding and F.embedding: PyTorch parity in float64, the lookup primitives' gradients, init, errors, viz."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import viz
from tinygrad_bn import Tensor, gradcheck, nn, ops, optim
from tinygrad_bn.gradcheck import gradgradcheck
from tinygrad_bn.nn import functional as F
from tinygrad_bn.testing import compare_with_torch


@needs_torch
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch_over_three_sgd_steps(padding_idx):
    ours = nn.Embedding(10, 4, padding_idx=padding_idx, dtype=np.float64, generator=0)
    theirs = torch.nn.Embedding(10, 4, padding_idx=padding_idx, dtype=torch.float64)
    assert repr(ours) == repr(theirs)
    with torch.no_grad():
        theirs.weight[...] = torch.from_numpy(ours.weight.data)
    opt, topt = optim.SGD(ours.parameters(), lr=0.5), torch.optim.SGD(theirs.parameters(), lr=0.5)
    rng = np.random.default_rng(1)
    for _ in range(3):
        idx = rng.integers(0, 10, (3, 5))
        idx[0, :2] = 9  # repeated and padding indices
        w = rng.standard_normal((3, 5, 4))
        y, ty = ours(idx), theirs(torch.from_numpy(idx))
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        opt.zero_grad()
        topt.zero_grad()
        (y * Tensor(w)).sum().backward()
        (ty * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
        opt.step()
        topt.step()
    np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
def test_functional_embedding_matches_torch():
    idx = np.array([[1, 2, 2], [0, 3, 1]])
    for padding_idx in (None, 2):
        compare_with_torch(lambda w: F.embedding(idx, w, padding_idx),
                           lambda w: torch.nn.functional.embedding(torch.from_numpy(idx), w, padding_idx),
                           [np.random.default_rng(0).standard_normal((4, 3))], rtol=1e-12, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3), rows=st.integers(1, 5), dim=st.integers(1, 3),
       pad=st.booleans(), seed=st.integers(0, 1000))
def test_lookup_primitives_gradcheck(shape, rows, dim, pad, seed):
    rng = np.random.default_rng(seed)
    idx = Tensor(rng.integers(0, rows, shape))
    padding_idx = int(rng.integers(0, rows)) if pad else None
    gradcheck(lambda w: ops.embedding(w, idx), [Tensor(rng.standard_normal((rows, dim)), requires_grad=True)])
    g = Tensor(rng.standard_normal((*shape, dim)), requires_grad=True)
    gradcheck(lambda g: ops.embedding_grad(g, idx, rows=rows, padding_idx=padding_idx), [g])
    # embedding_grad is embedding's adjoint: <embedding(w), g> == <w, embedding_grad(g)> (no padding)
    w = rng.standard_normal((rows, dim))
    np.testing.assert_allclose((ops.embedding(Tensor(w), idx).data * g.data).sum(),
                               (w * ops.embedding_grad(g, idx, rows=rows).data).sum())


def test_lookup_second_order():
    idx = Tensor(np.array([[0, 2], [2, 1]]))
    gradgradcheck(lambda w: ops.embedding(w, idx, padding_idx=1) ** 2, [Tensor(np.ones((3, 2)) * 0.5 + np.eye(3, 2),
                                                                               requires_grad=True)])
    gradgradcheck(lambda g: ops.embedding_grad(g, idx, rows=3, padding_idx=2) ** 2,
                  [Tensor(np.arange(8.0).reshape(2, 2, 2) / 7, requires_grad=True)])


def test_init_is_standard_normal_with_a_zero_padding_row_that_gets_no_gradient():
    e = nn.Embedding(2000, 8, padding_idx=3, generator=0)
    assert e.weight.dtype == np.float32 and e.weight.shape == (2000, 8)
    assert (e.weight.data[3] == 0).all()
    rest = np.delete(e.weight.data, 3, axis=0)
    assert abs(rest.mean()) < 0.02 and abs(rest.std() - 1) < 0.02
    e(np.array([3, 3, 4])).sum().backward()
    assert (e.weight.grad.data[3] == 0).all() and (e.weight.grad.data[4] == 1).all()


def test_bad_indices_and_arguments_name_the_layer():
    e = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=r"Embedding: index 5 at position \(1, 0\) is out of range for 5 embeddings"):
        e(np.array([[0], [5]]))
    with pytest.raises(IndexError, match=r"Embedding: index -1 at position \(0,\)"):
        e(np.array([-1]))
    with pytest.raises(TypeError, match="Embedding: indices must be integers .* float32"):
        e(Tensor([0.0, 1.0]))
    with pytest.raises(NotImplementedError, match="Embedding: max_norm=1.0 is not supported"):
        nn.Embedding(5, 2, max_norm=1.0)
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be within \[-5, 5\)"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(ValueError, match="Embedding: num_embeddings must be a positive integer"):
        nn.Embedding(0, 2)
    with pytest.raises(IndexError, match="embedding: index 9"):
        F.embedding([9], Tensor(np.zeros((3, 2))))


def test_the_indices_carry_the_batch_axis_for_the_noise_analysis():
    """BatchNorm after an embedding shows its two noise entries, LayerNorm none (viz's lookup rules)."""
    class Bag(nn.Module):
        def __init__(self, norm):
            super().__init__()
            self.emb, self.norm = nn.Embedding(7, 4, dtype=np.float64, generator=0), norm

        def forward(self, idx):
            return self.norm(self.emb(idx).mean(axis=1))

    idx = Tensor(np.random.default_rng(0).integers(0, 7, (5, 3)))
    bn = viz.noise_paths(viz.capture(Bag(nn.BatchNorm1d(4, dtype=np.float64)), input=idx))
    assert {(e.op, e.kind) for e in bn.entries} == {("sub", "additive"), ("div", "multiplicative")}
    assert viz.noise_paths(viz.capture(Bag(nn.LayerNorm(4, dtype=np.float64)), input=idx)).entries == []
