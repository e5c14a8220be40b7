"""The gradient facts of the batch-norm lecture, checked on the autodiff gradients of nn.BatchNorm1d."""

import numpy as np
import pytest

from tinygrad_bn import Tensor, grad, gradcheck, nn

M, C = 32, 6


def _setup(eps, seed=0):
    rng = np.random.default_rng(seed)
    bn = nn.BatchNorm1d(C, eps=eps, dtype=np.float64)
    bn.weight.data[:] = rng.uniform(0.5, 2.0, C) * rng.choice([-1, 1], C)
    bn.bias.data[:] = rng.standard_normal(C)
    x = Tensor(rng.standard_normal((M, C)) * rng.uniform(0.5, 4, C) + rng.standard_normal(C) * 3, requires_grad=True)
    gy = rng.standard_normal((M, C))  # dL/dy for L = sum(y * gy)
    y = bn(x)
    gx, = grad((y * gy).sum(), [x])
    mean, var = x.data.mean(axis=0), x.data.var(axis=0)
    xhat = (x.data - mean) / np.sqrt(var + eps)
    return bn, gx.data, gy, xhat, var


@pytest.mark.parametrize("eps", [0.0, 1e-5, 0.5])
def test_input_gradient_sums_to_zero_over_the_batch(eps):
    _, gx, _, _, _ = _setup(eps)
    np.testing.assert_allclose(gx.sum(axis=0), 0, atol=1e-12 * np.abs(gx).max())


def test_bias_before_bn_gets_zero_gradient():
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(5, C, dtype=np.float64), nn.BatchNorm1d(C, dtype=np.float64))
    x = Tensor(rng.standard_normal((M, 5)))
    (model(x) * rng.standard_normal((M, C))).sum().backward()
    assert np.abs(model[0].weight.grad.data).max() > 1e-3
    np.testing.assert_allclose(model[0].bias.grad.data, 0, atol=1e-13)


def test_with_eps_zero_the_gradient_is_orthogonal_to_x_hat():
    _, gx, _, xhat, _ = _setup(0.0)
    np.testing.assert_allclose((gx * xhat).sum(axis=0), 0, atol=1e-12 * np.abs(gx).max() * M)


def test_with_eps_the_projection_on_x_hat_is_the_closed_form():
    eps = 0.3
    bn, gx, gy, xhat, var = _setup(eps)
    g = gy * bn.weight.data
    s = np.sqrt(var + eps)
    expected = (g * xhat).sum(axis=0) / s * eps / (var + eps)
    assert np.abs(expected).min() > 1e-3  # really nonzero, so eps matters
    np.testing.assert_allclose((gx * xhat).sum(axis=0), expected, rtol=1e-10)


@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_input_gradient_matches_the_closed_form(eps):
    bn, gx, gy, xhat, var = _setup(eps)
    g = gy * bn.weight.data
    s = np.sqrt(var + eps)
    expected = (M * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0)) / (M * s)
    np.testing.assert_allclose(gx, expected, rtol=1e-10, atol=1e-13)


def test_santurkar_theorem_4_1_is_an_equality_at_eps_zero():
    bn, gx, gy, xhat, var = _setup(0.0, seed=3)
    gamma = bn.weight.data
    lhs = (gx * gx).sum(axis=0)
    rhs = gamma**2 / var * ((gy * gy).sum(axis=0) - gy.sum(axis=0) ** 2 / M - (gy * xhat).sum(axis=0) ** 2 / M)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)
    assert (lhs < gamma**2 / var * (gy * gy).sum(axis=0)).all()  # BN shrinks the gradient norm


def test_scale_invariance_of_the_weight_row_before_bn():
    rng = np.random.default_rng(4)
    model = nn.Sequential(nn.Linear(5, C, dtype=np.float64), nn.BatchNorm1d(C, eps=0.0, dtype=np.float64))
    x = Tensor(rng.standard_normal((M, 5)))
    gy = rng.standard_normal((M, C))

    def run():
        model.zero_grad()
        y = model(x)
        (y * gy).sum().backward()
        return y.data, model[0].weight.grad.data.copy()

    y0, gw0 = run()
    w = model[0].weight.data
    np.testing.assert_allclose((gw0 * w).sum(axis=1), 0, atol=1e-12 * np.abs(gw0).max())  # <dL/dW_row, W_row> = 0
    a = 3.7
    w[2] *= a
    y1, gw1 = run()
    np.testing.assert_allclose(y1, y0, rtol=1e-10, atol=1e-12)  # BN(a W x) = BN(W x)
    np.testing.assert_allclose(gw1[2], gw0[2] / a, rtol=1e-10)  # grad(a W) = grad(W) / a
    np.testing.assert_allclose(np.delete(gw1, 2, axis=0), np.delete(gw0, 2, axis=0), rtol=1e-10)



@pytest.mark.parametrize("bn,shape", [(nn.BatchNorm1d(3, dtype=np.float64), (5, 3)),
                                      (nn.BatchNorm1d(3, dtype=np.float64), (3, 3, 2)),
                                      (nn.BatchNorm2d(3, dtype=np.float64), (2, 3, 2, 2)),
                                      (nn.GhostBatchNorm(3, 2, dtype=np.float64), (4, 3))],
                         ids=["bn1d", "bn1d-3d", "bn2d", "ghost"])
def test_input_gradient_matches_finite_differences(bn, shape):
    bn.weight.data[:] = [0.5, -2.0, 1.5]
    x = Tensor(np.random.default_rng(6).standard_normal(shape), requires_grad=True)
    assert gradcheck(bn, [x])
