"""nn.utils.clip_grad_norm_ / clip_grad_value_ against torch.nn.utils (float64), and their argument checks."""

import math

import numpy as np
import pytest

from tinygrad_bn import Tensor, nn

clip_grad_norm_, clip_grad_value_ = nn.utils.clip_grad_norm_, nn.utils.clip_grad_value_


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _params(torch=None, scale=1.0, nan=False):
    """Three parameters, two with gradients (one of shape (3, 4), one scalar), one without."""
    rng = np.random.default_rng(0)
    grads = [scale * rng.standard_normal((3, 4)), np.array(scale * 2.5), None]
    if nan:
        grads[0][1, 2] = np.nan
    shapes = [(3, 4), (), (2,)]
    if torch is None:
        ps = [Tensor(np.zeros(s), requires_grad=True) for s in shapes]
        for p, g in zip(ps, grads):
            p.grad = None if g is None else Tensor(g.copy())
    else:
        ps = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes]
        for p, g in zip(ps, grads):
            p.grad = None if g is None else torch.tensor(g.copy())
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, -math.inf, 0.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3, math.inf])
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    ps, tps = _params(), _params(torch)
    total = clip_grad_norm_(ps, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    assert isinstance(total, Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-12)
    for p, tp in zip(ps, tps):
        assert (p.grad is None) == (tp.grad is None)
        if p.grad is not None:
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_norm_clips_to_max_norm_and_accepts_one_tensor():
    ps = _params(scale=10.0)
    before = clip_grad_norm_(ps, 1.0)
    after = np.sqrt(sum((p.grad.data**2).sum() for p in ps if p.grad is not None))
    assert before.item() > 10 and abs(after - 1.0) < 1e-5
    p = Tensor(np.zeros(3), requires_grad=True)
    p.grad = Tensor(np.array([3.0, 4.0, 0.0]))
    assert clip_grad_norm_(p, 10.0).item() == 5.0
    assert clip_grad_norm_([Tensor(np.zeros(2), requires_grad=True)], 1.0).item() == 0.0  # no gradients


def test_nonfinite_norm(torch):
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of the gradients is nan"):
        clip_grad_norm_(_params(nan=True), 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(_params(torch, nan=True), 1.0, error_if_nonfinite=True)
    ps, tps = _params(nan=True), _params(torch, nan=True)
    assert math.isnan(clip_grad_norm_(ps, 1.0).item()) and math.isnan(torch.nn.utils.clip_grad_norm_(tps, 1.0).item())
    np.testing.assert_array_equal(np.isnan(ps[0].grad.data), np.isnan(tps[0].grad.numpy()))


@pytest.mark.parametrize("clip_value", [0.0, 0.7, 100.0])
def test_clip_grad_value_matches_torch(torch, clip_value):
    ps, tps = _params(), _params(torch)
    assert clip_grad_value_(ps, clip_value) is None
    torch.nn.utils.clip_grad_value_(tps, clip_value)
    for p, tp in zip(ps[:2], tps[:2]):
        np.testing.assert_array_equal(p.grad.data, tp.grad.numpy())
    assert ps[2].grad is None


def test_clipping_keeps_the_gradients_dtype():
    p = Tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    p.grad = Tensor(np.full(4, 3.0, dtype=np.float32))
    clip_grad_norm_([p], 1.0)
    clip_grad_value_([p], 0.1)
    assert p.grad.dtype == np.float32


@pytest.mark.parametrize("make,exc,match", [
    (lambda ps: clip_grad_norm_(ps, -1.0), ValueError, "clip_grad_norm_: invalid max_norm -1.0"),
    (lambda ps: clip_grad_norm_(ps, "1"), TypeError, "clip_grad_norm_: max_norm must be a real number"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=float("nan")), ValueError, "clip_grad_norm_: invalid norm_type nan"),
    (lambda ps: clip_grad_norm_(ps, 1.0, error_if_nonfinite="yes"), TypeError, "error_if_nonfinite must be a bool"),
    (lambda ps: clip_grad_norm_([np.zeros(2)], 1.0), TypeError, "clip_grad: parameters must be Tensors, got ndarray"),
    (lambda ps: clip_grad_value_(ps, -0.5), ValueError, "clip_grad_value_: invalid clip_value -0.5"),
])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make(_params())
