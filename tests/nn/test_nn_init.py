"""nn.init: PyTorch's gains and fans, the documented bounds and standard deviations, checked on large draws."""

import math

import numpy as np
import pytest

from tinygrad_bn import Tensor, manual_seed, nn

init = nn.init


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


GAINS = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
         ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", -0.5),
         ("leaky_relu", math.sqrt(5)),
         ("selu", None)]


@pytest.mark.parametrize("name,param", GAINS)
def test_calculate_gain_equals_torch(torch, name, param):
    assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


@pytest.mark.parametrize("shape", [(5, 3), (8, 4, 3, 3), (6, 2, 5), (3, 7, 1, 2, 2), (4, 0)])
def test_fans_equal_torch(torch, shape):
    assert init.fans(Tensor(np.zeros(shape))) == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


SHAPE = (256, 64, 3, 3)  # fan_in 576, fan_out 2304; 147,456 draws
FAN_IN, FAN_OUT = 64 * 9, 256 * 9
# (function, kwargs, distribution, mean, std) with std from torch.nn.init's documentation
CASES = [
    (init.kaiming_uniform_, dict(), "uniform", 0.0, math.sqrt(2 / FAN_IN)),
    (init.kaiming_uniform_, dict(a=math.sqrt(5)), "uniform", 0.0, math.sqrt(2 / 6) / math.sqrt(FAN_IN)),
    (init.kaiming_uniform_, dict(mode="fan_out", nonlinearity="relu"), "uniform", 0.0, math.sqrt(2 / FAN_OUT)),
    (init.kaiming_normal_, dict(), "normal", 0.0, math.sqrt(2 / FAN_IN)),
    (init.kaiming_normal_, dict(mode="fan_out", nonlinearity="tanh"), "normal", 0.0, 5 / 3 / math.sqrt(FAN_OUT)),
    (init.xavier_uniform_, dict(), "uniform", 0.0, math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (init.xavier_uniform_, dict(gain=5 / 3), "uniform", 0.0, 5 / 3 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (init.xavier_normal_, dict(gain=2.0), "normal", 0.0, 2 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (init.uniform_, dict(a=-2.0, b=3.0), "uniform", 0.5, 5 / math.sqrt(12)),
    (init.normal_, dict(mean=1.0, std=0.5), "normal", 1.0, 0.5),
]
IDS = [f"{f.__name__}(" + ",".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in kw.items()) + ")"
       for f, kw, *_ in CASES]


@pytest.mark.parametrize("fn,kw,dist,mean,std", CASES, ids=IDS)
def test_draws_have_the_documented_distribution(fn, kw, dist, mean, std):
    t = Tensor(np.zeros(SHAPE, dtype=np.float32))
    assert fn(t, **kw, generator=0) is t and t.dtype == np.float32
    x = t.data.astype(np.float64).ravel()
    se = std / math.sqrt(x.size)
    assert abs(x.mean() - mean) < 4 * se
    assert abs(x.std() / std - 1) < 0.01
    if dist == "uniform":  # the bounds are mean -/+ sqrt(3) std, and the draws reach them
        lo, hi = mean - math.sqrt(3) * std, mean + math.sqrt(3) * std
        assert lo <= x.min() < lo + 1e-3 * (hi - lo) and hi - 1e-3 * (hi - lo) < x.max() <= hi
    else:  # 68.27% within one std of the mean
        assert abs(np.mean(np.abs(x - mean) < std) - 0.6827) < 0.005


@pytest.mark.parametrize("fn,kw,dist,mean,std", CASES, ids=IDS)
def test_same_spread_as_torch(torch, fn, kw, dist, mean, std):
    t = torch.zeros(SHAPE, dtype=torch.float64)
    getattr(torch.nn.init, fn.__name__)(t, **kw, generator=torch.Generator().manual_seed(0))
    ours = fn(Tensor(np.zeros(SHAPE)), **kw, generator=0).data
    assert abs(ours.std() / t.std().item() - 1) < 0.02
    if dist == "uniform":  # the same bounds
        np.testing.assert_allclose([ours.min(), ours.max()], [t.min().item(), t.max().item()], atol=1e-3 * std)


def test_generator_seed_and_library_default():
    a, b = Tensor(np.zeros((4, 3))), Tensor(np.zeros((4, 3)))
    np.testing.assert_array_equal(init.kaiming_normal_(a, generator=7).data, init.kaiming_normal_(b, generator=7).data)
    g = np.random.default_rng(7)
    first = init.xavier_uniform_(Tensor(np.zeros((4, 3))), generator=g).data
    assert not np.array_equal(first, init.xavier_uniform_(Tensor(np.zeros((4, 3))), generator=g).data)  # advanced
    manual_seed(3)
    c = init.normal_(Tensor(np.zeros(5))).data.copy()
    manual_seed(3)
    np.testing.assert_array_equal(c, init.normal_(Tensor(np.zeros(5))).data)


def test_constants_fill_in_place_and_keep_dtype():
    layer = nn.Linear(3, 2)
    w = layer.weight
    assert init.zeros_(w) is w and np.all(w.data == 0) and w.dtype == np.float32
    init.ones_(layer.bias)
    init.constant_(w, 0.25)
    assert np.all(layer.bias.data == 1) and np.all(w.data == 0.25)
    init.constant_(Tensor(np.zeros(3, dtype=np.int64)), 2)  # constants do not need a float tensor


@pytest.mark.parametrize("make,exc,match", [
    (lambda: init.xavier_uniform_(Tensor(np.zeros(5))), ValueError,
     r"xavier_uniform_: fan in and fan out need a tensor with at least 2 axes, got shape \(5,\)"),
    (lambda: init.kaiming_normal_(Tensor(np.zeros((3, 2))), mode="fan_avg"), ValueError,
     "kaiming_normal_: mode must be 'fan_in' or 'fan_out', got 'fan_avg'"),
    (lambda: init.kaiming_uniform_(Tensor(np.zeros((3, 2))), nonlinearity="swish"), ValueError,
     "calculate_gain: unsupported nonlinearity 'swish'"),
    (lambda: init.calculate_gain("leaky_relu", "0.1"), TypeError, "calculate_gain: param must be a real number"),
    (lambda: init.kaiming_uniform_(Tensor(np.zeros((3, 2), dtype=np.int64))), TypeError,
     "kaiming_uniform_: expected a floating-point tensor, got dtype int64"),
    (lambda: init.normal_(np.zeros(3)), TypeError, "normal_: expected a Tensor, got ndarray"),
    (lambda: init.normal_(Tensor(np.zeros(3)), std=-1), ValueError, "normal_: invalid std -1"),
    (lambda: init.uniform_(Tensor(np.zeros(3)), a=1.0, b=0.0), ValueError, "uniform_: invalid b 0.0"),
    (lambda: init.xavier_normal_(Tensor(np.zeros((3, 2))), gain=float("nan")), ValueError,
     "xavier_normal_: invalid gain nan"),
])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
