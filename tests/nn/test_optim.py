"""Optimizers against torch.optim (float64, several steps, parameter groups), state dicts, argument checks."""

import math

import numpy as np
import pytest

from tinygrad_bn import Tensor, nn, optim


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _problem():
    rng = np.random.default_rng(0)
    return [rng.standard_normal((3, 4)), rng.standard_normal(4)], [rng.standard_normal((3, 4)), rng.standard_normal(4)]


def _groups(ps, grouped, kw):
    """The two parameters as one list, or as two groups, the second with its own lr and weight decay."""
    if not grouped:
        return ps
    return [{"params": [ps[0]]}, {"params": [ps[1]], "lr": kw.get("lr", 0.01) / 2, "weight_decay": 0.05}]


def _loss(ps, targets):
    """A quartic plus a quadratic, so the gradients change from step to step."""
    return sum(((p - t) * (p - t) * (p - t) * (p - t)).sum() + (p * p).sum() for p, t in zip(ps, targets))


def _steps(opt, ps, targets, n):
    for _ in range(n):
        opt.zero_grad()
        _loss(ps, targets).backward()
        opt.step()


CASES = [
    ("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.05, momentum=0.9)), ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3)), ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.03, momentum=0.9, weight_decay=0.01, nesterov=True)), ("SGD", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.1, betas=(0.8, 0.9))), ("Adam", dict(lr=0.01, eps=1e-3)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)), ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)), ("Adam", dict(lr=0.01, maximize=True)),
    ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)), ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-3)),
    ("RMSprop", dict(lr=0.01, centered=True)), ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.005, momentum=0.5, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
]
IDS = [f"{name}(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")" for name, kw in CASES]


