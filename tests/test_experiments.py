"""The five experiments in their quick setting: the direction of each result, verdicts from the numbers, seeds."""

import contextlib
import functools
import io
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

from bnlab.cli import main  # noqa: E402
from bnlab.experiments import EXPERIMENTS, run_experiment, verdict  # noqa: E402


@functools.cache
def quick_demo(base: Path) -> tuple[Path, str]:
    """`tinygrad-bn demo --quick` run once per test process into ``base``: (output folder, what it printed)."""
    out = base / "quick-demo"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--quick", "--no-progress", "--out", str(out)]) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    out, _ = quick_demo(tmp_path_factory.getbasetemp())
    return {name: json.loads((out / f"{name}.json").read_text()) for name in EXPERIMENTS}


def test_every_experiment_wrote_its_json(results):
    for name, r in results.items():
        assert r["name"] == name and r["quick"] and r["seed"] == 0
        assert r["verdict"] in ("supported", "not supported", "mixed")
        assert r["figures"] and all(f["caption"] for f in r["figures"])


def test_verdict_rule():
    assert verdict(3, 3) == "supported" and verdict(0, 3) == "not supported" and verdict(1, 3) == "mixed"


def test_speed_bn_reaches_90_percent_first(results):
    n = results["speed"]["numbers"]
    runs = n["datasets"]["digits"]["runs"]["0.1"]
    steps_bn, steps_no = runs["BN"]["steps_to_90"], runs["no BN"]["steps_to_90"]
    assert steps_bn is not None and (steps_no is None or steps_bn < steps_no)
    assert runs["BN"]["final_acc"] > runs["no BN"]["final_acc"]
    assert n["bn_wins"] >= 1 and n["comparisons"] >= n["bn_wins"]
    scales = {k: v["final_acc"] for k, v in n["scales"]["runs"].items()}
    # wildly different feature scales: standardizing the inputs (or BN) is what makes lr 0.1 work
    assert scales["no BN, standardized inputs"] > scales["no BN, raw inputs"] + 0.3
    assert scales["BN, raw inputs"] > scales["no BN, raw inputs"] + 0.3
    passed = (n["bn_wins"] >= 2 * n["comparisons"] / 3) + n["bn_largest_lr_at_least_as_large"]
    assert results["speed"]["verdict"] == verdict(passed, 2)


def test_covariate_shift_directions(results):
    r = results["covariate-shift"]
    no, bn = r["numbers"]["runs"]["no BN"], r["numbers"]["runs"]["BN"]
    assert bn["shift_layer_mean"] < no["shift_layer_mean"]  # BN keeps the sigmoid inputs still (Ioffe)...
    assert bn["ics_relative_mean"] > no["ics_relative_mean"]  # ...but not the gradient view (Santurkar)
    assert all(-1 <= c <= 1 for c in bn["ics_cos"] + no["ics_cos"])
    assert len(no["unit0_percentiles"]) == 3 and len(no["scatter"]) == 4
    assert r["verdict"] == "mixed"


def test_noise_follows_one_over_sqrt_b(results):
    n = results["noise"]["numbers"]
    assert abs(n["additive_ratio_64_to_512"] / math.sqrt(8) - 1) < 0.15
    assert abs(n["slopes"]["additive"] + 0.5) < 0.1
    mul = n["multiplicative"]
    assert all(a > b for a, b in zip(mul, mul[1:]))  # shrinks with every doubling of B
    assert n["multiplicative"][0] > n["prediction_multiplicative"][0]  # heavier tails than a Gaussian
    entries = " ".join(f["caption"] for f in results["noise"]["figures"] if f["stem"] == "noise_graph")
    assert "additive at sub" in entries and "multiplicative at div" in entries and "from the random" in entries


def test_regularization_directions(results):
    n = results["regularization"]["numbers"]
    assert set(n["summary"]) == {
        "no BN @64",
        "BN @64",
        "BN @512",
        "dropout @64",
        "BN + dropout @64",
        "GhostBN @512 (64)",
    }
    assert all(len(runs) == len(n["seeds"]) >= 2 for runs in n["runs"].values())
    s = n["summary"]
    assert s["BN @64"]["test_acc"]["mean"] > s["no BN @64"]["test_acc"]["mean"]
    checks = n["bn64_beats_no_bn"] + n["bn64_smaller_gap_than_bn512"] + n["ghost_gap_closer_to_bn64"]
    assert results["regularization"]["verdict"] == verdict(checks, 3)


def test_test_time_eval_predictions_do_not_depend_on_the_batch(results):
    n = results["test-time"]["numbers"]
    assert n["batch_dependence"]["eval"]["max_logit_diff"] < 1e-4
    assert n["one_at_a_time_max_logit_diff"] < 1e-4 and n["acc_one_at_a_time"] == n["acc_running_stats"]
    assert n["batch_dependence"]["train"]["max_logit_diff"] > 1e-2
    acc = n["acc_test_batch_stats"]
    assert acc["2"] < acc["16"] < n["acc_running_stats"] + 1e-9  # small test batches hurt
    final = n["running_stats_final_relative_error"]
    assert final["cumulative (None)"]["var"] < final["momentum 0.3"]["var"]
    assert final["momentum 0.1"]["var"] < final["momentum 0.01"]["var"]  # too small a momentum is slow
    assert results["test-time"]["verdict"] == "supported"


def test_same_seed_same_numbers(tmp_path, tmp_path_factory):
    a = run_experiment("noise", quick=True, seed=3, out=tmp_path / "a", progress=False)
    b = run_experiment("noise", quick=True, seed=3, out=tmp_path / "b", progress=False)
    assert (tmp_path / "a" / "noise.json").read_text() == (tmp_path / "b" / "noise.json").read_text()
    assert a.numbers["additive"] == b.numbers["additive"]
    out, _ = quick_demo(tmp_path_factory.getbasetemp())
    assert json.loads((out / "noise.json").read_text())["numbers"]["additive"] != a.numbers["additive"]
    # run alone, an experiment with dropout gives the numbers it gave inside the demo
    run_experiment("regularization", quick=True, seed=0, out=tmp_path / "c", progress=False)
    assert (tmp_path / "c" / "regularization.json").read_text() == (out / "regularization.json").read_text()


def test_unknown_experiment_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'speedy'.*speed"):
        run_experiment("speedy", out=tmp_path)
