"""Numerics: sigmoid exact in both tails, stable logsigmoid/softplus/BCE-with-logits, masking vjps that
give 0 (not nan) where an inf or nan arrives for a masked-out branch, var and pow edge cases — all as in
PyTorch (values and gradients, float64)."""

import warnings

import numpy as np
import pytest
import torch

from tinygrad_bn import Tensor, where
from tinygrad_bn.nn import functional as F
from tinygrad_bn.testing import assert_close, compare_with_torch, gradcheck, gradgradcheck

TF = torch.nn.functional


def test_sigmoid_is_exact_in_both_tails():
    x32 = np.array([-20, -88, 20, 0], dtype=np.float32)
    assert_close(Tensor(x32).sigmoid(), 1 / (1 + np.exp(-x32.astype(np.float64))), rtol=1e-6)
    assert Tensor(x32).sigmoid().dtype == np.float32
    x64 = np.array([-40.0, -700.0, 40.0, 700.0, np.nan])
    exact = np.array([4.248354255291589e-18, 9.85967654375977e-305, 1.0, 1.0, np.nan])
    assert_close(Tensor(x64).sigmoid(), exact, rtol=1e-14)
    assert np.isfinite(Tensor(np.array([-40.0, -700.0])).sigmoid().log().data).all()
    compare_with_torch(lambda x: x.sigmoid(), torch.sigmoid, [np.linspace(-50, 50, 41)])


def test_logsigmoid_softplus_and_bce_with_logits_are_stable_and_match_torch():
    x = np.array([-1000.0, -40.0, -1.0, 0.0, 1.5, 40.0, 1000.0])
    compare_with_torch(lambda t: t.logsigmoid(), TF.logsigmoid, [x])
    compare_with_torch(lambda t: F.logsigmoid(t), TF.logsigmoid, [x])
    assert np.isfinite(Tensor(x).logsigmoid().data).all()
    for beta, threshold in ((1.0, 20.0), (2.0, 5.0), (0.5, 20.0)):
        compare_with_torch(lambda t: t.softplus(beta, threshold), lambda t: TF.softplus(t, beta, threshold), [x])
    target = np.array([0.0, 1.0, 0.3, 1.0, 0.0, 0.5, 1.0])
    weight, pos = np.linspace(0.5, 2, 7), np.full(7, 3.0)
    for reduction in ("mean", "sum", "none"):
        compare_with_torch(lambda t, y: t.binary_cross_entropy_with_logits(y, reduction=reduction),
                           lambda t, y: TF.binary_cross_entropy_with_logits(t, y, reduction=reduction),
                           [x, Tensor(target)])
    compare_with_torch(lambda t, y, w, p: F.binary_cross_entropy_with_logits(t, y, w, pos_weight=p),
                       lambda t, y, w, p: TF.binary_cross_entropy_with_logits(t, y, w, pos_weight=p),
                       [x, Tensor(target), Tensor(weight), Tensor(pos)])
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target has shape \(3,\) but logits"):
        F.binary_cross_entropy_with_logits(Tensor(x), np.zeros(3))
    with pytest.raises(ValueError, match="softplus: beta must be a positive number"):
        F.softplus(Tensor(x), beta=0)
    small = np.linspace(-3, 3, 5)
    gradcheck(lambda t: t.logsigmoid(), [small])
    gradcheck(lambda t: t.softplus(2.0, 4.0), [small + 0.1])
    gradgradcheck(lambda t: t.logsigmoid() + t.softplus(), [small])


@pytest.mark.parametrize("name, fn, tfn", [
    ("sqrt(relu)", lambda x: x.relu().sqrt(), lambda x: x.relu().sqrt()),
    ("1/relu", lambda x: 1 / x.relu(), lambda x: 1 / x.relu()),
    ("log(relu)", lambda x: x.relu().log(), lambda x: x.relu().log()),
    ("sqrt(clip)", lambda x: x.clip(0, 1).sqrt(), lambda x: x.clamp(0, 1).sqrt()),
    ("sqrt(maximum)", lambda x: x.maximum(0.0).sqrt(), lambda x: torch.maximum(x, torch.zeros(()).double()).sqrt()),
    ("sqrt(-minimum)", lambda x: (-x.minimum(0.0)).sqrt(),
     lambda x: (-torch.minimum(x, torch.zeros(()).double())).sqrt()),
    ("where", lambda x: where(x > 0, x, 0.0).sqrt(), lambda x: torch.where(x > 0, x, 0.0).sqrt()),
    ("where other branch", lambda x: where(x > 0, 1.0, -x).log(), lambda x: torch.where(x > 0, 1.0, -x).log()),
])
@pytest.mark.parametrize("reps", [1, 300])  # 4 entries (np.where) and 1,200 (the mask product, then where)
def test_masking_vjps_give_zero_not_nan_for_a_masked_out_inf(name, fn, tfn, reps):
    x = np.tile([-2.0, -0.5, 0.25, 3.0], reps)
    compare_with_torch(fn, tfn, [x])
    t = Tensor(x, requires_grad=True)
    fn(t).sum().backward()
    assert not np.isnan(t.grad.data).any(), name


def test_maximum_minimum_follow_torch_at_ties_and_nan():
    a, b = np.array([np.nan, 1.0, 2.0, 3.0]), np.array([1.0, np.nan, 2.0, -1.0])
    compare_with_torch(lambda x, y: x.maximum(y), torch.maximum, [a, b])
    compare_with_torch(lambda x, y: x.minimum(y), torch.minimum, [a, b])


def test_abs_at_zero_follows_torch():  # sign(0) = 0: gradient 0, nan for an inf arriving there (as PyTorch)
    compare_with_torch(lambda x: x.abs(), torch.abs, [np.array([-1.0, 0.0, 2.0])])


@pytest.mark.parametrize("correction", [0, 1, 2, 3, 5, 1.5])
def test_var_with_large_corrections_matches_torch(correction):
    x = np.array([[1.0, 2.0, 3.0], [1.0, 5.0, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns that the degrees of freedom are <= 0
        compare_with_torch(lambda t: t.var(axis=1, correction=correction),
                           lambda t: t.var(1, correction=correction), [x])


def test_var_and_mean_of_an_empty_axis_are_nan_as_in_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns that the degrees of freedom are <= 0
        compare_with_torch(lambda t: t.var(axis=0), lambda t: t.var(0, correction=0), [np.zeros((0, 3))])
    compare_with_torch(lambda t: t.mean(axis=0), lambda t: t.mean(0), [np.zeros((0, 3))])
    assert Tensor(np.zeros((0, 3))).amax(axis=1).shape == (0,) and Tensor(np.zeros((0, 3))).amin(axis=-1).shape == (0,)


def test_pow_at_zero_zero_matches_torch():
    x, y = np.array([0.0, 0.0, -2.0, 2.0, 0.0]), np.array([0.0, 2.0, 2.0, 0.0, 0.5])
    compare_with_torch(lambda a, b: a ** b, lambda a, b: a ** b, [x, y])
    compare_with_torch(lambda a: a ** 0, lambda a: a ** 0, [x])
    t = Tensor(np.array([0.0, 2.0]), requires_grad=True)
    (t ** 0).backward(Tensor(np.array([np.inf, 1.0])))
    assert_close(t.grad, np.zeros(2))
