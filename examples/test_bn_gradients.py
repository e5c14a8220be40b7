"""Batch norm's gradient identities, checked with tinygrad_bn.testing — copy this file and run `pytest` on it.

Each test draws mini-batches with hypothesis, builds BN from the library's layers, and checks one identity
(see Ioffe & Szegedy 2015 and Santurkar et al. 2018, Thm 4.1).
"""

import numpy as np
from hypothesis import assume, given, settings

from tinygrad_bn import Tensor, grad, nn
from tinygrad_bn.nn import functional as F
from tinygrad_bn.testing import assert_close, tensors

batches = tensors(shape=(8, 3))  # float64 mini-batches: 8 rows, 3 features, values in [-10, 10]
quick = settings(max_examples=25, deadline=None, derandomize=True)


def spread(x: Tensor) -> bool:
    """BN divides by the batch std: keep batches whose every column actually varies."""
    return bool((x.data.std(axis=0) > 1e-3).all())


@quick
@given(batches)
def test_input_gradient_sums_to_zero_over_the_batch(x):
    assume(spread(x))
    x.requires_grad = True
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    w = Tensor(np.random.default_rng(0).standard_normal((8, 3)))
    (bn(x) * w).sum().backward()
    assert_close(x.grad.sum(axis=0), np.zeros(3), atol=1e-9)


@quick
@given(batches)
def test_a_bias_before_batch_norm_gets_zero_gradient(x):
    assume(spread(x))
    lin, bn = nn.Linear(3, 4, dtype=np.float64, generator=0), nn.BatchNorm1d(4, dtype=np.float64)
    loss = (bn(lin(x)) ** 3).sum()
    gb, = grad(loss, [lin.bias])
    assert_close(gb, np.zeros(4), atol=1e-9)


@quick
@given(batches)
def test_scale_invariance_of_the_weights(x):
    assume(spread(x))
    def grads(scale):
        lin = nn.Linear(3, 4, bias=False, dtype=np.float64, generator=1)
        lin.weight.data *= scale
        out = F.batch_norm(lin(x), None, None, training=True, eps=0.0)
        g, = grad((out * Tensor(np.arange(32.0).reshape(8, 4))).sum(), [lin.weight])
        return out, g, lin.weight
    out1, g1, w1 = grads(1.0)
    out5, g5, _ = grads(5.0)
    assert_close(out5, out1.data, rtol=1e-9, atol=1e-9)  # BN(a W x) = BN(W x)
    assert_close(g5, g1.data / 5, rtol=1e-7, atol=1e-9)  # grad(a W) = grad(W) / a
    assert_close((g1 * w1).sum(axis=1), np.zeros(4), atol=1e-7)  # <dL/dW_row, W_row> = 0


@quick
@given(batches)
def test_santurkar_theorem_4_1_holds_with_equality_at_eps_0(x):
    assume(spread(x))
    x.requires_grad = True
    gamma = Tensor(np.array([0.5, 2.0, -1.5]))
    y = F.batch_norm(x, None, None, weight=gamma, training=True, eps=0.0)
    g_y = np.random.default_rng(2).standard_normal(y.shape)  # dL/dy of some loss downstream
    y.backward(Tensor(g_y))
    m = x.shape[0]
    x_hat = (x.data - x.data.mean(axis=0)) / x.data.std(axis=0)
    lhs = (x.grad.data ** 2).sum(axis=0)
    rhs = (gamma.data ** 2 / x.data.var(axis=0)) * (
        (g_y ** 2).sum(axis=0) - g_y.sum(axis=0) ** 2 / m - (g_y * x_hat).sum(axis=0) ** 2 / m)
    assert_close(lhs, rhs, rtol=1e-7, atol=1e-9)
