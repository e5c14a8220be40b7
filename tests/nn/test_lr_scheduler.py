"""Learning-rate schedulers against torch.optim.lr_scheduler step for step, state dicts, argument checks."""

import warnings

import numpy as np
import pytest

from tinygrad_bn import Tensor, optim

L = optim.lr_scheduler


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _groups(tensor):
    """Two parameter groups with different learning rates."""
    return [{"params": [tensor(np.ones(2))]}, {"params": [tensor(np.ones(1))], "lr": 0.03}]


def _ours(opt_name="SGD", **kw):
    return getattr(optim, opt_name)(_groups(lambda a: Tensor(a, requires_grad=True)), **kw)


class Warmup:
    """A callable object: LambdaLR saves its attributes (a plain function is not saved)."""

    def __init__(self, n):
        self.n = n

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.n) * 0.97**epoch


SCHEDULES = [
    ("StepLR", dict(step_size=7, gamma=0.5)), ("StepLR", dict(step_size=1)),
    ("MultiStepLR", dict(milestones=[12, 3, 3, 20], gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)), ("CosineAnnealingLR", dict(T_max=30)),
    ("LambdaLR", dict(lr_lambda=Warmup(5))), ("MultiplicativeLR", dict(lr_lambda=Warmup(5))),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=30)),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], total_steps=30, three_phase=True, anneal_strategy="linear")),
    ("OneCycleLR", dict(max_lr=0.4, epochs=3, steps_per_epoch=10, pct_start=0.0, div_factor=5.0, final_div_factor=50.0,
                        base_momentum=0.7, max_momentum=0.9)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=30, cycle_momentum=False)),
]
IDS = [f"{name}(" + ",".join(f"{k}={v}" for k, v in kw.items() if k != "lr_lambda") + ")" for name, kw in SCHEDULES]
OPTIMIZERS = [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)), ("RMSprop", dict(lr=0.1, momentum=0.5))]


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


@pytest.mark.parametrize("opt_name,opt_kw", OPTIMIZERS, ids=[o for o, _ in OPTIMIZERS])
@pytest.mark.parametrize("name,kw", SCHEDULES, ids=IDS)
def test_learning_rates_match_torch_for_30_steps(torch, name, kw, opt_name, opt_kw):
    opt = _ours(opt_name, **opt_kw)
    topt = getattr(torch.optim, opt_name)(_groups(lambda a: torch.tensor(a, requires_grad=True)), **opt_kw)
    sched, tsched = getattr(L, name)(opt, **kw), getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    for step in range(30):
        assert sched.last_epoch == tsched.last_epoch == step
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, err_msg=f"step {step}")
        np.testing.assert_allclose([g["lr"] for g in opt.param_groups], tsched.get_last_lr(), rtol=1e-12, atol=0)
        np.testing.assert_allclose(_momenta(opt), _momenta(topt), rtol=1e-12, atol=0, err_msg=f"step {step}")
        opt.step()
        topt.step()
        sched.step()
        tsched.step()


def test_chained_schedulers_multiply_like_torch(torch):
    opt = _ours(lr=1.0)
    topt = torch.optim.SGD(_groups(lambda a: torch.tensor(a, requires_grad=True)), lr=1.0)
    ours = [L.StepLR(opt, 3, 0.5), L.ExponentialLR(opt, 0.9), L.CosineAnnealingLR(opt, 10)]
    theirs = [torch.optim.lr_scheduler.StepLR(topt, 3, 0.5), torch.optim.lr_scheduler.ExponentialLR(topt, 0.9),
              torch.optim.lr_scheduler.CosineAnnealingLR(topt, 10)]
    for _ in range(15):
        np.testing.assert_allclose([g["lr"] for g in opt.param_groups], [g["lr"] for g in topt.param_groups],
                                   rtol=1e-12)
        opt.step()  # both warn if a scheduler steps before the optimizer
        topt.step()
        for s, t in zip(ours, theirs):
            s.step()
            t.step()


