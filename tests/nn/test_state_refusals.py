"""Schedulers refuse a lambda's NaN, inf or non-number; load_state_dict of modules, optimizers and schedulers
checks the types of what it is given and names what is wrong, changing nothing."""

import math

import numpy as np
import pytest

from tinygrad_bn import Tensor, nn, optim

L = optim.lr_scheduler


def _sgd(**kw):
    return optim.SGD(nn.Linear(2, 2, generator=0).parameters(), lr=0.1, **kw)


@pytest.mark.parametrize("cls", [L.LambdaLR, L.MultiplicativeLR])
@pytest.mark.parametrize("bad, error, words", [
    (math.nan, ValueError, "nan"), (math.inf, ValueError, "inf"), (-math.inf, ValueError, "-inf"),
    ("0.5", TypeError, "must be a real number, got '0.5'"), (None, TypeError, "got None"),
    (Tensor(0.5), TypeError, "must be a real number"),
])
def test_a_lambda_returning_a_non_finite_or_non_number_is_refused_at_step(cls, bad, error, words):
    opt = _sgd()
    sched = cls(opt, lambda epoch: 0.5 if epoch < 2 else bad)
    opt.step()
    sched.step()
    lr, epoch = opt.param_groups[0]["lr"], sched.last_epoch
    with pytest.raises(error, match=rf"{cls.__name__}: .*lr_lambda\(2\) of param_groups\[0\].*{words}"):
        sched.step()
    assert (opt.param_groups[0]["lr"], sched.last_epoch) == (lr, epoch)  # nothing changed
    assert math.isfinite(lr)


def test_lambdalr_refuses_nan_at_construction():
    with pytest.raises(ValueError, match=r"LambdaLR: invalid lr_lambda\(0\) of param_groups\[0\] nan"):
        L.LambdaLR(_sgd(), lambda epoch: float("nan"))


def test_a_numpy_factor_is_accepted():
    opt = _sgd()
    L.LambdaLR(opt, lambda epoch: np.float32(0.5))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def _state(opt):
    model = nn.Linear(2, 2, generator=0)
    o = type(opt)(model.parameters(), **{k: v for k, v in opt.defaults.items() if k in ("lr", "momentum")})
    model(Tensor(np.ones((1, 2), np.float32))).sum().backward()
    o.step()
    return o.state_dict()


@pytest.mark.parametrize("mutate, words", [
    (lambda s: None, r"the state must be a dict .*got NoneType"),
    (lambda s: [], r"the state must be a dict .*got list"),
    (lambda s: {**s, "param_groups": None}, r"'param_groups' must be a list of dicts, got NoneType"),
    (lambda s: {**s, "param_groups": [None]}, r"param_groups\[0\] must be a dict, got NoneType"),
    (lambda s: {**s, "param_groups": [{**s["param_groups"][0], "params": 3}]},
     r"param_groups\[0\]\['params'\] must be a list of parameter indices, got int"),
    (lambda s: {**s, "state": None}, r"'state' must be a dict of per-parameter dicts, got NoneType"),
    (lambda s: {**s, "state": {0: [1.0]}}, r"state\[0\] must be a dict, got list"),
    (lambda s: {**s, "state": {0: {"momentum_buffer": [[1.0, 2.0], [3.0, 4.0]]}}},
     r"state\[0\]\['momentum_buffer'\] must be a numpy array or a number, got list"),
    (lambda s: {**s, "state": {0: {"momentum_buffer": None}}},
     r"state\[0\]\['momentum_buffer'\] must be a numpy array or a number, got NoneType"),
])
def test_optimizer_load_state_dict_names_the_wrong_part(mutate, words):
    opt = _sgd(momentum=0.9)
    good = _state(opt)
    before = opt.state_dict()
    with pytest.raises(TypeError, match=rf"SGD: load_state_dict: {words}"):
        opt.load_state_dict(mutate(good))
    assert opt.state_dict() == before
    opt.load_state_dict(good)  # the good state still loads
    assert set(opt.state_dict()["state"]) == {0, 1}


def test_optimizer_state_without_an_entry_is_named():
    with pytest.raises(ValueError, match=r"SGD: load_state_dict: the state has no 'param_groups' entry"):
        _sgd().load_state_dict({"state": {}})


@pytest.mark.parametrize("state, words", [
    (None, "expected a dict of arrays by name, got NoneType"),
    ([np.ones((2, 2)), np.ones(2)], "expected a dict of arrays by name, got list"),
    ({"weight": [[1.0, 2.0], [3.0, 4.0]], "bias": np.ones(2)}, "key 'weight' holds a list, expected an array"),
    ({"weight": np.ones((2, 2)), "bias": None}, "key 'bias' holds a NoneType"),
])
def test_module_load_state_dict_checks_types(state, words):
    m = nn.Linear(2, 2, generator=0)
    before = m.weight.data.copy()
    with pytest.raises(TypeError, match=f"load_state_dict: Linear: {words}"):
        m.load_state_dict(state)
    np.testing.assert_array_equal(m.weight.data, before)


def test_scheduler_load_state_dict_checks_types():
    sched = L.StepLR(_sgd(), step_size=2)
    with pytest.raises(TypeError, match="StepLR.load_state_dict: expected a dict from state_dict.., got NoneType"):
        sched.load_state_dict(None)
    other = L.CosineAnnealingLR(_sgd(), T_max=3).state_dict()
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: unknown keys \['T_max', 'eta_min'\]"):
        sched.load_state_dict(other)
    sched.load_state_dict(L.StepLR(_sgd(), step_size=5).state_dict())
    assert sched.step_size == 5
