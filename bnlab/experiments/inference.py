"""Test time: what should BN normalize with once training is over?

A BN MLP trained on digits is evaluated three ways: with its running statistics (eval mode), with the
statistics of the test batch (train mode) at several test-batch sizes, and one example at a time. One test
example is then put into many different batches: its eval prediction must not move, its train-mode one
does. Finally the first BN layer's running statistics are restarted and followed against the true
population statistics for several momentums.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, nn, no_grad

from ..training import Split, accuracy, load, logits, minibatches, mlp, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

SAME = 1e-4  # max |logit difference| still counted as "the same prediction" (float32 round-off)
SAME_WHY = "float32 round-off of logits of order 10 reordered by a different batch is below 1e-5; 1e-4 leaves room"


def batch_stats_accuracy(model: nn.Module, split: Split, batch: int) -> float:
    """Test accuracy when BN normalizes each test batch of ``batch`` rows with its own statistics."""
    snapshot = model.state_dict()
    n = len(split.y_test) - len(split.y_test) % batch
    correct = sum(
        int(
            (logits(model, split.X_test[i : i + batch], train_mode=True).argmax(1) == split.y_test[i : i + batch]).sum()
        )
        for i in range(0, n, batch)
    )
    model.load_state_dict(snapshot)
    return correct / n


def batch_dependence(model: nn.Module, split: Split, batches: int, batch: int, rng: np.random.Generator) -> dict:
    """Logits of test example 0 inside ``batches`` random batches of others, in eval and in train mode."""
    snapshot = model.state_dict()
    x0 = split.X_test[:1]
    others = split.X_test[1:]
    seen: dict[str, list] = {"eval": [], "train": []}
    for _ in range(batches):
        xb = np.concatenate([x0, others[rng.choice(len(others), batch - 1, replace=False)]])
        seen["eval"].append(logits(model, xb)[0])
        seen["train"].append(logits(model, xb, train_mode=True)[0])
        model.load_state_dict(snapshot)  # a train-mode pass moves the running statistics
    out = {}
    for mode, rows in seen.items():
        rows = np.array(rows, dtype=np.float64)
        out[mode] = {
            "max_logit_diff": float((rows.max(0) - rows.min(0)).max()),
            "classes_predicted": sorted({int(c) for c in rows.argmax(1)}),
            "logits": rows,
        }
    return out


def running_convergence(
    model: nn.Sequential, split: Split, momentums: list[float | None], steps: int, batch: int, seed: int
) -> dict:
    """Error of the first BN layer's running statistics against the population's (:func:`population_error`),
    step by step, with the trained weights fixed; only the running statistics restart from (0, 1) for each momentum.
    """
    snapshot = model.state_dict()
    bn = next(m for m in model if isinstance(m, nn.BatchNorm1d))
    with no_grad():
        z = model[0](Tensor(split.X_train)).data.astype(np.float64)
    curves = {}
    for momentum in momentums:
        bn.momentum = momentum
        bn.running_mean.data[...] = 0
        bn.running_var.data[...] = 1
        bn.num_batches_tracked.data[...] = 0
        stream = minibatches(split.X_train, split.y_train, batch, np.random.default_rng(seed))
        err_mean, err_var = [], []
        for _ in range(steps):
            logits(model, next(stream)[0], train_mode=True)
            err = population_error(bn, z)
            err_mean.append(err["mean"])
            err_var.append(err["var"])
        curves["cumulative (None)" if momentum is None else f"momentum {momentum}"] = {"mean": err_mean, "var": err_var}
    bn.momentum = 0.1
    model.load_state_dict(snapshot)
    return curves


def population_error(bn: nn.BatchNorm1d, z: np.ndarray) -> dict[str, float]:
    """Error of ``bn``'s running statistics against the statistics of its input ``z`` over the whole training set:
    RMS over units of (running_mean - mu)/sigma and of running_var/sigma^2 - 1."""
    mu, var = z.mean(0), z.var(0)
    return {
        "mean": float(np.sqrt((((bn.running_mean.data - mu) ** 2) / var).mean())),
        "var": float(np.sqrt(((bn.running_var.data / var - 1) ** 2).mean())),
    }


def while_training(split: Split, hidden: int, steps: int, seed: int) -> tuple[nn.Sequential, dict]:
    """Train the same net twice, its BN layers keeping a moving average (momentum 0.1) in one and a cumulative
    average (momentum=None) in the other: train mode normalizes with batch statistics, so both take the same
    steps to the same weights; only the running statistics differ. Returns the first net and, per average, the
    first BN layer's error against the final population statistics and the eval-mode test accuracy."""
    found, nets = {}, []
    for name, momentum in (("momentum 0.1", 0.1), ("cumulative (None)", None)):
        model = mlp([split.n_features, hidden, hidden, 10], norm="bn", seed=seed)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.momentum = momentum
        train(model, split, steps=steps, batch_size=64, lr=0.1, momentum=0.9, seed=seed, eval_every=steps,
              progress=False)
        with no_grad():
            z = model[0](Tensor(split.X_train)).data.astype(np.float64)
        bn = next(m for m in model if isinstance(m, nn.BatchNorm1d))
        found[name] = {**population_error(bn, z), "test_acc": accuracy(model, split.X_test, split.y_test)}
        nets.append(model)
    same = all(np.array_equal(a.data, b.data) for a, b in zip(nets[0].parameters(), nets[1].parameters()))
    return nets[0], {**found, "same_weights": same}


