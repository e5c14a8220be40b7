"""The experiments in their quick setting: well-formed checks, their directions where the quick runs are strong enough,
verdicts computed from the checks, and the same numbers for the same seed whatever runs them."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

from quick_demo import quick_demo  # noqa: E402

from bnlab import stats  # noqa: E402
from bnlab.demo import LONGEST_FIRST  # noqa: E402
from bnlab.experiments import EXPERIMENTS, run_experiment  # noqa: E402
from bnlab.experiments.regularization import slopes  # noqa: E402
from bnlab.runner import Runner  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    out, _ = quick_demo(tmp_path_factory.getbasetemp())
    return {name: json.loads((out / f"{name}.json").read_text()) for name in EXPERIMENTS}


def test_every_experiment_wrote_its_json_with_well_formed_checks(results):
    for name, r in results.items():
        assert r["name"] == name and r["quick"] and r["seed"] == 0
        assert r["figures"] and all(f["caption"] for f in r["figures"])
        assert r["checks"], name
        for c in r["checks"]:
            assert c["low"] <= c["effect"] + 1e-12 and c["effect"] <= c["high"] + 1e-12, c
            assert c["outcome"] == stats.outcome(c["low"], c["high"], c["direction"], c["margin"]), c
            assert c["claim"] and c["unit"] and c["method"] and c["n"] >= 1
        assert r["verdict"] == stats.verdict([stats.Check(**c) for c in r["checks"]])
        assert r["rule"].startswith("Each check is an effect")


def checks(result: dict) -> dict[str, dict]:
    """The checks of a result by the start of their claim (up to the first colon or parenthesis)."""
    return {c["claim"].split(":")[0].split(" (")[0]: c for c in result["checks"]}


def test_speed_compares_each_method_at_its_own_best_learning_rate(results):
    r = results["speed"]
    fewer, larger, fails, raw = r["checks"]
    assert fewer["outcome"] == "supported" and fewer["n"] == 3 and larger["outcome"] == "supported"
    assert fails["method"].startswith("exact binomial (Clopper-Pearson)")  # a rate, never coded as an accuracy
    assert raw["direction"] == "within" and raw["margin"] and raw["reason"]
    n = r["numbers"]
    lrs = n["settings"]["lrs"]
    assert all(lr in lrs for m in ("BN", "no BN") for lr in n["chosen_lr"][m])
    # no BN fails at the top learning rate (diverges or collapses to chance), BN does not
    assert n["failed"]["no BN"][str(lrs[-1])] == 3 and n["failed"]["BN"][str(lrs[-1])] == 0
    for m, by_lr in n["failure_rate_low_high"].items():
        for lr, (share, low, high) in by_lr.items():
            assert share == n["failed"][m][lr] / 3 and 0 <= low <= share <= high <= 1
    # a diverged run has no accuracy: its record says so, and it is never the chosen one
    runs = n["runs"]["no BN, raw inputs"]
    assert all(rr["final_test_acc"] == "diverged" for v in runs.values() for rr in v if rr["diverged"])
    assert n["chosen_lr"]["no BN, raw inputs"] == [None] * 3


def test_covariate_shift_directions(results):
    r = results["covariate-shift"]
    outcomes = [c["outcome"] for c in r["checks"]]
    # BN keeps the sigmoid inputs still (Ioffe)... but not Santurkar's gradient view of the shift
    assert outcomes == ["supported", "contradicted", "contradicted"]
    no, bn = r["numbers"]["runs"]["no BN"], r["numbers"]["runs"]["BN"]
    assert all(-1 <= c <= 1 for c in bn["ics_cos"] + no["ics_cos"])
    assert len(no["unit0_percentiles"]) == 3 and len(no["scatter"]) == 4
    # BN's gamma and beta fix its output moments: the percentile check cannot fail, so it is a sanity check and
    # the verdict rests on Santurkar's measure alone
    assert [c["kind"] for c in r["checks"]] == ["sanity", "evidence", "evidence"]
    assert r["verdict"] == "contradicted"


def test_noise_follows_one_over_sqrt_b(results):
    n = results["noise"]["numbers"]
    assert abs(n["additive_ratio_64_to_512"] / math.sqrt(8) - 1) < 0.15
    first = results["noise"]["checks"][0]
    assert first["direction"] == "within" and first["outcome"] == "supported"
    assert first["kind"] == "sanity" and first["p_holm"] is None  # the central limit theorem, not evidence
    mul = n["multiplicative"]
    assert all(a > b for a, b in zip(mul, mul[1:]))  # shrinks with every doubling of B
    assert n["multiplicative"][0] > n["prediction_multiplicative"][0]  # heavier tails than a Gaussian
    per_unit = n["per_unit_quartiles"]  # (median, 25%, 75%) over units: the unit's own law is the closer one
    assert all(abs(own[0] - 1) < abs(g[0] - 1) for own, g in zip(per_unit["own_kurtosis"], per_unit["gaussian"]))
    assert n["kurtosis_median"] < n["kurtosis_mean"]  # a few heavy-tailed units pull the mean
    entries = " ".join(f["caption"] for f in results["noise"]["figures"] if f["stem"] == "noise_graph")
    assert "additive at sub" in entries and "multiplicative at div" in entries and "from the random" in entries


def test_regularization_sweeps_the_virtual_batch_at_a_fixed_batch(results):
    r = results["regularization"]
    n = r["numbers"]
    assert n["datasets"] == ["digits", "mnist", "mnist1d"] and set(n["runs_virtual_batch"]) == set(n["datasets"])
    runs = n["runs_virtual_batch"]["digits"]
    assert list(runs) == ["16", "64", "512"] and n["batch"] == 512
    # only the virtual batch varies: the same steps, lr and so epochs for every v
    assert len({rr["epochs"] for rs in runs.values() for rr in rs}) == 1
    assert all(len(rs) == len(n["seeds"]["digits"]) == 3 for rs in runs.values())
    seeds = n["seeds"]  # MNIST-5k gets twice the seeds: the same first ones, then more from the same block
    assert seeds["mnist"][:3] == seeds["digits"] == [0, 1, 2] and len(set(seeds["mnist"])) == 6
    assert all(len(rs) == 6 for rs in n["runs_virtual_batch"]["mnist"].values())
    claims = [c["claim"] for c in r["checks"]]
    assert "primary: test loss rises with GhostBN's virtual batch" in claims[0]
    assert all(c["kind"] == "evidence" and c["method"].startswith("paired") for c in r["checks"])
    # the trend test is the mean over seeds of each seed's slope of test loss against log2(v)
    loss = np.array([[rr["test_loss"] for rr in runs[v]] for v in runs]).T
    assert math.isclose(r["checks"][0]["effect"], float(np.mean(slopes(loss, [16, 64, 512]))))
    # the 2 x 2: the same epochs at both batch sizes, lr scaled with the batch
    cells = n["runs_2x2"]["digits"]
    assert set(cells) == {"BN @64", "BN @512", "no BN @64", "no BN @512"}
    assert cells["BN @64"][0]["epochs"] == cells["BN @512"][0]["epochs"] == n["epochs_2x2"]["digits"]
    for f in r["figures"]:
        assert f["stem"].startswith("regularization_")
    bands = n["summary_mean_low_high"]["digits"]["virtual_batch"]["test_acc"]
    assert all(0 <= low <= high <= 1 for _, low, high in bands)  # accuracy intervals stay within [0, 1]


def test_slopes_are_per_doubling_of_the_virtual_batch():
    values = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])  # two seeds over v = 16, 32, 64
    assert slopes(values, [16, 32, 64]) == pytest.approx([1.0, 0.0])


def test_test_time_eval_predictions_do_not_depend_on_the_batch(results):
    r = results["test-time"]
    n = r["numbers"]
    assert n["batch_dependence"]["eval"]["max_logit_diff"] < 1e-4
    assert n["one_at_a_time_max_logit_diff"] < 1e-4 and n["acc_one_at_a_time"] == n["acc_running_stats"]
    assert n["batch_dependence"]["train"]["max_logit_diff"] > 1e-2
    acc = n["acc_test_batch_stats"]
    assert acc["2"] < acc["16"] < n["acc_running_stats"] + 1e-9  # small test batches hurt
    kinds = {c["claim"].split(" (")[0].split(",")[0]: (c["kind"], c["outcome"]) for c in r["checks"]}
    assert kinds["while the weights change in training"] == ("evidence", "supported")  # the moving average's case
    assert kinds["with the weights frozen"] == ("sanity", "supported")  # the plain average's case
    assert kinds["the two averages' trainings took the same steps to bit-identical weights"] == ("sanity", "supported")
    assert n["while_training"]["cumulative (None)"]["var"] > n["while_training"]["momentum 0.1"]["var"]


def numbers(path: Path) -> dict:
    """A result's JSON without its provenance (which holds the wall time)."""
    record = json.loads(path.read_text())
    del record["provenance"]
    return record


