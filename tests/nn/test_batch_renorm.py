"""BatchRenorm1d/2d: Ioffe 2017's Algorithm 1 against a direct numpy computation (float64), BatchNorm when
r_max = 1 and d_max = 0, eval mode, state_dict, the jit, the noise analysis, argument errors."""

import numpy as np
import pytest

import tinygrad_bn as tg
import viz
from tinygrad_bn import Tensor, nn, optim
from tinygrad_bn.nn import functional as F

RTOL, ATOL = 1e-10, 1e-12


def paper(x, gy, mu, sigma, gamma, beta, *, r_max, d_max, eps, alpha, axes):
    """One training step of Algorithm 1 and the paper's backward equations, in numpy: the output, the gradients
    of x, gamma and beta, and the running mean and std after the step."""
    keep = [1 if a in axes else s for a, s in enumerate(x.shape)]
    m = np.prod([x.shape[a] for a in axes])
    c = lambda v: v.reshape(keep)  # noqa: E731 - (C,) broadcast along axis 1
    mu_b = x.mean(axis=axes, keepdims=True)
    sigma_b = np.sqrt(((x - mu_b) ** 2).mean(axis=axes, keepdims=True) + eps)
    r = np.clip(sigma_b / c(sigma), 1 / r_max, r_max)
    d = np.clip((mu_b - c(mu)) / c(sigma), -d_max, d_max)
    x_hat = (x - mu_b) / sigma_b * r + d
    y = c(gamma) * x_hat + c(beta)
    # the paper's backward, r and d held constant
    g_hat = gy * c(gamma)
    g_sigma = (g_hat * (x - mu_b) * (-r / sigma_b**2)).sum(axis=axes, keepdims=True)
    g_mu = (g_hat * (-r / sigma_b)).sum(axis=axes, keepdims=True)
    gx = g_hat * r / sigma_b + g_sigma * (x - mu_b) / (m * sigma_b) + g_mu / m
    g_gamma, g_beta = (gy * x_hat).sum(axis=axes), gy.sum(axis=axes)
    mu_new = mu + alpha * (mu_b.reshape(-1) - mu)
    sigma_new = sigma + alpha * (sigma_b.reshape(-1) - sigma)
    return y, gx, g_gamma, g_beta, mu_new, sigma_new


def _layer(cls, rng, **kw):
    layer = cls(4, dtype=np.float64, **kw)
    layer.weight.data[:], layer.bias.data[:] = rng.standard_normal(4), rng.standard_normal(4)
    return layer


def _step(layer, x, gy):
    xt = Tensor(x, requires_grad=True)
    y = layer(xt)
    (y * gy).sum().backward()
    return y.data, xt.grad.data


@pytest.mark.parametrize("cls,shape,axes", [(nn.BatchRenorm1d, (16, 4), (0,)), (nn.BatchRenorm1d, (8, 4, 5), (0, 2)),
                                            (nn.BatchRenorm2d, (6, 4, 3, 2), (0, 2, 3))])