def one_run(*, seed: int, hidden: int, steps: int, batches: int, conv_steps: int) -> dict:
    """Train one BN net on digits, then evaluate it every way the experiment compares."""
    split = load("digits", seed)
    model, trained = while_training(split, hidden, steps, seed)
    eval_logits = logits(model, split.X_test)
    one = np.concatenate([logits(model, split.X_test[i : i + 1]) for i in range(len(split.y_test))])
    sizes = [2, 4, 16, 64, len(split.y_test)]
    dep = batch_dependence(model, split, batches=batches, batch=32, rng=np.random.default_rng(seed))
    conv = running_convergence(model, split, MOMENTUMS, steps=conv_steps, batch=64, seed=seed)
    return {
        "acc_running_stats": float((eval_logits.argmax(1) == split.y_test).mean()),
        "acc_one_at_a_time": float((one.argmax(1) == split.y_test).mean()),
        "one_at_a_time_max_logit_diff": float(np.abs(one - eval_logits).max()),
        "acc_test_batch_stats": {str(b): batch_stats_accuracy(model, split, b) for b in sizes},
        "batch_dependence": dep,
        "running_stats_curves": conv,
        "running_stats_final_relative_error": {
            k: {"mean": v["mean"][-1], "var": v["var"][-1]} for k, v in conv.items()
        },
        "while_training": trained,
    }