def test_same_seed_same_numbers(tmp_path, tmp_path_factory):
    a = run_experiment("noise", quick=True, seed=3, out=tmp_path / "a", progress=False)
    b = run_experiment("noise", quick=True, seed=3, out=tmp_path / "b", progress=False)
    assert numbers(tmp_path / "a" / "noise.json") == numbers(tmp_path / "b" / "noise.json")
    assert a.checks == b.checks
    out, _ = quick_demo(tmp_path_factory.getbasetemp())
    assert json.loads((out / "noise.json").read_text())["numbers"]["additive"] != list(a.numbers["additive"])
    # run alone, an experiment gives the numbers it gave inside the demo
    run_experiment("regularization", quick=True, seed=0, out=tmp_path / "c", progress=False)
    assert numbers(tmp_path / "c" / "regularization.json") == numbers(out / "regularization.json")


def test_numbers_do_not_depend_on_where_the_runs_ran(tmp_path):
    """--jobs 1, --jobs 2 and a Dask LocalCluster of 2 workers give identical JSON (every run seeded by its key)."""
    texts = []
    for name, runner in (
        ("jobs1", Runner(jobs=1, progress=False)),
        ("jobs2", Runner(jobs=2, progress=False)),
        ("dask", Runner(jobs=2, scheduler="local", progress=False)),
    ):
        with runner:
            run_experiment("test-time", quick=True, seed=1, out=tmp_path / name, runner=runner)
        texts.append(numbers(tmp_path / name / "test-time.json"))
    assert texts[0] == texts[1] == texts[2]