@pytest.mark.parametrize("name,kw", SCHEDULES, ids=IDS)
def test_state_dict_round_trip_continues_the_schedule(tmp_path, name, kw):
    whole = _ours("SGD", lr=0.1, momentum=0.9)
    full = getattr(L, name)(whole, **kw)
    expected = []
    for _ in range(25):
        whole.step()
        full.step()
        expected.append((full.get_last_lr(), _momenta(whole)))

    opt = _ours("SGD", lr=0.1, momentum=0.9)
    sched = getattr(L, name)(opt, **kw)
    for _ in range(10):
        opt.step()
        sched.step()
    optim.save(opt, tmp_path / "opt.npz")
    optim.save(sched, tmp_path / "sched.npz")
    opt2 = _ours("SGD", lr=5.0)
    sched2 = getattr(L, name)(opt2, **{**kw, "lr_lambda": Warmup(99)} if name == "LambdaLR" else kw)
    optim.load(opt2, tmp_path / "opt.npz")
    optim.load(sched2, tmp_path / "sched.npz")
    assert sched2.last_epoch == 10
    got = []
    for _ in range(15):
        sched2.step()
        got.append((sched2.get_last_lr(), _momenta(opt2)))
    assert got == expected[10:]


def test_lambda_lr_with_plain_functions_and_get_last_lr_is_a_copy():
    opt = _ours(lr=1.0)
    sched = L.LambdaLR(opt, [lambda e: 0.5**e, lambda e: 1 / (e + 1)])
    opt.step()
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [0.25, 0.03 * (1 / 3)] and sched.base_lrs == [1.0, 0.03]
    sched.get_last_lr().append(1)
    assert len(sched.get_last_lr()) == 2
    assert sched.state_dict()["lr_lambdas"] == [None, None]


def test_resuming_needs_initial_lr():
    with pytest.raises(ValueError, match=r"StepLR: resuming at last_epoch=4 needs 'initial_lr' in param_groups\[0\]"):
        L.StepLR(_ours(lr=0.1), 2, last_epoch=4)
    opt = _ours(lr=0.1)
    L.StepLR(opt, 2)
    sched = L.StepLR(opt, 2, gamma=0.5, last_epoch=4)  # initial_lr set by the first scheduler
    assert sched.last_epoch == 5 and sched.base_lrs == [0.1, 0.03]


def test_one_cycle_refuses_to_step_past_total_steps():
    opt = _ours(lr=0.1)
    sched = L.OneCycleLR(opt, max_lr=1.0, total_steps=4)
    opt.step()
    for _ in range(4):
        sched.step()
    with pytest.raises(ValueError, match="OneCycleLR: stepped 5 times, but total_steps is 4"):
        sched.step()


def test_stepping_the_scheduler_before_the_optimizer_warns_once():
    opt = _ours(lr=0.1)
    sched = L.ExponentialLR(opt, 0.5)
    with pytest.warns(UserWarning, match=r"ExponentialLR.step\(\) was called before optimizer.step\(\)"):
        sched.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
        opt.step()
        L.StepLR(opt, 3).step()  # the optimizer has stepped: no warning


class NoMomentum(optim.Optimizer):
    def __init__(self, params):
        super().__init__(params, dict(lr=0.1, maximize=False))

    def _check(self, group):
        pass


