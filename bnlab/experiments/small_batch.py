"""Small batch: does BN's accuracy fall at small batches while GroupNorm's stays flat?

Wu & He 2018 (Group Normalization, Fig. 1): ResNet-50 on ImageNet, error against the batch size per worker:
BN's rises steeply below 16, GN's stays about flat. Here: an MLP on digits with BatchNorm, GroupNorm (8 groups),
LayerNorm or no normalization after each hidden layer, trained for the same number of epochs at every batch
size 2..128 with the learning rate scaled linearly with the batch (lr = base * B / 32, the rule Wu & He used),
over several seeds (one seed: one split, one init, one batch order for every normalizer). BN is evaluated with
its running averages and again with population statistics recomputed over the training set after training.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, nn, no_grad

from ..training import CHANCE, DIVERGED, accuracy, counted, load, mlp, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

BATCHES = [2, 4, 8, 16, 32, 64, 128]
NORMS = {"bn": "BatchNorm", "gn": "GroupNorm", "ln": "LayerNorm", "none": "no norm"}
BASE_LR, REFERENCE = 0.05, 32


def population_statistics(model: nn.Sequential, X: np.ndarray) -> None:
    """Set every BatchNorm1d's running statistics to its input's mean and unbiased variance over all of ``X``.

    Layer by layer in eval mode, so each BN sees its input as the network computes it with the earlier BN
    layers already on their population statistics.
    """
    was = model.training
    model.eval()
    with no_grad():
        h = Tensor(X)
        for layer in model:
            if isinstance(layer, nn.BatchNorm1d):
                z = h.data.astype(np.float64)
                layer.running_mean.data[...] = z.mean(axis=0)
                layer.running_var.data[...] = z.var(axis=0, ddof=1)
            h = layer(h)
    model.train(was)


def one_run(*, seed: int, norm: str, batch: int, epochs: int, hidden: int, train_size: int | None) -> dict:
    """Train one normalizer at one batch size for ``epochs`` epochs: test accuracy (BN: also with population stats)."""
    split = load("digits", seed, train_size=train_size)
    model = mlp([split.n_features, hidden, hidden, 10], norm=norm, seed=seed)
    steps = max(1, epochs * len(split.y_train) // batch)
    h = train(
        model,
        split,
        steps=steps,
        batch_size=batch,
        lr=BASE_LR * batch / REFERENCE,
        momentum=0.9,
        seed=seed,
        eval_every=steps,
        progress=False,
    )
    found = {"steps": steps, "diverged": h.diverged, "test_acc": DIVERGED if h.diverged else h.final_acc}
    if norm == "bn" and not h.diverged:
        population_statistics(model, split.X_train)
        found["test_acc_population"] = accuracy(model, split.X_test, split.y_test)
    elif norm == "bn":
        found["test_acc_population"] = DIVERGED
    return found


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    ss = seeds
    batches = [2, 8, 32] if quick else BATCHES
    epochs, hidden, train_size = (1, 32, 300) if quick else (1, 64, 720)
    keys = [(norm, b) for norm in NORMS for b in batches]
    found = iter(
        runner.map(
            one_run,
            [
                {"seed": s, "norm": norm, "batch": b, "epochs": epochs, "hidden": hidden, "train_size": train_size}
                for norm, b in keys
                for s in ss
            ],
            desc="small-batch",
        )
    )
    runs = {norm: {} for norm in NORMS}
    for norm, b in keys:
        runs[norm][b] = [next(found) for _ in ss]

    def acc(norm: str, b: int, key: str = "test_acc") -> np.ndarray:
        return np.array([counted(r, key) for r in runs[norm][b]])

    small, ref = batches[0], REFERENCE
    drop_bn, drop_gn = acc("bn", ref) - acc("bn", small), acc("gn", ref) - acc("gn", small)
    checks = [
        stats.mean_effect(
            drop_bn,
            unit="test accuracy",
            seed=seed,
            claim=f"BN's accuracy falls at small batches (batch {ref} - batch {small}, paired)",
        ),
        stats.paired(
            drop_bn,
            drop_gn,
            unit="test accuracy",
            seed=seed,
            claim=f"GroupNorm's accuracy falls less than BN's (BN's drop from {ref} to {small} - GN's)",
        ),
        stats.paired(
            acc("gn", small),
            acc("bn", small),
            unit="test accuracy",
            seed=seed,
            claim=f"at batch {small} GroupNorm beats BN (GN - BN)",
        ),
        stats.paired(
            acc("bn", small, "test_acc_population"),
            acc("bn", small),
            unit="test accuracy",
            seed=seed,
            claim=f"at batch {small} BN's population statistics recomputed after training beat its "
            "running averages (population - running)",
        ),
    ]
    curves = {NORMS[n]: (batches, [stats.interval(acc(n, b), seed=seed, bounds=stats.ACCURACY)[:3] for b in batches])
              for n in NORMS}
    curves["BatchNorm, population statistics"] = (
        batches,
        [stats.interval(acc("bn", b, "test_acc_population"), seed=seed, bounds=stats.ACCURACY)[:3] for b in batches],
    )
    diverged = {NORMS[n]: {b: int(sum(r["diverged"] for r in runs[n][b])) for b in batches} for n in NORMS}
    numbers = {
        "seeds": ss,
        "batches": batches,
        "epochs": epochs,
        "train_size": train_size,
        "hidden": hidden,
        "base_lr": BASE_LR,
        "lr_rule": f"lr = {BASE_LR} * B / {REFERENCE}, SGD momentum 0.9",
        "mean_low_high": {k: dict(zip(map(str, x), pts)) for k, (x, pts) in curves.items()},
        "diverged_runs": diverged,
        "runs": {n: {str(b): v for b, v in r.items()} for n, r in runs.items()},
    }
    plots.interval_lines(
        {"test accuracy against batch size": curves},
        out / "small_batch",
        xlabel="batch size",
        ylabel="test accuracy",
        logx=True,
    )
    table = "; ".join(f"{k}: " + ", ".join(f"{b} {p[0]:.3f}" for b, p in zip(x, pts)) for k, (x, pts) in curves.items())
    any_diverged = {k: v for k, v in diverged.items() if any(v.values())}
    figures = [
        Figure(
            "small_batch",
            "Test accuracy against batch size, per normalizer (Wu & He, Fig. 1)",
            f"An MLP 64-{hidden}-{hidden}-10 on {train_size} training digits (the test set whole), {epochs} epoch(s) "
            f"at every batch size with lr = {BASE_LR} "
            f"* B / {REFERENCE} and momentum 0.9; mean and 95% interval over {len(ss)} seeds; the y axis does not "
            f"start at zero. Mean test accuracy by batch size: {table}."
            + (f" Diverged runs (counted as chance, {CHANCE}): {any_diverged}." if any_diverged
               else " No run diverged."),
        )
    ]
    finding = "; ".join(f"{c.claim.split(' (')[0]}: {c.short()}" for c in checks) + "."
    return Result(
        name="small-batch",
        claim="BN's accuracy falls at small batches while GroupNorm's stays about flat (Wu & He 2018).",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