def test_the_demo_schedules_every_experiment_once():
    assert sorted(LONGEST_FIRST) == sorted([*EXPERIMENTS, "timeline", "train-vs-eval", "bn-vs-ln"])


def test_unknown_experiment_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'speedy'.*speed"):
        run_experiment("speedy", out=tmp_path)


def test_init_gradients_grow_with_bn_and_stay_flat_without(results):
    r = results["init-gradients"]
    grows = r["checks"][0]
    assert grows["outcome"] == "supported" and grows["effect"] > 0.2
    rates = r["numbers"]["rate_mean_low_high"]
    deep = max(r["numbers"]["depths"])
    assert rates[f"BN, depth {deep}, batch 8"][0] > rates[f"BN, depth {deep}, batch 32"][0]  # smaller batch, faster
    assert abs(rates[f"no BN (He), depth {deep}, batch 32"][0] - 1) < 0.15
    assert math.isclose(r["numbers"]["paper_rate"], math.pi / (math.pi - 1))


def test_small_batch_bn_falls_group_norm_does_not(results):
    r = results["small-batch"]
    falls, _, gn_beats, _, _, _, fitted = r["checks"]
    assert falls["outcome"] == "supported" and gn_beats["outcome"] == "supported"
    assert [c["kind"] for c in r["checks"]] == ["evidence"] * 6 + ["sanity"]  # convergence is a property, not support
    assert fitted["p_holm"] is None
    curves = r["numbers"]["mean_low_high"]
    per_norm = curves["test accuracy, per normalizer"]
    assert set(per_norm) == {"BatchNorm", "BatchRenorm", "GroupNorm", "no norm"}
    assert set(curves["BatchNorm evaluated three ways"]) == {
        "running averages", "population statistics", "train mode, test batches of B"}
    assert per_norm["GroupNorm"]["2"][0] > per_norm["BatchNorm"]["2"][0] + 0.1
    # matched epochs: the steps halve as the batch doubles
    steps = {int(b): s for b, s in r["numbers"]["steps"].items()}
    assert {b * s for b, s in steps.items()} == {r["numbers"]["epochs"] * r["numbers"]["train_size"]}
    run = r["numbers"]["runs"]["bn"]["2"][0]
    assert 0 <= run["test_acc_batch_mode"] <= 1 and run["test_loss_population"] > 0


