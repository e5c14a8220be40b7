"""Regularization: does BN's mini-batch noise regularize, and does GhostBatchNorm bring it back at large batches?

Two settings of the same MLP, each over 10 seeds (3 in the quick run); the runs of one seed share the split,
the initial weights and the batch order, so every comparison is paired. On a training subset of 300 digits,
where regularization matters: no BN, BN, dropout, BN + dropout at batch 64. On the full training set (1,437
digits): no BN and BN at batch 64, BN at batch 512, and GhostBatchNorm at batch 512 with virtual batches of 64,
all for the same number of SGD steps. Measured: test accuracy and the train - test gap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, no_grad

from ..training import Split, accuracy, load, mlp, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

SUBSET = 300
SETTINGS = {  # setting: {label: (batch size, mlp keyword arguments)}
    f"{SUBSET} digits": {
        "no BN @64": (64, {}),
        "BN @64": (64, {"norm": "bn"}),
        "dropout @64": (64, {"dropout": 0.3}),
        "BN + dropout @64": (64, {"norm": "bn", "dropout": 0.3}),
    },
    "all digits": {
        "no BN @64": (64, {}),
        "BN @64": (64, {"norm": "bn"}),
        "BN @512": (512, {"norm": "bn"}),
        "GhostBN @512 (64)": (512, {"norm": "ghost", "ghost_batch": 64}),
    },
}


def _loss(model, X: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with no_grad():
        value = float(model(Tensor(X)).cross_entropy(y).data)
    model.train()
    return value


def _measure(model, split: Split) -> dict:
    train_acc, test_acc = accuracy(model, split.X_train, split.y_train), accuracy(model, split.X_test, split.y_test)
    train_loss, test_loss = _loss(model, split.X_train, split.y_train), _loss(model, split.X_test, split.y_test)
    return {
        "train_acc": train_acc,
        "test_acc": test_acc,
        "gap_acc": train_acc - test_acc,
        "train_loss": train_loss,
        "test_loss": test_loss,
        "gap_loss": test_loss - train_loss,
    }


def one_run(*, setting: str, label: str, seed: int, steps: int, hidden: int, lr: float) -> dict:
    """Train one configuration of one seed and measure train/test accuracy and loss."""
    batch, kwargs = SETTINGS[setting][label]
    split = load("digits", seed, train_size=SUBSET if setting.startswith(str(SUBSET)) else None)
    model = mlp([split.n_features, hidden, hidden, 10], seed=seed, **kwargs)
    train(model, split, steps=steps, batch_size=batch, lr=lr, momentum=0.9, seed=seed, eval_every=steps, progress=False)
    return _measure(model, split)


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    ss = seeds
    steps, lr, hidden = (40, 0.05, 64) if quick else (250, 0.05, 128)
    keys = [(setting, label) for setting, configs in SETTINGS.items() for label in configs]
    found = iter(
        runner.map(
            one_run,
            [
                {"setting": st, "label": lb, "seed": s, "steps": steps, "hidden": hidden, "lr": lr}
                for st, lb in keys
                for s in ss
            ],
            desc="regularization",
        )
    )
    runs = {st: {} for st in SETTINGS}
    for st, lb in keys:
        runs[st][lb] = [next(found) for _ in ss]

    def each(setting: str, label: str, key: str) -> list[float]:
        return [r[key] for r in runs[setting][label]]

    sub, full = list(SETTINGS)
    checks = [
        stats.paired(
            each(sub, "BN @64", "test_acc"),
            each(sub, "no BN @64", "test_acc"),
            unit="test accuracy",
            seed=seed,
            claim=f"{sub}: BN improves test accuracy (BN - no BN)",
        ),
        stats.paired(
            each(sub, "dropout @64", "test_acc"),
            each(sub, "no BN @64", "test_acc"),
            unit="test accuracy",
            seed=seed,
            claim=f"{sub}: dropout improves test accuracy, the regularizer BN is compared with (dropout - no BN)",
        ),
        stats.paired(
            each(full, "BN @64", "test_acc"),
            each(full, "no BN @64", "test_acc"),
            unit="test accuracy",
            seed=seed,
            claim=f"{full}: BN improves test accuracy (BN - no BN)",
        ),
        stats.paired(
            each(full, "BN @512", "gap_acc"),
            each(full, "BN @64", "gap_acc"),
            unit="train - test accuracy",
            seed=seed,
            claim=f"{full}: BN's noisier small batches generalize better (gap @512 - gap @64)",
        ),
        stats.paired(
            each(full, "GhostBN @512 (64)", "test_acc"),
            each(full, "BN @512", "test_acc"),
            unit="test accuracy",
            seed=seed,
            claim=f"{full}: GhostBN brings small-batch noise back at batch 512 (GhostBN - BN @512)",
        ),
    ]
    summary = {
        st: {lb: {key: stats.interval(each(st, lb, key), seed=seed)[:3] for key in rs[0]} for lb, rs in cfg.items()}
        for st, cfg in runs.items()
    }
    numbers = {
        "seeds": ss,
        "steps": steps,
        "lr": lr,
        "momentum": 0.9,
        "hidden": hidden,
        "subset": SUBSET,
        "runs": runs,
        "summary_mean_low_high": summary,
    }
    plots.intervals(
        {f"{st}: test accuracy": {lb: v["test_acc"] for lb, v in cfg.items()} for st, cfg in summary.items()}
        | {f"{st}: train - test gap": {lb: v["gap_acc"] for lb, v in cfg.items()} for st, cfg in summary.items()},
        out / "regularization",
    )
    table = "; ".join(
        f"{st}, {lb} {v['test_acc'][0]:.4f} [{v['test_acc'][1]:.4f}, {v['test_acc'][2]:.4f}] (gap "
        f"{v['gap_acc'][0]:.4f})"
        for st, cfg in summary.items()
        for lb, v in cfg.items()
    )
    figures = [
        Figure(
            "regularization",
            "Test accuracy and generalization gap, mean and 95% interval over seeds",
            f"Each dot is the mean over {len(ss)} seeds, its whisker the 95% interval of that mean, after {steps} "
            f"SGD steps (lr {lr}, momentum 0.9) whatever the batch size; the axes do not start at zero. Test accuracy "
            f"[interval] (train - test accuracy gap): {table}. The checks compare configurations seed by seed "
            "(paired), which is tighter than these per-configuration intervals.",
        )
    ]
    finding = "; ".join(f"{c.claim.split(' (')[0]}: {c.short()}" for c in checks) + "."
    return Result(
        name="regularization",
        claim="BN regularizes through its mini-batch noise: it improves test accuracy, small batches generalize "
        "better, and GhostBatchNorm restores that at large batches.",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
