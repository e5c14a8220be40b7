"""BN only: how far does training only BN's gamma and beta get, with every other weight frozen at random init?

Frankle, Schwab & Morcos 2021 (Training BatchNorm and Only BatchNorm: On the Expressive Power of Random Features
in CNNs): with all other weights frozen at their random initial values, training only the affine parameters of
the BN layers reaches accuracies far above chance (deep ResNets on CIFAR-10 about 80%), and more than training
the same number of other, randomly chosen parameters. Here: an MLP 64-128-128-128-10 with BN after each hidden
Linear layer on digits, three ways: only gamma and beta (768 parameters), the same number of randomly chosen
weights and biases of the Linear layers (gamma and beta frozen at 1 and 0), or all parameters. SGD with momentum
0.9; each way at its own learning rate, chosen from a grid by validation accuracy (the last 20% of the training
set, the first seeds) and then trained on the whole training set for every seed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import nn

from ..training import CHANCE, Split, accuracy, load, mlp, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

MODES = {"bn": "only gamma and beta", "random": "as many random weights", "all": "all parameters"}
HIDDEN, DEPTH, BATCH, MOMENTUM = 128, 3, 128, 0.9
SETTINGS = {True: {"lrs": [0.3, 1.0], "tuning_seeds": 1, "steps": 40},  # quick / full
            False: {"lrs": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0], "tuning_seeds": 2, "steps": 150}}
EVERY = 25  # steps between two test evaluations


def trainable(model: nn.Sequential, mode: str, seed: int) -> tuple[int, Callable[[int], None] | None]:
    """Make ``mode``'s parameters the only trained ones: "bn" freezes every non-BN parameter, "random" freezes
    gamma and beta and all but as many randomly chosen Linear weights and biases as BN has parameters (the others
    are put back after each step), "all" trains everything. Returns that count and the function to call after
    each step (None when nothing needs putting back).

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"bn-only: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    bn = [p for m in model if isinstance(m, nn.BatchNorm1d) for p in m.parameters()]
    others = [p for p in model.parameters() if all(p is not q for q in bn)]
    count = sum(p.data.size for p in bn)
    if mode == "all":
        return sum(p.data.size for p in model.parameters()), None
    for p in others if mode == "bn" else bn:
        p.requires_grad_(False)
    if mode == "bn":
        return count, None
    sizes = [p.data.size for p in others]
    chosen = np.zeros(sum(sizes), dtype=bool)
    chosen[np.random.default_rng(seed + 2).choice(chosen.size, count, replace=False)] = True
    ends = np.cumsum(sizes)
    frozen = [(p, ~chosen[end - size:end].reshape(p.shape), p.data.copy())
              for p, size, end in zip(others, sizes, ends, strict=True)]

    def put_back(step: int) -> None:
        for p, mask, kept in frozen:
            p.data[mask] = kept[mask]

    return count, put_back