BAD = [
    (lambda o: L.StepLR(o, 0), ValueError, "StepLR: invalid step_size 0; expected an integer >= 1"),
    (lambda o: L.StepLR(o, 2.5), TypeError, "StepLR: step_size must be an integer, got 2.5"),
    (lambda o: L.StepLR(o, 2, gamma=-0.1), ValueError, "StepLR: invalid gamma -0.1"),
    (lambda o: L.StepLR(o, 2, gamma="0.1"), TypeError, "StepLR: gamma must be a real number"),
    (lambda o: L.StepLR(o, 2, last_epoch=-2), ValueError, "StepLR: invalid last_epoch -2"),
    (lambda o: L.StepLR("sgd", 2), TypeError, "StepLR: optimizer must be an Optimizer, got str"),
    (lambda o: L.MultiStepLR(o, [3, -1]), ValueError, "MultiStepLR: invalid milestones -1"),
    (lambda o: L.MultiStepLR(o, [3, 4.0]), TypeError, "MultiStepLR: milestones must be an integer, got 4.0"),
    (lambda o: L.MultiStepLR(o, 3), TypeError, "MultiStepLR: milestones must be a list of epochs"),
    (lambda o: L.ExponentialLR(o, float("nan")), ValueError, "ExponentialLR: invalid gamma nan"),
    (lambda o: L.CosineAnnealingLR(o, 0), ValueError, "CosineAnnealingLR: invalid T_max 0"),
    (lambda o: L.CosineAnnealingLR(o, 10, eta_min=-1), ValueError, "CosineAnnealingLR: invalid eta_min -1"),
    (lambda o: L.LambdaLR(o, [lambda e: 1.0]), ValueError, "LambdaLR: lr_lambda must be a function or a list of 2"),
    (lambda o: L.LambdaLR(o, 0.5), ValueError, "LambdaLR: lr_lambda must be a function"),
    (lambda o: L.OneCycleLR(o, 1.0), ValueError, "OneCycleLR: give total_steps, or epochs and steps_per_epoch"),
    (lambda o: L.OneCycleLR(o, 1.0, total_steps=0), ValueError, "OneCycleLR: invalid total_steps 0"),
    (lambda o: L.OneCycleLR(o, 1.0, epochs=2, steps_per_epoch=-1), ValueError, "OneCycleLR: invalid steps_per_epoch"),
    (lambda o: L.OneCycleLR(o, 1.0, 10, pct_start=1.5), ValueError, "OneCycleLR: invalid pct_start 1.5"),
    (lambda o: L.OneCycleLR(o, 1.0, 10, pct_start=0.1), ValueError, "pct_start=0.1 with total_steps=10 leaves a phase"),
    (lambda o: L.OneCycleLR(o, 1.0, 10, anneal_strategy="exp"), ValueError, "anneal_strategy must be 'cos' or"),
    (lambda o: L.OneCycleLR(o, 1.0, 10, div_factor=0), ValueError, "OneCycleLR: invalid div_factor 0"),
    (lambda o: L.OneCycleLR(o, [1.0], 10), ValueError, "OneCycleLR: max_lr must be a number or a list of 2"),
    (lambda o: L.OneCycleLR(o, -1.0, 10), ValueError, "OneCycleLR: invalid max_lr -1.0"),
    (lambda o: L.OneCycleLR(optim.Adam(o.param_groups[0]["params"]), 1.0, 10, max_momentum=1.0), ValueError,
     "OneCycleLR: invalid max_momentum 1.0; expected a finite number in \\[0, 1\\)"),
    (lambda o: L.OneCycleLR(NoMomentum(o.param_groups[0]["params"]), 1.0, 10), ValueError,
     "OneCycleLR: cycle_momentum needs an optimizer with momentum or betas, not NoMomentum"),
]


@pytest.mark.parametrize("make,exc,match", BAD, ids=[m[:40] for _, _, m in BAD])
def test_bad_arguments_raise_naming_the_argument(make, exc, match):
    with pytest.raises(exc, match=match):
        make(_ours(lr=0.1))


@pytest.mark.parametrize("kw", [dict(), dict(mode="max", factor=0.5, patience=2), dict(threshold_mode="abs",
                                threshold=0.05, patience=1, cooldown=2), dict(patience=0, min_lr=[0.02, 0.001]),
                                dict(mode="max", threshold_mode="abs", threshold=0.1, patience=1, eps=0.05)])
def test_reduce_lr_on_plateau_equals_torch(kw, torch):
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1, 0.5, 6), 0.5 + 0.01 * rng.standard_normal(30)])
    params = [Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)]
    tparams = [torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)]
    opt = optim.SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.05}], lr=0.1)
    topt = torch.optim.SGD([{"params": [tparams[0]]}, {"params": [tparams[1]], "lr": 0.05}], lr=0.1)
    ours, theirs = L.ReduceLROnPlateau(opt, **kw), torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    for m in metrics:
        ours.step(m)
        theirs.step(m)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
    assert ours.num_bad_epochs == theirs.num_bad_epochs and ours.best == theirs.best


def test_reduce_lr_on_plateau_refuses_bad_arguments_by_name():
    opt = optim.SGD([Tensor(np.ones(2), requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: invalid factor 1.0; .* \[0, 1\)"):
        optim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        optim.lr_scheduler.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="metrics"):
        optim.lr_scheduler.ReduceLROnPlateau(opt).step(float("nan"))