def test_smoothness_bn_landscape_is_smoother(results):
    r = results["smoothness"]
    checks = {c["claim"].split(" (")[0]: c for c in r["checks"]}
    assert checks["with BN the gradient changes less along the gradient"]["effect"] > 0
    assert checks["noisy BN trains faster than no BN"]["direction"] == "greater"  # an interval, no margin
    assert all(c["margin"] is None for c in r["checks"])
    converged = [c for c in r["checks"] if c["kind"] == "sanity"]
    assert [c["outcome"] for c in converged] == ["supported"], converged
    assert len(r["numbers"]["runs"]["noisy BN"]) == 3 and r["numbers"]["runs"]["BN"][0]["top_eigenvalue"]


def test_power_iteration_finds_the_hessians_top_eigenvalue():
    from bnlab.experiments.smoothness import top_eigenvalue
    from bnlab.training import mlp
    from tinygrad_bn import Tensor, grad

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.integers(0, 3, 16)
    model = mlp([3, 4, 3], norm="bn", seed=0).to(np.float64)
    model.train()
    params = list(model.parameters())
    sizes = [p.data.size for p in params]

    def hvp(flat):  # the Hessian's columns, each by double backward
        v = [Tensor(c.reshape(p.shape)) for c, p in zip(np.split(flat, np.cumsum(sizes)[:-1]), params)]
        gs = grad(model(Tensor(x)).cross_entropy(y), params, create_graph=True)
        return np.concatenate([h.data.ravel() for h in grad(sum((g * a).sum() for g, a in zip(gs, v)), params)])

    hessian = np.stack([hvp(e) for e in np.eye(sum(sizes))])
    assert np.allclose(hessian, hessian.T, atol=1e-10)
    eigenvalues = np.linalg.eigvalsh(hessian)
    largest = eigenvalues[np.argmax(np.abs(eigenvalues))]
    found, _, converged = top_eigenvalue(model, x, y, [rng.standard_normal(p.shape) for p in params], 500, tol=1e-9)
    assert converged and found == pytest.approx(largest, rel=1e-4)


def test_noisy_batch_norm_perturbs_each_example_with_a_distribution_redrawn_each_step():
    from bnlab.training import NoisyBatchNorm
    from tinygrad_bn import Tensor, jit

    layer = NoisyBatchNorm(256, generator=0)
    x = np.random.default_rng(0).standard_normal((512, 256)).astype(np.float32)
    clean = layer.bn(Tensor(x)).data
    first, second = layer(Tensor(x)).data, layer(Tensor(x)).data
    # per example: one scale and shift per unit would fit first = a * clean + b exactly; the noise of spread 0.1
    # on both leaves a residual of 0.1 * sqrt(1 + clean^2), about 0.14
    fits = [np.polyfit(clean[:, j], first[:, j], 1, full=True)[1][0] for j in range(256)]
    assert 0.1 < np.sqrt(np.mean(fits) / 512) < 0.2
    # per step: the units' mean shifts are redrawn, within [-1, 1], not zero
    shifts = [(y - clean).mean(0) for y in (first, second)]
    assert np.abs(shifts[0]).max() < 1.2 and np.abs(shifts[0]).mean() > 0.3
    assert np.corrcoef(shifts[0], shifts[1])[0, 1] < 0.3
    layer.eval()
    assert np.array_equal(layer(Tensor(x)).data, layer.bn(Tensor(x)).data)
    layer.train()
    step = jit(lambda t: layer(t).sum())
    assert len({float(step(Tensor(x)).data) for _ in range(4)}) == 4  # a replay draws afresh
