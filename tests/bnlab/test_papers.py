"""The four paper experiments (scale-invariance, residual, bn-only, mc-batchnorm): their quick runs inside the quick
demo (3 seeds), the directions the quick run is strong enough for, and their pieces against direct computations."""

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

from quick_demo import quick_demo  # noqa: E402

from bnlab.experiments import EXPERIMENTS  # noqa: E402
from bnlab.experiments.bn_only import trainable  # noqa: E402
from bnlab.experiments.mc_batchnorm import ece, mc_probabilities  # noqa: E402
from bnlab.experiments.residual import ResidualMLP  # noqa: E402
from bnlab.experiments.scale_invariance import invariance  # noqa: E402
from bnlab.training import load, mlp, set_bn_statistics, train  # noqa: E402
from tinygrad_bn import Tensor, no_grad  # noqa: E402

PAPERS = ("scale-invariance", "residual", "bn-only", "mc-batchnorm")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    out, _ = quick_demo(tmp_path_factory.getbasetemp())
    return {name: json.loads((out / f"{name}.json").read_text()) for name in PAPERS}


def outcomes(result: dict) -> list[tuple[str, str]]:
    return [(c["kind"], c["outcome"]) for c in result["checks"]]


def test_the_papers_are_registered_with_evidence_checks_and_figures(results):
    assert set(PAPERS) <= set(EXPERIMENTS)
    for name, r in results.items():
        assert r["quick"] and len(r["numbers"]["seeds"]) == 3 and r["figures"], name
        assert any(c["kind"] == "evidence" for c in r["checks"]), name
        assert all(c["low"] <= c["high"] for c in r["checks"])


def test_scale_invariance_weight_decay_shrinks_w_and_raises_the_effective_lr(results):
    r = results["scale-invariance"]
    # the four sanity checks (rescaling, 1/c gradient, orthogonality, growth without decay) hold; the two weight
    # checks are strong even in the quick run; the accuracy check is reported either way
    assert outcomes(r)[:6] == [("sanity", "supported")] * 4 + [("evidence", "supported")] * 2
    norms = r["numbers"]["norm_mean_low_high"]
    decayed, plain = norms["weight decay 0.01"], norms["no weight decay"]
    assert decayed[-1][0] < decayed[0][0] and plain[-1][0] > plain[0][0]


def test_rescaling_a_layer_before_bn_leaves_the_loss_and_divides_the_gradient():
    split = load("digits", 0)
    model = mlp([split.n_features, 32, 32, 10], norm="bn", bias=False, seed=0)
    found = invariance(model, split.X_train[:128], split.y_train[:128])
    assert found["loss_change"] < 1e-4 and found["grad_change"] < 1e-3 and found["cos_grad_weight"] < 1e-4
    unnormalized = mlp([split.n_features, 32, 32, 10], norm="none", bias=False, seed=0)  # the control: no BN
    plain = invariance(unnormalized, split.X_train[:128], split.y_train[:128])
    assert plain["loss_change"] > 100 * found["loss_change"] and plain["grad_change"] > 0.5


def test_residual_bn_downscales_the_branches_and_no_norm_explodes(results):
    r = results["residual"]
    assert [c["outcome"] for c in r["checks"][:3]] == ["supported"] * 3
    assert r["checks"][3]["kind"] == "sanity"  # SkipInit's blocks are the identity at init: it cannot explode
    assert r["checks"][4]["outcome"] == "supported" and r["checks"][4]["effect"] > 1  # decades beyond the margin
    grads = r["numbers"]["log10_stem_grad_mean_low_high"]
    assert grads["no BN"][-1][0] > grads["BN"][-1][0] + 2


def test_skipinit_blocks_are_the_identity_at_init():
    split = load("digits", 0)
    x = Tensor(split.X_train[:16])
    model = ResidualMLP(split.n_features, 5, "skipinit", seed=0)
    with no_grad():
        np.testing.assert_array_equal(model.blocks(model.stem(x)).data, model.stem(x).data)
    with pytest.raises(ValueError, match="unknown variant 'ln'"):
        ResidualMLP(split.n_features, 5, "ln", seed=0)