@pytest.mark.parametrize("r_max,d_max", [(3.0, 5.0), (1.5, 0.2), (np.inf, np.inf)])
def test_training_steps_follow_the_papers_equations(cls, shape, axes, r_max, d_max):
    rng = np.random.default_rng(0)
    layer = _layer(cls, rng, r_max=r_max, d_max=d_max, momentum=0.3)
    mu, sigma = np.zeros(4), np.ones(4)
    clipped = set()
    for _ in range(5):  # the running statistics start far from the batches': r and d clip, then settle
        offset = rng.standard_normal(4).reshape((1, 4) + (1,) * (len(shape) - 2)) * 3
        x = rng.standard_normal(shape) * rng.uniform(0.1, 8) + offset
        gy = rng.standard_normal(shape)
        sigma_b, mu_b = np.sqrt(x.var(axis=axes) + layer.eps), x.mean(axis=axes)
        clipped.add(bool(np.any(np.abs(np.log(sigma_b / sigma)) > np.log(r_max))
                         or np.any(np.abs(mu_b - mu) / sigma > d_max)))
        y, gx = _step(layer, x, gy)
        want_y, want_gx, want_gamma, want_beta, mu, sigma = paper(
            x, gy, mu, sigma, layer.weight.data, layer.bias.data, r_max=r_max, d_max=d_max, eps=layer.eps,
            alpha=0.3, axes=axes)
        np.testing.assert_allclose(y, want_y, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(gx, want_gx, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(layer.weight.grad.data, want_gamma, rtol=1e-8, atol=ATOL)
        np.testing.assert_allclose(layer.bias.grad.data, want_beta, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(layer.running_mean.data, mu, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(layer.running_std.data, sigma, rtol=RTOL, atol=ATOL)
        layer.weight.grad = layer.bias.grad = None
    assert int(layer.num_batches_tracked.data) == 5
    if np.isfinite(r_max):
        assert True in clipped  # the clipping was exercised


@pytest.mark.parametrize("cls,bn,shape", [(nn.BatchRenorm1d, nn.BatchNorm1d, (12, 4)),
                                          (nn.BatchRenorm2d, nn.BatchNorm2d, (5, 4, 3, 3))])
def test_with_r_max_1_and_d_max_0_training_is_batch_norm(cls, bn, shape):
    rng = np.random.default_rng(1)
    renorm = _layer(cls, rng, r_max=1.0, d_max=0.0)
    plain = bn(4, dtype=np.float64)
    plain.weight.data[:], plain.bias.data[:] = renorm.weight.data, renorm.bias.data
    axes = (0,) + tuple(range(2, len(shape)))
    sigma = np.ones(4)
    for _ in range(4):
        x = rng.standard_normal(shape) * 2 + 1
        gy = rng.standard_normal(shape)
        for a, b in zip(_step(renorm, x, gy), _step(plain, x, gy)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
        sigma = 0.9 * sigma + 0.1 * np.sqrt(x.var(axis=axes) + renorm.eps)
    for p, q in zip(renorm.parameters(), plain.parameters()):  # gradients accumulated over the four steps
        np.testing.assert_allclose(p.grad.data, q.grad.data, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(renorm.running_mean.data, plain.running_mean.data, rtol=1e-12)
    # the running spread is the paper's: a moving average of the batch std (BatchNorm's is of the unbiased variance)
    np.testing.assert_allclose(renorm.running_std.data, sigma, rtol=1e-12)


def test_momentum_none_makes_cumulative_averages_of_the_batch_mean_and_std():
    rng = np.random.default_rng(7)
    layer = nn.BatchRenorm2d(4, momentum=None, dtype=np.float64)
    xs = [rng.standard_normal((3, 4, 2, 2)) * (i + 1) + i for i in range(5)]
    for x in xs:
        layer(Tensor(x))
    axes = (0, 2, 3)
    np.testing.assert_allclose(layer.running_mean.data, np.mean([x.mean(axis=axes) for x in xs], axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_std.data, np.mean([np.sqrt(x.var(axis=axes) + layer.eps) for x in xs],
                                                               axis=0), rtol=1e-12)


def test_eval_uses_the_running_mean_and_std_and_leaves_them():
    rng = np.random.default_rng(2)
    layer = _layer(nn.BatchRenorm1d, rng)
    for _ in range(3):
        layer(Tensor(rng.standard_normal((8, 4)) * 3 + 2))
    state = {k: v.copy() for k, v in layer.state_dict().items()}
    layer.eval()
    x, gy = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    y, gx = _step(layer, x, gy)
    mu, sigma, gamma = layer.running_mean.data, layer.running_std.data, layer.weight.data
    np.testing.assert_allclose(y, gamma * (x - mu) / sigma + layer.bias.data, rtol=1e-12)
    np.testing.assert_allclose(gx, gy * gamma / sigma, rtol=1e-12)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    assert layer(Tensor(x[:1])).shape == (1, 4)  # one row is fine in eval


def test_state_dict_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    src = nn.Sequential(nn.Linear(3, 4), nn.BatchRenorm1d(4, r_max=2.0, d_max=1.0), nn.ReLU())
    for _ in range(3):
        src(Tensor(rng.standard_normal((6, 3)).astype(np.float32)))
    assert sorted(src.state_dict()) == ["0.bias", "0.weight", "1.bias", "1.num_batches_tracked", "1.running_mean",
                                        "1.running_std", "1.weight"]
    nn.save(src, tmp_path / "m.npz")
    dst = nn.load(nn.Sequential(nn.Linear(3, 4), nn.BatchRenorm1d(4, r_max=2.0, d_max=1.0), nn.ReLU()),
                  tmp_path / "m.npz")
    x = Tensor(rng.standard_normal((6, 3)).astype(np.float32))
    np.testing.assert_array_equal(src.eval()(x).data, dst.eval()(x).data)
    np.testing.assert_array_equal(src.train()(x).data, dst.train()(x).data)  # r and d read the loaded statistics
    np.testing.assert_array_equal(src[1].running_std.data, dst[1].running_std.data)


def _train(use_jit, ramp):
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8, generator=1), nn.BatchRenorm1d(8, r_max=1.0, d_max=0.0, momentum=0.2),
                        nn.ReLU(), nn.Linear(8, 3, generator=2))
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    step = tg.jit(lambda x, y: net(x).cross_entropy(y))
    rng = np.random.default_rng(4)
    out = []
    for i in range(8):
        net[1].r_max, net[1].d_max = ramp[i]
        x, y = rng.standard_normal((10, 6)).astype(np.float32) * 2 + 1, rng.integers(0, 3, 10)
        opt.zero_grad()
        if use_jit:
            loss = step(x, y)
        else:
            loss = net(Tensor(x)).cross_entropy(y)
            loss.backward()
        opt.step()
        out.append([loss.data.copy()] + [t.data.copy() for t in [*net.parameters(), *net.buffers()]])
    return out


def test_a_jit_replay_equals_eager_steps_also_while_r_max_and_d_max_ramp_up():
    ramp = [(1.0, 0.0)] * 4 + [(1.5, 0.5), (2.0, 1.0), (2.0, 1.0), (2.0, 1.0)]
    for eager, replayed in zip(_train(False, ramp), _train(True, ramp), strict=True):
        for a, b in zip(eager, replayed, strict=True):
            assert a.tobytes() == b.tobytes()


def test_noise_analysis_sees_the_batch_statistics_enter_as_in_batch_norm():
    """r and d are constants (no gradient): the batch mean enters additively at the subtraction and the batch std
    multiplicatively at the division, as in BatchNorm; eval mode has no batch noise."""
    x = Tensor(np.random.default_rng(5).standard_normal((8, 3)).astype(np.float32), requires_grad=True)
    for layer in (nn.BatchRenorm1d(4), nn.BatchNorm1d(4)):
        model = nn.Sequential(nn.Linear(3, 4), layer, nn.ReLU())
        report = viz.noise_paths(viz.capture(model(x).sum(), inputs=[x]))
        assert sorted((e.kind, e.op) for e in report.entries) == [("additive", "sub"), ("multiplicative", "div")]
        assert all(e.module == "1" for e in report.entries)
        model.eval()
        assert viz.noise_paths(viz.capture(model(x).sum(), inputs=[x])).entries == []


def test_functional_form_is_the_module_computation():
    rng = np.random.default_rng(6)
    layer = _layer(nn.BatchRenorm1d, rng, r_max=2.0, d_max=0.5)
    x = rng.standard_normal((8, 4))
    mean, std = Tensor(np.full(4, 0.5)), Tensor(np.full(4, 2.0))
    want = F.batch_renorm(Tensor(x), mean, std, layer.weight, layer.bias, training=True, momentum=0.1, r_max=2.0,
                          d_max=0.5)
    layer.running_mean.data[:], layer.running_std.data[:] = 0.5, 2.0
    np.testing.assert_array_equal(layer(Tensor(x)).data, want.data)
    np.testing.assert_array_equal(layer.running_std.data, std.data)


def test_bad_arguments_and_inputs_name_the_layer():
    with pytest.raises(ValueError, match=r"BatchRenorm1d: invalid r_max 0.5; expected a number in \[1, inf\)"):
        nn.BatchRenorm1d(4, r_max=0.5)
    with pytest.raises(ValueError, match=r"BatchRenorm2d: invalid d_max -1"):
        nn.BatchRenorm2d(4, d_max=-1)
    with pytest.raises(TypeError, match="BatchRenorm1d: r_max must be a real number, got '3'"):
        nn.BatchRenorm1d(4, r_max="3")
    layer = nn.BatchRenorm1d(4)
    with pytest.raises(ValueError, match="BatchRenorm1d: invalid d_max nan"):
        layer.d_max = float("nan")
    assert layer.d_max == 5.0  # a refused value leaves the old one
    with pytest.raises(ValueError, match=r"BatchRenorm2d: expected 4D input \(got 2D input of shape \(2, 4\)\)"):
        nn.BatchRenorm2d(4)(Tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match=r"BatchRenorm1d: expected 4 channels on axis 1, got input of shape \(2, 3\)"):
        layer(Tensor(np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"batch_renorm: Expected more than 1 value per channel .*\(1, 4\)"):
        layer(Tensor(np.ones((1, 4), np.float32)))
    with pytest.raises(ValueError, match=r"batch_renorm: running_std has shape \(3,\) but the input"):
        F.batch_renorm(Tensor(np.ones((2, 4))), Tensor(np.zeros(4)), Tensor(np.ones(3)), training=True)
    assert repr(layer) == "BatchRenorm1d(4, r_max=3, d_max=5, eps=1e-05, momentum=0.1, affine=True)"
