"""Regularization: does BN's mini-batch noise regularize, and does GhostBatchNorm bring it back at large batches?

Six configurations of the same MLP on digits, several seeds each, the same number of SGD steps:
no BN, BN at batch 64, BN at batch 512, dropout, BN + dropout, and GhostBatchNorm at batch 512 with
virtual batches of 64. Measured: test accuracy and the train - test gap (accuracy and loss), mean and spread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinygrad_bn import Tensor, no_grad
from viz import plots

from ..training import Split, accuracy, load, mlp, train
from . import Figure, Result, verdict

CONFIGS = {  # label: (batch size, mlp keyword arguments)
    "no BN @64": (64, {}),
    "BN @64": (64, {"bn": True}),
    "BN @512": (512, {"bn": True}),
    "dropout @64": (64, {"dropout": 0.3}),
    "BN + dropout @64": (64, {"bn": True, "dropout": 0.3}),
    "GhostBN @512 (64)": (512, {"ghost_batch": 64}),
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


def run(quick: bool, seed: int, out: Path, progress: bool = True) -> Result:
    seeds = [seed + i for i in range(2 if quick else 5)]
    steps, lr, hidden = (80, 0.05, 64) if quick else (500, 0.05, 128)
    runs: dict = {label: [] for label in CONFIGS}
    for s in seeds:
        split = load("digits", s)
        for label, (batch, kwargs) in CONFIGS.items():
            model = mlp([split.n_features, hidden, hidden, 10], seed=s, **kwargs)
            train(
                model,
                split,
                steps=steps,
                batch_size=batch,
                lr=lr,
                momentum=0.9,
                seed=s,
                eval_every=steps,
                desc=f"regularization seed {s} {label}",
                progress=progress,
            )
            runs[label].append(_measure(model, split))
    summary = {
        label: {
            key: {"mean": float(np.mean([r[key] for r in rs])), "std": float(np.std([r[key] for r in rs]))}
            for key in rs[0]
        }
        for label, rs in runs.items()
    }

    def m(label: str, key: str) -> float:
        return summary[label][key]["mean"]

    def sd(label: str, key: str) -> float:
        return summary[label][key]["std"]

    better = m("BN @64", "test_acc") - m("no BN @64", "test_acc") > max(
        sd("BN @64", "test_acc"), sd("no BN @64", "test_acc")
    )
    small_batch_less_gap = m("BN @64", "gap_acc") < m("BN @512", "gap_acc")
    ghost_restores = abs(m("GhostBN @512 (64)", "gap_acc") - m("BN @64", "gap_acc")) < abs(
        m("BN @512", "gap_acc") - m("BN @64", "gap_acc")
    )
    numbers = {
        "seeds": seeds,
        "steps": steps,
        "lr": lr,
        "momentum": 0.9,
        "hidden": hidden,
        "runs": runs,
        "summary": summary,
        "bn64_beats_no_bn": better,
        "bn64_smaller_gap_than_bn512": small_batch_less_gap,
        "ghost_gap_closer_to_bn64": ghost_restores,
    }
    plots.bars_with_spread(
        {
            "test accuracy": {k: (v["test_acc"]["mean"], v["test_acc"]["std"]) for k, v in summary.items()},
            "train - test gap in accuracy": {
                k: (v["gap_acc"]["mean"], v["gap_acc"]["std"]) for k, v in summary.items()
            },
            "test - train gap in loss": {k: (v["gap_loss"]["mean"], v["gap_loss"]["std"]) for k, v in summary.items()},
        },
        out / "regularization",
    )
    table = "; ".join(
        f"{k} {m(k, 'test_acc'):.4f} ± {sd(k, 'test_acc'):.4f} (gap {m(k, 'gap_acc'):.4f})" for k in CONFIGS
    )
    finding = (
        f"BN @64 test accuracy {m('BN @64', 'test_acc'):.4f} vs no BN {m('no BN @64', 'test_acc'):.4f}; train - test "
        f"accuracy gap BN @64 {m('BN @64', 'gap_acc'):.4f}, BN @512 {m('BN @512', 'gap_acc'):.4f}, GhostBN @512 "
        f"{m('GhostBN @512 (64)', 'gap_acc'):.4f} ({'closer to' if ghost_restores else 'not closer to'} BN @64)."
    )
    figures = [
        Figure(
            "regularization",
            "Test accuracy and generalization gap, mean ± std over seeds",
            f"Each bar is the mean over {len(seeds)} seeds (error bar: std) after {steps} SGD steps (lr {lr}, "
            f"momentum 0.9) on digits, whatever the batch size. Test accuracy ± std (and train - test accuracy gap): "
            f"{table}.",
        )
    ]
    return Result(
        "regularization",
        "BN regularizes through its mini-batch noise: small batches generalize better, "
        "and GhostBatchNorm restores that at large batches.",
        verdict(better + small_batch_less_gap + ghost_restores, 3),
        "Three checks: (1) BN @64's mean test accuracy beats no BN's by more than the larger of their stds; "
        "(2) BN @64's mean train - test accuracy gap is smaller than BN @512's; (3) GhostBN @512 (virtual 64)'s gap "
        "is closer to BN @64's than BN @512's is. All pass: supported; none: not supported; otherwise mixed.",
        finding,
        numbers,
        figures,
        seed,
        quick,
    )
