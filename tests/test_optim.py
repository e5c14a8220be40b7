"""SGD and Adam against torch.optim over several steps, and their argument checks."""

import numpy as np
import pytest

from tinygrad_bn import Tensor, optim

torch = pytest.importorskip("torch")


def _run(ours_cls, theirs_cls, steps=6, **kw):
    """Minimize the same quadratic-plus-cubic loss with both optimizers; return both parameter histories."""
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    targets = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    ps = [Tensor(a.copy(), requires_grad=True) for a in init]
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt, topt = ours_cls(ps, **kw), theirs_cls(tps, **kw)
    for _ in range(steps):
        opt.zero_grad()
        topt.zero_grad()
        sum(((p - t) * (p - t) * (p - t) * (p - t)).sum() + (p * p).sum() for p, t in zip(ps, targets)).backward()
        sum(((p - torch.from_numpy(t)) ** 4).sum() + (p * p).sum() for p, t in zip(tps, targets)).backward()
        opt.step()
        topt.step()
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
    return ps


@pytest.mark.parametrize("kw", [dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
                                dict(lr=0.05, momentum=0.8, dampening=0.3), dict(lr=0.05, weight_decay=0.1),
                                dict(lr=0.03, momentum=0.9, weight_decay=0.01, nesterov=True)],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_sgd_matches_torch(kw):
    _run(optim.SGD, torch.optim.SGD, **kw)


@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(lr=0.1, betas=(0.8, 0.9)), dict(lr=0.01, eps=1e-3),
                                dict(lr=0.01, weight_decay=0.1)],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_adam_matches_torch(kw):
    _run(optim.Adam, torch.optim.Adam, **kw)


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a, b, a], lr=0.5, momentum=0.9)
    assert len(opt.params) == 2  # a repeated parameter is updated once
    (a * 2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(a.data, [0.0, 0.0])
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_argument_errors():
    p = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="SGD: parameters must be Tensors that require grad"):
        optim.SGD([Tensor(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum > 0 and zero dampening"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Adam: invalid betas"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="invalid learning rate -1"):
        optim.Adam([p], lr=-1)