def one_run(*, seed: int, mode: str, lr: float, steps: int, validation: bool) -> dict:
    """Train ``mode``'s parameters: test accuracy at init and every :data:`EVERY` steps (``validation``: on the last
    20% of the training set, trained on the rest) and how many parameters were trained."""
    split = load("digits", seed)
    if validation:
        n = len(split.y_train) * 4 // 5
        split = Split(split.X_train[:n], split.y_train[:n], split.X_train[n:], split.y_train[n:])
    model = mlp([split.n_features] + [HIDDEN] * DEPTH + [10], norm="bn", seed=seed)
    count, after_step = trainable(model, mode, seed)
    at_init = accuracy(model, split.X_test, split.y_test)
    with np.errstate(over="ignore", invalid="ignore"):  # the grid's largest rates can diverge: recorded below
        h = train(model, split, steps=steps, batch_size=BATCH, lr=lr, momentum=MOMENTUM, seed=seed,
                  eval_every=EVERY, progress=False, after_step=after_step)
    return {"trained": count, "diverged": h.diverged, "steps": [0, *h.steps], "acc": [at_init, *h.test_acc],
            "final_acc": h.final_acc if not h.diverged else None}


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    cfg = SETTINGS[quick]
    lrs, steps, tuning = cfg["lrs"], cfg["steps"], seeds[:cfg["tuning_seeds"]]
    found = iter(runner.map(one_run, [{"seed": s, "mode": m, "lr": lr, "steps": steps, "validation": True}
                                      for m in MODES for lr in lrs for s in tuning], desc="bn-only, learning rates"))
    validation = {m: {lr: [next(found) for _ in tuning] for lr in lrs} for m in MODES}
    mean_val = {m: {lr: float(np.mean([r["final_acc"] or 0.0 for r in rs])) for lr, rs in by.items()}
                for m, by in validation.items()}  # a diverged run scores 0 in the choice
    best = {m: max(lrs, key=lambda lr, m=m: mean_val[m][lr]) for m in MODES}
    found = iter(runner.map(one_run, [{"seed": s, "mode": m, "lr": best[m], "steps": steps, "validation": False}
                                      for m in MODES for s in seeds], desc="bn-only"))
    runs = {m: [next(found) for _ in seeds] for m in MODES}
    if failed := [f"{m}, seed {s}" for m in MODES for s, r in zip(seeds, runs[m], strict=True) if r["diverged"]]:
        raise RuntimeError(f"bn-only: diverged at the chosen learning rate: {', '.join(failed)}")
    acc = {m: np.array([r["final_acc"] for r in rs]) for m, rs in runs.items()}
    count = runs["bn"][0]["trained"]
    checks = [
        stats.mean_effect(acc["bn"] - CHANCE, seed=seed, unit="test accuracy - 0.1", bounds=(-CHANCE, 1 - CHANCE),
                          claim=f"training only BN's gamma and beta ({count} parameters) on frozen random weights "
                          "reaches above chance"),
        stats.paired(acc["bn"], acc["random"], seed=seed, unit="test accuracy", bounds=stats.DIFFERENCE,
                     claim=f"gamma and beta beat {count} randomly chosen weights and biases (paired)"),
        stats.paired(acc["all"], acc["bn"], seed=seed, unit="test accuracy", bounds=stats.DIFFERENCE,
                     claim="training all parameters beats training only gamma and beta (paired)"),
    ]
    summary = {m: stats.interval(a, seed=seed, bounds=stats.ACCURACY)[:3] for m, a in acc.items()}
    record = runs["bn"][0]["steps"]
    curves = {MODES[m]: (record, [stats.interval(col, seed=seed, bounds=stats.ACCURACY)[:3]
                                  for col in np.array([r["acc"] for r in runs[m]]).T]) for m in MODES}
    curves["chance"] = (record, [(CHANCE,) * 3] * len(record))
    plots.interval_lines({"test accuracy while training": curves}, out / "bn_only_accuracy", xlabel="SGD step",
                         ylabel="test accuracy", ylim=(0, 1))
    at_edge = [MODES[m] for m in MODES if best[m] in (lrs[0], lrs[-1])]
    numbers = {"seeds": seeds, "tuning_seeds": tuning, "chosen_at_the_grid_edge": at_edge,
               "hidden": HIDDEN, "depth": DEPTH, "batch": BATCH,
               "momentum": MOMENTUM, "steps": steps, "lr_grid": lrs, "chosen_lr": best,
               "validation_acc": mean_val, "trained_parameters": {m: runs[m][0]["trained"] for m in MODES},
               "test_acc_mean_low_high": summary, "runs": runs, "validation_runs": validation}
    text = "; ".join(f"{MODES[m]} ({runs[m][0]['trained']:,} parameters, lr {best[m]:g}): {summary[m][0]:.3f} "
                     f"[{summary[m][1]:.3f}, {summary[m][2]:.3f}]" for m in MODES)
    figures = [Figure(
        "bn_only_accuracy", "Training only BN's gamma and beta, as many random weights, or everything",
        f"An MLP 64-{'-'.join([str(HIDDEN)] * DEPTH)}-10 with BN on digits, SGD (momentum {MOMENTUM:g}, batch "
        f"{BATCH}) for {steps} steps at each way's learning rate from {lrs} chosen on a validation split; test "
        f"accuracy, mean and 95% interval over {len(seeds)} seeds, chance ({CHANCE:g}) as a flat line. Final: {text}."
        + (f" Chosen at the edge of the grid: {', '.join(at_edge)}." if at_edge else ""))]
    finding = (f"Final test accuracy: {text}. Only gamma and beta minus {count} random weights: "
               f"{checks[1].short()}; all parameters minus only gamma and beta: {checks[2].short()}.")
    return Result(
        name="bn-only",
        claim="Training only the BN layers' gamma and beta, with every other weight frozen at its random init, "
        "reaches accuracies well above chance, and more than training as many randomly chosen other parameters "
        "(Frankle, Schwab & Morcos 2021).",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