MOMENTUMS = [0.01, 0.1, 0.3, None]


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    ss = seeds
    task = {
        "hidden": 64 if quick else 128,
        "steps": 80 if quick else 300,
        "batches": 10 if quick else 50,
        "conv_steps": 60 if quick else 200,
    }
    per_seed = runner.map(one_run, [{"seed": s, **task} for s in ss], desc="test-time")
    first = per_seed[0]
    dep, conv = first["batch_dependence"], first["running_stats_curves"]

    def each(*keys: str) -> list[float]:
        values = []
        for r in per_seed:
            for k in keys:
                r = r[k]
            values.append(r)
        return values

    acc_running = float(np.mean(each("acc_running_stats")))
    acc_one = float(np.mean(each("acc_one_at_a_time")))
    acc_batch = {b: float(np.mean(each("acc_test_batch_stats", b))) for b in first["acc_test_batch_stats"]}
    final = {
        k: {q: float(np.mean(each("running_stats_final_relative_error", k, q))) for q in ("mean", "var")}
        for k in first["running_stats_final_relative_error"]
    }
    trained = {
        k: {q: float(np.mean(each("while_training", k, q))) for q in ("mean", "var", "test_acc")}
        for k in ("momentum 0.1", "cumulative (None)")
    }
    eval_diff = [
        max(a, b)
        for a, b in zip(each("batch_dependence", "eval", "max_logit_diff"), each("one_at_a_time_max_logit_diff"))
    ]
    checks = [
        stats.mean_effect(
            eval_diff,
            direction="within",
            margin=SAME, reason=SAME_WHY,
            unit="max |logit difference|",
            seed=seed,
            kind="sanity",  # eval-mode BN is a fixed affine map: a property of the code, tested as such
            claim=f"in eval mode a test example's logits do not depend on the batch around it nor on "
            f"being alone (within {SAME:g})",
        ),
        stats.mean_effect(
            np.log10(np.array(each("batch_dependence", "train", "max_logit_diff")) / SAME),
            unit=f"log10(max |logit difference| / {SAME:g})",
            seed=seed,
            kind="sanity",  # batch statistics depend on the batch by construction
            claim=f"with batch statistics (train mode) a test example's logits move with the batch around it (by more "
            f"than {SAME:g})",
        ),
        stats.paired(
            each("acc_running_stats"),
            each("acc_test_batch_stats", "4"),
            unit="test accuracy",
            seed=seed,
            kind="sanity",  # statistics of 4 examples are a poor estimate of the population's by construction
            claim="running statistics beat the statistics of test batches of 4 (accuracy difference)",
        ),
        stats.paired(
            each("while_training", "cumulative (None)", "var"),
            each("while_training", "momentum 0.1", "var"),
            seed=seed,
            unit="relative error of running_var",
            claim="while the weights change in training, a moving average (momentum 0.1) ends nearer the final "
            "population variance than a cumulative average (momentum=None), which keeps the statistics of early "
            "weights (error difference, cumulative - moving)",
        ),
        stats.paired(
            each("while_training", "momentum 0.1", "test_acc"),
            each("while_training", "cumulative (None)", "test_acc"),
            seed=seed,
            unit="test accuracy",
            bounds=stats.DIFFERENCE,
            claim="and its running statistics give the higher eval-mode test accuracy (moving - cumulative)",
        ),
        stats.paired(
            each("running_stats_final_relative_error", "momentum 0.3", "var"),
            each("running_stats_final_relative_error", "cumulative (None)", "var"),
            seed=seed,
            unit="relative error of running_var",
            kind="sanity",  # with fixed weights every batch comes from one population: the plain average must win
            claim="with the weights frozen, a cumulative average (momentum=None) estimates the population variance "
            "better than momentum 0.3 (error difference)",
        ),
        stats.exact(
            float(all(each("while_training", "same_weights"))) - 0.5,
            unit="all seeds (1) or not (0) - 1/2",
            kind="sanity",  # train mode normalizes with batch statistics: the running ones cannot steer training
            claim="the two averages' trainings took the same steps to bit-identical weights",
        ),
    ]
    numbers = {
        "seeds": ss,
        "settings": task,
        "acc_running_stats": acc_running,
        "acc_one_at_a_time": acc_one,
        "acc_test_batch_stats": acc_batch,
        "one_at_a_time_max_logit_diff": float(max(each("one_at_a_time_max_logit_diff"))),
        "batch_dependence": {k: {kk: vv for kk, vv in v.items() if kk != "logits"} for k, v in dep.items()},
        "running_stats_final_relative_error": final,
        "while_training": trained,
        "running_stats_curves": conv,
        "per_seed": {
            "acc_running_stats": each("acc_running_stats"),
            "acc_test_batch_stats_4": each("acc_test_batch_stats", "4"),
        },
    }

    plots.bars(
        {
            "test accuracy": {
                "running stats": acc_running,
                "cumulative average": trained["cumulative (None)"]["test_acc"],
                "one at a time": acc_one,
                **{f"test batches of {b}": a for b, a in acc_batch.items()},
            }
        },
        out / "test_time_accuracy",
    )
    plots.strips(
        {"eval mode (running stats)": dep["eval"]["logits"], "train mode (batch stats)": dep["train"]["logits"]},
        out / "test_time_dependence",
        xlabel="class",
        ylabel="logit of test example 0",
    )
    steps = list(range(1, len(next(iter(conv.values()))["mean"]) + 1))
    plots.panels(
        {
            "running mean": {k: (steps, v["mean"]) for k, v in conv.items()},
            "running var": {k: (steps, v["var"]) for k, v in conv.items()},
        },
        out / "test_time_running_stats",
        xlabel="batches seen (64 each)",
        ylabel=["relative error of running_mean", "relative error of running_var"],
        logy=True,
    )
    best = min(final, key=lambda k: final[k]["mean"])
    figures = [
        Figure(
            "test_time_accuracy",
            "Test accuracy by what BN normalizes with",
            f"Mean over {len(ss)} seeds. Running statistics give {acc_running:.3f} (kept as a cumulative average "
            f"during training instead of momentum 0.1: {trained['cumulative (None)']['test_acc']:.3f}; one example at "
            "a time: "
            f"{acc_one:.3f}, largest logit difference {numbers['one_at_a_time_max_logit_diff']:.1e}); normalizing "
            "with the test batch's own statistics gives "
            + ", ".join(f"{a:.3f} at batch {b}" for b, a in acc_batch.items())
            + ". The y axis starts at zero.",
        ),
        Figure(
            "test_time_dependence",
            "One test example's logits inside different batches",
            f"Test example 0 was put into {len(dep['eval']['logits'])} random batches of 32 (seed {seed}); each dot "
            f"is one of its logits. In eval mode they spread by at most {dep['eval']['max_logit_diff']:.1e} (classes "
            f"predicted: {dep['eval']['classes_predicted']}); in train mode by {dep['train']['max_logit_diff']:.3f} "
            f"(classes {dep['train']['classes_predicted']}).",
        ),
        Figure(
            "test_time_running_stats",
            "How the running statistics converge, by momentum",
            f"Error of the first BN layer's running mean (RMS of (running_mean - mu)/sigma) and variance (RMS of "
            f"running_var/sigma^2 - 1) against the population statistics, restarting from (0, 1) with the trained "
            f"weights fixed (seed {seed}'s curves). After the last batch, mean over {len(ss)} seeds: "
            + ", ".join(f"{k} {v['mean']:.3f} / {v['var']:.3f}" for k, v in final.items())
            + f" (mean / var); lowest mean error: {best}. With fixed weights every batch comes from one population, "
            "so the plain average of all batches must win; while training moves the weights it is the other way: "
            "at the end of training the moving average (momentum 0.1) is "
            f"{trained['momentum 0.1']['mean']:.3f} / {trained['momentum 0.1']['var']:.3f} off the final population "
            f"statistics, the cumulative average {trained['cumulative (None)']['mean']:.3f} / "
            f"{trained['cumulative (None)']['var']:.3f}.",
        ),
    ]
    finding = (
        f"Eval predictions moved by at most {max(eval_diff):.1e} across batches, train-mode ones by "
        f"{np.mean(each('batch_dependence', 'train', 'max_logit_diff')):.3f} on average; accuracy {acc_running:.3f} "
        f"with running statistics vs {acc_batch['4']:.3f} with test batches of 4 ({len(ss)} seeds)."
    )
    return Result(
        name="test-time",
        claim="At test time BN must use running (population) statistics: a prediction then does not "
        "depend on the rest of the batch, while batch statistics make it depend and hurt at small batches.",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
