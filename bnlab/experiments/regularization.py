"""Regularization: does BN's mini-batch noise regularize?

Two designs, each paired over seeds (the runs of one seed share the split, the initial weights and the batch
order), with test loss (cross-entropy in eval mode) as the declared primary endpoint and test accuracy beside it:

1. **Virtual-batch sweep (primary).** At a fixed batch of 512, GhostBatchNorm computes its statistics over
   virtual batches of v = 16 ... 512 rows (Hoffer et al. 2017). Epochs, learning rate and steps are the same for
   every v, so only the noise in BN's statistics varies. Trend test: the per-seed least-squares slope of the
   endpoint against log2(v), its mean over seeds with a 95% interval.
2. **2 x 2.** {BN, no BN} x {batch 64, batch 512} at the same number of epochs (per dataset), the learning
   rate scaled with the batch (lr = base * B / 64). The no-BN column is the control: the part of the small-batch
   advantage due to BN is the interaction (BN@512 - BN@64) - (no BN@512 - no BN@64).

On sklearn's digits (1,437 training images, where test accuracy saturates near 0.98), MNIST-5k (4,000 training
images, about 0.93; its effects are about 0.2 points, so it gets twice the seeds) and MNIST-1D (8,000 training
sequences, about 0.76 test accuracy and a 20-point train-test gap).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, no_grad

from ..training import Split, accuracy, load, mlp, train
from . import Figure, Result
from . import seeds as seed_block

if TYPE_CHECKING:
    from ..runner import Runner

BATCH = 512  # the sweep's fixed batch
BASE_BATCH, BASE_LR, MOMENTUM = 64, 0.05, 0.9  # the 2 x 2's learning rate: BASE_LR * batch / BASE_BATCH
SWEEP_LR = 0.1  # the sweep's learning rate, the same for every virtual batch
DATASETS = ("digits", "mnist", "mnist1d")
SEED_FACTOR = {"mnist": 2}  # MNIST-5k's effects are about 0.2 points: twice the seeds (40 in the full run)
SETTINGS = {  # quick / full: virtual batches, hidden width, per dataset the sweep's steps and the 2 x 2's epochs
    True: {"virtual": [16, 64, 512], "hidden": 64, "steps": {"digits": 60, "mnist": 15, "mnist1d": 40},
           "epochs": {"digits": 10, "mnist": 1, "mnist1d": 1}},
    False: {"virtual": [16, 64, 256, 512], "hidden": 128,
            "steps": {"digits": 150, "mnist": 60, "mnist1d": 600},
            "epochs": {"digits": 30, "mnist": 3, "mnist1d": 10}},
}
CELLS = {"BN @64": ("bn", 64), "BN @512": ("bn", 512), "no BN @64": ("none", 64), "no BN @512": ("none", 512)}


def _measure(model, split: Split) -> dict:
    model.eval()
    with no_grad():
        train_loss = float(model(Tensor(split.X_train)).cross_entropy(split.y_train).data)
        test_loss = float(model(Tensor(split.X_test)).cross_entropy(split.y_test).data)
    model.train()
    train_acc, test_acc = accuracy(model, split.X_train, split.y_train), accuracy(model, split.X_test, split.y_test)
    return {"test_loss": test_loss, "test_acc": test_acc, "train_loss": train_loss, "train_acc": train_acc,
            "gap_acc": train_acc - test_acc, "gap_loss": test_loss - train_loss}


def one_run(*, dataset: str, norm: str, batch: int, virtual: int, steps: int, lr: float, hidden: int,
            seed: int) -> dict:
    """Train one configuration of one seed (``norm`` "ghost" with virtual batch ``virtual``, "bn" or "none");
    measure test and train loss and accuracy."""
    split = load(dataset, seed)
    model = mlp([split.n_features, hidden, hidden, 10], norm=norm, ghost_batch=virtual, seed=seed)
    history = train(model, split, steps=steps, batch_size=batch, lr=lr, momentum=MOMENTUM, seed=seed,
                    eval_every=steps, progress=False)
    if history.diverged:
        raise RuntimeError(f"regularization: {dataset}, {norm}, batch {batch}: {history.divergence}")
    return _measure(model, split) | {"epochs": steps / (len(split.y_train) // batch)}  # passes (full batches only)


def _epochs(n: int) -> str:
    return f"{n} epoch" + "s" * (n != 1)


def slopes(values: np.ndarray, virtual: list[int]) -> np.ndarray:
    """Per seed (row of ``values``, one column per virtual batch) the least-squares slope against log2(v):
    the change per doubling of the virtual batch."""
    return np.polyfit(np.log2(virtual), np.asarray(values).T, 1)[0]


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    cfg = SETTINGS[quick]
    vs, steps, epochs, hidden = cfg["virtual"], cfg["steps"], cfg["epochs"], cfg["hidden"]
    ss = {d: seed_block(seed, quick, SEED_FACTOR.get(d, 1) * len(seeds)) for d in DATASETS}  # seeds first, then more
    sweep = [{"dataset": d, "norm": "ghost", "batch": BATCH, "virtual": v, "steps": steps[d], "lr": SWEEP_LR,
              "hidden": hidden, "seed": s} for d in DATASETS for v in vs for s in ss[d]]
    n_train = {d: len(load(d, seeds[0]).y_train) for d in DATASETS}
    grid = [{"dataset": d, "norm": norm, "batch": b, "virtual": b, "steps": epochs[d] * (n_train[d] // b),
             "lr": BASE_LR * b / BASE_BATCH, "hidden": hidden, "seed": s}
            for d in DATASETS for norm, b in CELLS.values() for s in ss[d]]
    found = iter(runner.map(one_run, sweep + grid, desc="regularization"))
    ghost = {d: {v: [next(found) for _ in ss[d]] for v in vs} for d in DATASETS}
    cells = {d: {cell: [next(found) for _ in ss[d]] for cell in CELLS} for d in DATASETS}

    def sweep_of(d: str, key: str) -> np.ndarray:  # (seeds, virtual batches)
        return np.array([[r[key] for r in ghost[d][v]] for v in vs]).T

    def cell(d: str, name: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in cells[d][name]])

    per = {}
    for d in DATASETS:
        per[d] = [
            stats.mean_effect(slopes(sweep_of(d, "test_loss"), vs), seed=seed, unit="test loss per doubling of v",
                              claim=f"{d}, batch {BATCH}, primary: test loss rises with GhostBN's virtual batch v "
                              f"(slope over v = {vs[0]}..{vs[-1]})"),
            stats.mean_effect(slopes(sweep_of(d, "test_acc"), vs), seed=seed, direction="less",
                              unit="test accuracy per doubling of v", bounds=stats.DIFFERENCE,
                              claim=f"{d}, batch {BATCH}: test accuracy falls as the virtual batch grows (slope)"),
            stats.paired(sweep_of(d, "test_acc")[:, vs.index(64)], sweep_of(d, "test_acc")[:, -1], seed=seed,
                         unit="test accuracy", bounds=stats.DIFFERENCE,
                         claim=f"{d}, batch {BATCH}: GhostBN with v = 64 beats v = {BATCH} (plain BN statistics)"),
            stats.paired(cell(d, "BN @512", "test_loss"), cell(d, "BN @64", "test_loss"), seed=seed,
                         unit="test loss", claim=f"{d}, {_epochs(epochs[d])}, lr scaled with the batch: BN at batch 64 "
                         "has a lower test loss than at 512 (BN@512 - BN@64)"),
            stats.mean_effect((cell(d, "BN @512", "test_loss") - cell(d, "BN @64", "test_loss"))
                              - (cell(d, "no BN @512", "test_loss") - cell(d, "no BN @64", "test_loss")),
                              seed=seed, unit="test loss", claim=f"{d}, 2 x 2: the small-batch advantage in test "
                              "loss due to BN ((BN@512 - BN@64) - (no BN@512 - no BN@64))"),
            stats.mean_effect((cell(d, "BN @64", "test_acc") - cell(d, "BN @512", "test_acc"))
                              - (cell(d, "no BN @64", "test_acc") - cell(d, "no BN @512", "test_acc")),
                              seed=seed, unit="test accuracy", bounds=(-2.0, 2.0), claim=f"{d}, 2 x 2: the "
                              "small-batch advantage in test accuracy due to BN ((BN@64 - BN@512) - "
                              "(no BN@64 - no BN@512))"),
        ]
    checks = [c for d in DATASETS for c in per[d]]
    for c in checks:
        c.method = ("paired, " if not c.method.startswith("paired") else "") + c.method

    def band(values: np.ndarray, bounds: tuple[float, float] | None) -> list[tuple[float, float, float]]:
        return [stats.interval(col, seed=seed, bounds=bounds)[:3] for col in np.asarray(values).T]

    endpoints = (("test_loss", None), ("test_acc", stats.ACCURACY), ("train_acc", stats.ACCURACY))
    summary = {d: {"virtual_batch": {key: band(sweep_of(d, key), bounds) for key, bounds in endpoints},
                   "cells": {name: {key: band(cell(d, name, key)[:, None], bounds)[0] for key, bounds in endpoints}
                             for name in CELLS}}
               for d in DATASETS}
    numbers = {"seeds": ss, "datasets": list(DATASETS), "batch": BATCH, "virtual_batches": vs,
               "sweep_steps": steps, "sweep_lr": SWEEP_LR, "epochs_2x2": epochs, "base_lr": BASE_LR,
               "base_batch": BASE_BATCH, "momentum": MOMENTUM, "hidden": hidden,
               "epochs_sweep": {d: ghost[d][vs[0]][0]["epochs"] for d in DATASETS},
               "runs_virtual_batch": {d: {str(v): rs for v, rs in ghost[d].items()} for d in DATASETS},
               "runs_2x2": cells, "summary_mean_low_high": summary}
    for key, stem, label in (("test_loss", "regularization_ghost_loss", "test loss (cross-entropy, eval mode)"),
                             ("test_acc", "regularization_ghost_accuracy", "test accuracy")):
        plots.interval_lines({f"{d}, batch {BATCH}": {"GhostBN": (vs, summary[d]["virtual_batch"][key])}
                              for d in DATASETS}, out / stem, xlabel="virtual batch v (log scale)", ylabel=label,
                             logx=True)
    plots.interval_lines({f"{d}, {_epochs(epochs[d])}, {key.replace('_', ' ')}": {
        norm: ([64, 512], [summary[d]["cells"][f"{norm} @{b}"][key] for b in (64, 512)]) for norm in ("BN", "no BN")}
        for d in DATASETS for key in ("test_loss", "test_acc")}, out / "regularization_2x2",
        xlabel="batch size (lr scaled with it)", ylabel=["test loss", "test accuracy"] * len(DATASETS), logx=True)

    def at(d: str, key: str, i: int) -> str:
        m, lo, hi = summary[d]["virtual_batch"][key][i]
        return f"{m:.4f} [{lo:.4f}, {hi:.4f}]"

    sweep_text = "; ".join(f"{d}: test loss {at(d, 'test_loss', 0)} at v = {vs[0]} and {at(d, 'test_loss', -1)} at "
                           f"v = {vs[-1]}, test accuracy {at(d, 'test_acc', 0)} and {at(d, 'test_acc', -1)}"
                           for d in DATASETS)
    cells_text = "; ".join(f"{d}, {name}: test accuracy {v['test_acc'][0]:.4f}, test loss {v['test_loss'][0]:.4f}, "
                           f"train accuracy {v['train_acc'][0]:.4f}"
                           for d in DATASETS for name, v in summary[d]["cells"].items())
    counts = " / ".join(f"{len(ss[d])} seeds on {d}" for d in DATASETS)
    common = (f"Mean over {counts} with its 95% interval (band; accuracy intervals cut to [0, 1]); "
              "the axes do not start at zero. ")
    figures = [
        Figure("regularization_ghost_loss", "Test loss against GhostBN's virtual batch at a fixed batch of 512",
               common + f"Every run: batch {BATCH}, {' and '.join(f'{n} SGD steps on {d}' for d, n in steps.items())}"
               f", lr {SWEEP_LR:g}, momentum {MOMENTUM}; only the "
               f"virtual batch over which BN computes its statistics changes. {sweep_text}."),
        Figure("regularization_ghost_accuracy", "Test accuracy against GhostBN's virtual batch at a fixed batch of 512",
               common + "The same runs as the test-loss figure; accuracy is the secondary endpoint."),
        Figure("regularization_2x2", "BN and no BN at batch 64 and 512, the same epochs",
               common + f"{' and '.join(f'{_epochs(n)} on {d}' for d, n in epochs.items())} at each batch size, lr "
               f"{BASE_LR:g} x batch / {BASE_BATCH}, momentum "
               f"{MOMENTUM}; the no-BN lines are the control for what batch size does without BN. {cells_text}."),
    ]
    finding = "; ".join(
        f"{d}: test loss per doubling of the virtual batch at batch {BATCH} {c[0].short()}, test accuracy "
        f"{c[1].short()}; BN@512 - BN@64 test loss {c[3].short()}, of which due to BN {c[4].short()}"
        for d, c in per.items()) + "."
    return Result(
        name="regularization",
        claim="BN regularizes through the noise of its mini-batch statistics: with more of that noise (smaller "
        "virtual batches at a fixed batch, or smaller batches beyond what they do without BN) the test loss is lower.",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
