"""Small batch: does BN's accuracy fall at small batches while GroupNorm's stays flat, and does Batch
Renormalization recover it?

Wu & He 2018 (Group Normalization, Fig. 1): ResNet-50 on ImageNet, error against the batch size per worker:
BN's rises steeply below 16, GN's stays about flat. Ioffe 2017 (Batch Renormalization): BN's small-batch loss comes
from the mismatch between training (batch statistics) and inference (running averages); renormalizing towards
the running statistics removes most of it.

Here: an MLP on digits with BatchNorm, BatchRenorm (r_max 3, d_max 5), GroupNorm (8 groups) or no normalization
after each hidden layer, trained for the same number of epochs (>= 10 in the full run, so every batch size
fits its training set) at every batch size 2..128 with the learning rate scaled linearly with the batch
(lr = base * B / 32, the rule Wu & He used), over independent seeds (one seed: one split, one init, one batch
order for every normalizer and batch size, so comparisons are paired). BN is evaluated three ways: with its
running averages, with population statistics recomputed over the training set after training, and in train mode
on test batches of its training batch size (as it was trained: the train/test mismatch removed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, nn

from ..training import CHANCE, DIVERGED, Split, accuracy, counted, load, logits, mlp, predict, set_bn_statistics, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

NORMS = {"bn": "BatchNorm", "renorm": "BatchRenorm", "gn": "GroupNorm", "none": "no norm"}
BN_EVALS = {"test_acc": "running averages", "test_acc_population": "population statistics",
            "test_acc_batch_mode": "train mode, test batches of B"}
BASE_LR, REFERENCE, MOMENTUM = 0.1, 32, 0.9
FITTED = 0.95  # the train accuracy every run of GroupNorm and no norm must reach: the runs were long enough
SETTINGS = {  # quick / full
    True: {"batches": [2, 8, 32], "epochs": 2, "hidden": 32, "train_size": 192},
    False: {"batches": [2, 8, 32, 128], "epochs": 10, "hidden": 32, "train_size": 256},
}


def batch_mode_accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray, batch: int, seed: int) -> float:
    """Test accuracy in train mode, every row predicted once inside a batch of ``batch`` test rows (shuffled with
    ``seed``; the last batch filled up with rows from the start): the network evaluated as it was trained. The
    model's state (the running statistics the train-mode passes move) is restored."""
    state = {k: v.copy() for k, v in model.state_dict().items()}
    order = np.random.default_rng(seed).permutation(len(y))
    padded = np.resize(order, -(-len(y) // batch) * batch)  # repeats from the start
    pred = np.concatenate([predict(model, X[rows], train_mode=True) for rows in padded.reshape(-1, batch)])
    model.load_state_dict(state)
    return float((pred[: len(y)] == y[order]).mean())


def test_loss(model: nn.Module, split: Split) -> float:
    """Cross-entropy on the test set in eval mode."""
    return float(Tensor(logits(model, split.X_test)).cross_entropy(split.y_test).data)


def one_run(*, seed: int, norm: str, batch: int, epochs: int, hidden: int, train_size: int) -> dict:
    """Train one normalizer at one batch size for ``epochs`` epochs; its test and train accuracy (BN: evaluated the
    three ways; BatchRenorm: also in train mode)."""
    split = load("digits", seed, train_size=train_size)
    model = mlp([split.n_features, hidden, hidden, 10], norm=norm, seed=seed)
    steps = epochs * len(split.y_train) // batch
    h = train(model, split, steps=steps, batch_size=batch, lr=BASE_LR * batch / REFERENCE, momentum=MOMENTUM,
              seed=seed, eval_every=steps, progress=False)
    if h.diverged:
        return {"steps": steps, "diverged": True, "divergence": h.divergence} | dict.fromkeys(
            ("test_acc", "train_acc", "test_acc_batch_mode", "test_acc_population", "test_loss",
             "test_loss_population"), DIVERGED)
    found = {"steps": steps, "diverged": False, "test_acc": h.final_acc,
             "train_acc": accuracy(model, split.X_train, split.y_train)}
    if norm in ("bn", "renorm"):
        found["test_acc_batch_mode"] = batch_mode_accuracy(model, split.X_test, split.y_test, batch, seed)
    if norm == "bn":
        found["test_loss"] = test_loss(model, split)
        set_bn_statistics(model, split.X_train, ddof=1)
        found["test_acc_population"] = accuracy(model, split.X_test, split.y_test)
        found["test_loss_population"] = test_loss(model, split)
    return found


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    cfg = SETTINGS[quick]
    batches, epochs = cfg["batches"], cfg["epochs"]
    keys = [(norm, b) for norm in NORMS for b in batches]
    found = iter(runner.map(one_run, [{"seed": s, "norm": norm, "batch": b, "epochs": epochs, "hidden": cfg["hidden"],
                                       "train_size": cfg["train_size"]} for norm, b in keys for s in seeds],
                            desc="small-batch"))
    runs = {norm: {} for norm in NORMS}
    for norm, b in keys:
        runs[norm][b] = [next(found) for _ in seeds]

    def acc(norm: str, b: int, key: str = "test_acc") -> np.ndarray:
        return np.array([counted(r, key) for r in runs[norm][b]])

    small, ref, few = batches[0], REFERENCE, [b for b in batches if b <= 8]
    drop_bn, drop_gn = acc("bn", ref) - acc("bn", small), acc("gn", ref) - acc("gn", small)
    fitted = np.min([acc(n, b, "train_acc") for n in ("gn", "none") for b in batches], axis=0)

    def over_few(key: str, running: str = "test_acc") -> np.ndarray:  # per seed, the mean over the small batches
        return np.mean([acc("bn", b, key) - acc("bn", b, running) for b in few], axis=0)

    few_text = ", ".join(map(str, few))
    checks = [
        stats.mean_effect(drop_bn, unit="test accuracy", seed=seed,
                          claim=f"BN's accuracy falls at small batches (batch {ref} - batch {small}, paired)"),
        stats.paired(drop_bn, drop_gn, unit="test accuracy", seed=seed,
                     claim=f"GroupNorm's accuracy falls less than BN's (BN's drop from {ref} to {small} - GN's)"),
        stats.paired(acc("gn", small), acc("bn", small), unit="test accuracy", seed=seed, bounds=stats.DIFFERENCE,
                     claim=f"at batch {small} GroupNorm beats BN (GN - BN)"),
        stats.paired(acc("renorm", small), acc("bn", small), unit="test accuracy", seed=seed, bounds=stats.DIFFERENCE,
                     claim=f"at batch {small} Batch Renormalization beats BN (BatchRenorm - BN, Ioffe 2017)"),
        stats.mean_effect(over_few("test_acc_batch_mode"), unit="test accuracy", seed=seed, bounds=stats.DIFFERENCE,
                          claim=f"at batches {few_text} BN evaluated as trained (train mode on test batches of B) "
                          "beats its running averages (the train/test mismatch; mean over those batches, paired)"),
        stats.mean_effect(over_few("test_loss_population", "test_loss"), unit="test loss", seed=seed,
                          direction="less", claim=f"at batches {few_text} BN's population statistics recomputed "
                          "after training beat its running averages (test loss, population - running; the loss "
                          "rather than the accuracy and the mean over those batches, for power)"),
        stats.mean_effect(fitted - FITTED, unit="train accuracy - 0.95", seed=seed, kind=stats.SANITY,
                          claim=f"the runs were long enough: GroupNorm and no norm fit the training set at every "
                          f"batch size (each seed's lowest train accuracy - {FITTED})"),
    ]

    def band(norm: str, key: str) -> tuple[list[int], list[tuple[float, float, float]]]:
        return batches, [stats.interval(acc(norm, b, key), seed=seed, bounds=stats.ACCURACY)[:3] for b in batches]

    per_norm, three_ways, fit = ("test accuracy, per normalizer", "BatchNorm evaluated three ways",
                                 "train accuracy (eval mode)")
    panels = {
        per_norm: {NORMS[n]: band(n, "test_acc") for n in NORMS},
        three_ways: {v: band("bn", k) for k, v in BN_EVALS.items()},
        fit: {NORMS[n]: band(n, "train_acc") for n in NORMS},
    }
    diverged = {NORMS[n]: {b: int(sum(r["diverged"] for r in runs[n][b])) for b in batches} for n in NORMS}
    numbers = {
        "seeds": seeds, "batches": batches, "epochs": epochs, "train_size": cfg["train_size"], "hidden": cfg["hidden"],
        "base_lr": BASE_LR, "lr_rule": f"lr = {BASE_LR} * B / {REFERENCE}, SGD momentum {MOMENTUM}",
        "steps": {b: runs["bn"][b][0]["steps"] for b in batches},
        "mean_low_high": {title: {k: dict(zip(map(str, x), pts)) for k, (x, pts) in series.items()}
                          for title, series in panels.items()},
        "renorm_batch_mode_mean": {b: float(np.mean(acc("renorm", b, "test_acc_batch_mode"))) for b in batches},
        "diverged_runs": diverged,
        "runs": {n: {str(b): v for b, v in r.items()} for n, r in runs.items()},
    }
    plots.interval_lines({k: panels[k] for k in (per_norm, fit)}, out / "small_batch",
                         xlabel="batch size B (log scale)", ylabel=["test accuracy", "train accuracy"], logx=True)
    plots.interval_lines({three_ways: panels[three_ways]}, out / "small_batch_bn", xlabel="batch size B (log scale)",
                         ylabel="test accuracy", logx=True)

    def table(series: dict) -> str:
        return "; ".join(f"{k}: " + ", ".join(f"{b} {p[0]:.3f}" for b, p in zip(x, pts)) for k, (x, pts) in
                         series.items())

    any_diverged = {k: v for k, v in diverged.items() if any(v.values())}
    steps = ", ".join(f"{s} steps at {b}" for b, s in numbers["steps"].items())
    figures = [
        Figure(
            "small_batch",
            "Test and train accuracy against batch size per normalizer (Wu & He, Fig. 1)",
            f"An MLP 64-{cfg['hidden']}-{cfg['hidden']}-10 on {cfg['train_size']} training digits (the test set "
            f"whole), {epochs} epochs at every batch size ({steps}), "
            f"lr = {BASE_LR} * B / {REFERENCE}, momentum {MOMENTUM}; mean and 95% interval over {len(seeds)} seeds; "
            f"the y axes do not start at zero. Mean test accuracy: {table(panels[per_norm])}. Mean train accuracy "
            f"(eval mode): {table(panels[fit])}."
            + (f" Diverged runs (counted as chance, {CHANCE}): {any_diverged}." if any_diverged else
               " No run diverged."),
        ),
        Figure(
            "small_batch_bn",
            "BatchNorm's test accuracy with running averages, population statistics, and in train mode",
            "The BatchNorm runs of the other figure evaluated three ways: with the running averages, with population "
            "statistics recomputed over the training set after training, and in train mode with every test row in a "
            f"batch of B test rows (as the network was trained); mean and 95% interval over {len(seeds)} seeds. "
            f"{table(panels[three_ways])}.",
        ),
    ]
    finding = "; ".join(f"{c.claim.split(' (')[0]}: {c.short()}" for c in checks if c.kind == stats.EVIDENCE) + "."
    return Result(
        name="small-batch",
        claim="BN's accuracy falls at small batches while GroupNorm's stays about flat (Wu & He 2018), and Batch "
        "Renormalization recovers much of it by removing the train/test mismatch (Ioffe 2017).",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
