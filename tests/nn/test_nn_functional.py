"""Losses, softmax and dropout: values and gradients against PyTorch, stability, errors, dropout masks."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import tinygrad_bn
from tinygrad_bn import Tensor, gradcheck, manual_seed, nn
from tinygrad_bn.nn import functional as F


@needs_torch
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax_match_torch_on_any_axis(axis):
    x = np.random.default_rng(0).standard_normal((4, 5, 3)) * 4
    for ours, theirs in ((F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)):
        xt = Tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        gy = np.random.default_rng(1).standard_normal(x.shape)
        y = ours(xt, axis)
        (y * gy).sum().backward()
        ty = theirs(tx, axis)
        (ty * torch.from_numpy(gy)).sum().backward()
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(Tensor(x).softmax(axis).data, F.softmax(Tensor(x), axis).data)
    gradcheck(lambda t: t.log_softmax(axis), [Tensor(x, requires_grad=True)])


def test_log_softmax_is_stable_for_huge_logits():
    x = Tensor(np.array([[1000.0, 0.0, -1000.0], [-5e4, -5e4, -5e4]], dtype=np.float32), requires_grad=True)
    y = x.log_softmax(axis=1)
    assert np.isfinite(y.data).all()
    np.testing.assert_allclose(y.data[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(y.data[1], np.log(1 / 3) * np.ones(3), rtol=1e-6)
    np.testing.assert_allclose(x.softmax(1).data.sum(axis=1), 1, rtol=1e-6)
    y.sum().backward()
    assert np.isfinite(x.grad.data).all()


@needs_torch
@pytest.mark.parametrize("as_tensor", [False, True])
def test_cross_entropy_matches_torch(as_tensor):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((7, 4)) * 3
    labels = rng.integers(0, 4, 7)
    x = Tensor(logits, requires_grad=True)
    loss = x.cross_entropy(Tensor(labels) if as_tensor else labels)
    loss.backward()
    tx = torch.tensor(logits, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.from_numpy(labels))
    tl.backward()
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_cross_entropy_errors_name_the_shapes():
    x = Tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"cross_entropy: expected labels of shape \(3,\) for scores of shape "
                                         r"\(3, 4\), got labels of shape \(2,\)"):
        x.cross_entropy(np.array([0, 1]))
    with pytest.raises(TypeError, match=r"got float64 labels \(1.5 at position 1\)"):  # PyTorch refuses floats too
        x.cross_entropy(np.array([0.0, 1.5, 2.0]))
    with pytest.raises(TypeError, match=r"got float32 labels \(0.0 at position 0\)"):  # Tensor([0, 1]) is float32
        x.cross_entropy(Tensor([0, 1, 2]))
    assert x.cross_entropy(tinygrad_bn.tensor([0, 1, 2])).item() == pytest.approx(np.log(4))  # int64, as torch.tensor
    with pytest.raises(ValueError, match=r"label 4 at position 2 is out of range for 4 classes"):
        x.cross_entropy(np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"expected logits of shape \(N, C\) or \(N, C, d1, ...\), got \(4,\)"):
        Tensor(np.zeros(4)).cross_entropy(np.array([0]))


@needs_torch
def test_mse_matches_torch_and_checks_shapes():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    x = Tensor(a, requires_grad=True)
    loss = x.mse(b)
    loss.backward()
    tx = torch.tensor(a, requires_grad=True)
    tl = torch.nn.functional.mse_loss(tx, torch.from_numpy(b))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"mse: input has shape \(5, 2\) but target has shape \(5,\)"):
        x.mse(b[:, 0])


def test_dropout_mask_mean_scaling_and_eval_identity():
    drop = nn.Dropout(0.3, generator=0)
    x = Tensor(np.ones((400, 500)), requires_grad=True)
    y = drop(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.005  # 200,000 draws: std of the mean is 0.001
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    assert abs(y.data.mean() - 1) < 0.01  # inverted dropout keeps the expectation
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)  # gradient flows through survivors, scaled the same
    assert not np.array_equal(drop(x).data, y.data)  # a fresh mask on every call
    drop.eval()
    assert drop(x) is x


def test_dropout_records_a_random_node_multiplying_the_signal():
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    y = nn.Sequential(nn.Dropout(0.5))(x)
    mul = y.node.inputs[0].node
    assert mul.op == "mul" and mul.inputs[0] is x
    mask = mul.inputs[1]
    assert mask.node.op == "bernoulli" and mask.node.random and not mask.requires_grad
    assert mask.node.module == "0" and mask.node.attrs["p"] == 0.5


def test_dropout_edge_probabilities_and_seeding():
    x = Tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    assert nn.Dropout(0.0)(x) is x
    y = nn.Dropout(1.0)(x)
    np.testing.assert_array_equal(y.data, 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, 0)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"Dropout: invalid p .*; expected a finite number in \[0, 1\]"):
            nn.Dropout(p)
    manual_seed(7)
    a = nn.Dropout(0.5)(Tensor(np.ones(50))).data
    manual_seed(7)
    np.testing.assert_array_equal(nn.Dropout(0.5)(Tensor(np.ones(50))).data, a)