def test_bn_only_beats_chance_and_all_parameters_beat_bn_only(results):
    r = results["bn-only"]
    above_chance, _, all_beat = r["checks"]
    assert above_chance["outcome"] == all_beat["outcome"] == "supported"
    trained = r["numbers"]["trained_parameters"]
    assert trained["bn"] == trained["random"] == 2 * 3 * 128 and trained["all"] > 40 * trained["bn"]


def test_bn_only_trains_exactly_the_chosen_parameters():
    split = load("digits", 0)
    for mode in ("bn", "random"):
        model = mlp([split.n_features, 16, 16, 10], norm="bn", seed=0)
        before = {k: v.copy() for k, v in model.state_dict().items()}
        count, after_step = trainable(model, mode, seed=0)
        train(model, split, steps=5, batch_size=32, lr=0.5, seed=0, progress=False, after_step=after_step)
        changed = {k: int((v != before[k]).sum()) for k, v in model.state_dict().items()
                   if k.endswith((".weight", ".bias"))}
        bn_keys = [k for k in changed if k.startswith(("1.", "4."))]  # the two BatchNorm1d layers' weight and bias
        assert count == 2 * 2 * 16
        if mode == "bn":
            assert sum(changed[k] for k in bn_keys) == count and sum(changed.values()) == count
        else:
            assert sum(changed[k] for k in bn_keys) == 0 and 0 < sum(changed.values()) <= count
    with pytest.raises(ValueError, match="unknown mode"):
        trainable(model, "gamma", seed=0)


def test_ece_against_a_direct_computation():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10) * 0.3, size=500)
    y = rng.integers(0, 10, 500)
    conf, right = probs.max(1), probs.argmax(1) == y
    edges = np.linspace(0, 1, 16)
    direct = sum(abs(right[m].mean() - conf[m].mean()) * m.mean()
                 for lo, hi in zip(edges[:-1], edges[1:]) if (m := (conf > lo) & (conf <= hi)).any())
    assert ece(probs, y) == pytest.approx(direct)
    assert ece(np.eye(10)[y], y) == 0.0  # certain and always right


def test_mc_batchnorm_normalizes_with_the_batch_and_restores_the_running_statistics():
    split = load("digits", 0)
    model = mlp([split.n_features, 16, 10], norm="bn", seed=0)
    train(model, split, steps=20, batch_size=32, lr=0.1, seed=0, progress=False)
    saved = {k: v.copy() for k, v in model.state_dict().items()}
    batch = split.X_train[:64]
    means = mc_probabilities(model, split.X_test, split.X_train, 3, 64, np.random.default_rng(0))
    assert len(means) == 3 and np.allclose(means[-1].sum(1), 1)
    assert all(np.array_equal(v, saved[k]) for k, v in model.state_dict().items())
    # the batch's own statistics in eval mode give the train-mode outputs on that batch
    set_bn_statistics(model, batch)
    model.eval()
    with no_grad():
        eval_out = model(Tensor(batch)).data
    model.train()
    with no_grad():
        train_out = model(Tensor(batch)).data
    np.testing.assert_allclose(eval_out, train_out, rtol=1e-4, atol=1e-5)


def test_mc_batchnorm_scores_every_number_of_passes(results):
    n = results["mc-batchnorm"]["numbers"]
    assert list(n["summary_mean_low_high"]["nll"]) == ["eval"] + [f"T={t}" for t in n["passes"]]
    pooled = n["reliability_pooled"]["eval"]
    assert sum(pooled["count"]) == 3 * 2000 and len(pooled["count"]) == n["bins"]
    assert [c["direction"] for c in results["mc-batchnorm"]["checks"]] == ["greater", "greater", "within"]