@pytest.mark.parametrize("grouped", [False, True], ids=["flat", "groups"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_matches_torch_step_for_step(torch, name, kw, grouped):
    init, targets = _problem()
    ps = [Tensor(a.copy(), requires_grad=True) for a in init]
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(optim, name)(_groups(ps, grouped, kw), **kw)
    topt = getattr(torch.optim, name)(_groups(tps, grouped, kw), **kw)
    ttargets = [torch.from_numpy(t) for t in targets]
    for _ in range(6):
        _steps(opt, ps, targets, 1)
        _steps(topt, tps, ttargets, 1)
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in theirs["param_groups"]]
    for i, tstate in theirs["state"].items():
        assert set(ours["state"][i]) == set(tstate)
        for k, v in tstate.items():
            np.testing.assert_allclose(ours["state"][i][k], v.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_dict_round_trip_continues_like_an_uninterrupted_run(tmp_path, name, kw):
    init, targets = _problem()
    ps = [Tensor(a.copy(), requires_grad=True) for a in init]
    _steps(getattr(optim, name)(_groups(ps, True, kw), **kw), ps, targets, 6)

    qs = [Tensor(a.copy(), requires_grad=True) for a in init]
    first = getattr(optim, name)(_groups(qs, True, kw), **kw)
    _steps(first, qs, targets, 3)
    optim.save(first, tmp_path / "opt.npz")
    rs = [Tensor(q.data.copy(), requires_grad=True) for q in qs]
    second = getattr(optim, name)(_groups(rs, True, dict(lr=123.0)), lr=123.0)  # hyperparameters come from the file
    optim.load(second, tmp_path / "opt.npz")
    assert second.param_groups[1]["lr"] == first.param_groups[1]["lr"]
    _steps(second, rs, targets, 3)
    for p, r in zip(ps, rs):
        np.testing.assert_array_equal(p.data, r.data)


def test_state_dict_is_a_copy_in_pytorchs_layout():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    (a.sum() + b.sum()).backward()
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][1]["params"] == [1] and sd["param_groups"][1]["lr"] == 0.5
    assert set(sd["state"]) == {0, 1} and set(sd["state"][0]) == {"momentum_buffer"}
    sd["state"][0]["momentum_buffer"][:] = 7
    sd["param_groups"][0]["lr"] = 9.0
    assert np.all(opt.state[a]["momentum_buffer"] == 1) and opt.param_groups[0]["lr"] == 0.1


def test_param_groups_and_add_param_group():
    a, b, c = (Tensor(np.ones(2), requires_grad=True) for _ in range(3))
    opt = optim.Adam([{"params": [a], "lr": 0.1}, {"params": b}], lr=0.01, weight_decay=0.5)
    opt.add_param_group({"params": [c], "betas": (0.5, 0.6), "tag": "head"})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01, 0.01]
    assert opt.param_groups[2]["betas"] == (0.5, 0.6) and opt.param_groups[2]["tag"] == "head"
    assert all(g["weight_decay"] == 0.5 for g in opt.param_groups)
    with pytest.raises(ValueError, match="Adam: some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match=r"Adam: invalid betas\[1\] 1.5"):
        opt.add_param_group({"params": [Tensor(np.ones(1), requires_grad=True)], "betas": (0.9, 1.5)})
    assert len(opt.param_groups) == 3


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    frozen = Tensor(np.ones(2))  # accepted, as in PyTorch, and never updated
    opt = optim.SGD([a, b, a, frozen], lr=0.5, momentum=0.9)
    assert len(opt.param_groups[0]["params"]) == 3  # a repeated parameter is updated once
    (a * 2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(a.data, [0.0, 0.0])
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and np.all(grad.data == 0) and b.grad is None
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_repr_lists_each_group():
    opt = optim.SGD([{"params": [_p()]}, {"params": [_p()], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert repr(opt).splitlines()[:4] == ["SGD (", "Parameter Group 0", "    dampening: 0.0", "    lr: 0.1"]
    assert "Parameter Group 1" in repr(opt) and "    lr: 0.5" in repr(opt)


def test_step_with_closure_returns_the_loss():
    p = Tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0
    np.testing.assert_array_equal(p.data, [1.5])


def test_state_is_kept_in_the_parameters_dtype(tmp_path):
    p = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    assert opt.state[p]["exp_avg"].dtype == np.float32 and p.dtype == np.float32
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = sd["state"][0]["exp_avg"].astype(np.float64)
    opt.load_state_dict(sd)
    assert opt.state[p]["exp_avg"].dtype == np.float32


def _p(n=2):
    return Tensor(np.ones(n), requires_grad=True)


BAD = [
    (lambda: optim.SGD([_p()], lr=float("nan")), ValueError,
     "SGD: invalid lr nan; expected a finite number in \\[0, inf\\)"),
    (lambda: optim.SGD([_p()], lr="0.1"), TypeError, "SGD: lr must be a real number, got '0.1' \\(str\\)"),
    (lambda: optim.SGD([_p()], lr=None), TypeError, "SGD: lr must be a real number, got None"),
    (lambda: optim.SGD([_p()], lr=-1), ValueError, "SGD: invalid lr -1"),
    (lambda: optim.SGD([_p()], lr=math.inf), ValueError, "SGD: invalid lr inf"),
    (lambda: optim.SGD([_p()], lr=True), TypeError, "SGD: lr must be a real number, got True"),
    (lambda: optim.SGD([_p()], momentum=-0.5), ValueError, "SGD: invalid momentum -0.5"),
    (lambda: optim.SGD([_p()], weight_decay=-1e-4), ValueError, "SGD: invalid weight_decay -0.0001"),
    (lambda: optim.SGD([_p()], dampening=float("nan")), ValueError, "SGD: invalid dampening nan"),
    (lambda: optim.SGD([_p()], nesterov=True), ValueError, "SGD: Nesterov momentum requires a momentum > 0 and zero"),
    (lambda: optim.SGD([_p()], momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening=0.1"),
    (lambda: optim.SGD([_p()], nesterov="yes"), TypeError, "SGD: nesterov must be a bool, got 'yes'"),
    (lambda: optim.Adam([_p()], betas=(1.0, 0.9)), ValueError, "Adam: invalid betas\\[0\\] 1.0; expected a finite "
                                                                "number in \\[0, 1\\)"),
    (lambda: optim.Adam([_p()], betas=(0.9, -0.1)), ValueError, "Adam: invalid betas\\[1\\] -0.1"),
    (lambda: optim.Adam([_p()], betas=0.9), TypeError, "Adam: betas must be a pair of numbers"),
    (lambda: optim.Adam([_p()], eps=-1e-8), ValueError, "Adam: invalid eps -1e-08"),
    (lambda: optim.Adam([_p()], weight_decay=-1), ValueError, "Adam: invalid weight_decay -1"),
    (lambda: optim.Adam([_p()], amsgrad=1), TypeError, "Adam: amsgrad must be a bool"),
    (lambda: optim.AdamW([_p()], lr="1e-3"), TypeError, "AdamW: lr must be a real number"),
    (lambda: optim.AdamW([_p()], betas=(0.9, 1.0)), ValueError, "AdamW: invalid betas\\[1\\] 1.0"),
    (lambda: optim.RMSprop([_p()], alpha=-0.1), ValueError, "RMSprop: invalid alpha -0.1"),
    (lambda: optim.RMSprop([_p()], momentum=-1), ValueError, "RMSprop: invalid momentum -1"),
    (lambda: optim.RMSprop([_p()], eps=float("-inf")), ValueError, "RMSprop: invalid eps -inf"),
    (lambda: optim.RMSprop([_p()], centered="no"), TypeError, "RMSprop: centered must be a bool"),
    (lambda: optim.SGD([{"params": [_p()], "lr": -1}], lr=0.1), ValueError, "SGD: invalid lr -1"),
    (lambda: optim.SGD([], lr=0.1), ValueError, "SGD: got an empty parameter list"),
    (lambda: optim.SGD([np.ones(2)], lr=0.1), TypeError, "SGD: parameters must be Tensors, got ndarray"),
    (lambda: optim.SGD([_p() * 2], lr=0.1), ValueError,
     "SGD: cannot optimize a non-leaf Tensor \\(the output of 'mul'\\)"),
    (lambda: optim.SGD({_p()}, lr=0.1), TypeError, "SGD: parameters must be an ordered collection"),
    (lambda: optim.SGD(3, lr=0.1), TypeError, "SGD: params must be Tensors or parameter-group dicts"),
    (lambda: optim.SGD([{"params": [_p()]}, _p()], lr=0.1), TypeError, "SGD: a parameter group must be a dict"),
]


@pytest.mark.parametrize("make,exc,match", BAD, ids=[m[:40] for _, _, m in BAD])
def test_bad_arguments_raise_naming_the_argument(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_torch_refuses_the_values_we_refuse(torch):
    """Where PyTorch checks a value we refuse it too; our extra checks (nan, inf, strings) are listed in the README."""
    tp = [torch.ones(2, requires_grad=True)]
    for make in [lambda: torch.optim.SGD(tp, lr=-1), lambda: torch.optim.SGD(tp, momentum=-0.5),
                 lambda: torch.optim.SGD(tp, lr=0.1, nesterov=True), lambda: torch.optim.Adam(tp, betas=(1.0, 0.9)),
                 lambda: torch.optim.Adam(tp, eps=-1e-8), lambda: torch.optim.AdamW(tp, betas=(0.9, 1.0)),
                 lambda: torch.optim.RMSprop(tp, alpha=-0.1),
                 lambda: torch.optim.SGD([], lr=0.1)]:
        with pytest.raises((ValueError, TypeError)):
            make()


def test_load_state_dict_checks_before_assigning(tmp_path):
    a, b = _p(2), _p(3)
    opt = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    (a.sum() + b.sum()).backward()
    opt.step()
    good = opt.state_dict()
    with pytest.raises(ValueError, match="SGD: load_state_dict: the state has 1 parameter groups, the optimizer 2"):
        opt.load_state_dict({"state": {}, "param_groups": good["param_groups"][:1]})
    with pytest.raises(ValueError, match="parameter group 1 has 2 parameters in the state, 1 in the optimizer"):
        opt.load_state_dict({"state": {}, "param_groups": [good["param_groups"][0],
                                                           {**good["param_groups"][1], "params": [1, 2]}]})
    bad = opt.state_dict()
    bad["state"][1]["momentum_buffer"] = np.zeros(4)
    bad["param_groups"][0]["lr"] = 5.0
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 1 has shape \(4,\), the parameter \(3,\)"):
        opt.load_state_dict(bad)
    assert opt.param_groups[0]["lr"] == 0.1  # untouched
    adam = optim.Adam([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ValueError, match=r"Adam: load_state_dict: parameter group 0 lacks \['amsgrad', 'betas'"):
        adam.load_state_dict(good)
    nn.save(nn.Linear(2, 2), tmp_path / "model.npz")
    with pytest.raises(ValueError, match="holds no optimizer or scheduler state"):
        optim.load(opt, tmp_path / "model.npz")
