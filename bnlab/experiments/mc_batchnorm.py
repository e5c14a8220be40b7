"""MC batch norm: are predictions averaged over BN's batch statistics of sampled training batches better calibrated?

Teye, Azizpour & Smith 2018 (Bayesian Uncertainty Estimation for Batch Normalized Deep Networks): a trained BN
network's mini-batch statistics are a random variable; normalizing a test example with the statistics of a
training batch drawn at random, T times, and averaging the T predicted distributions gives an uncertainty
estimate (MC batch norm, MCBN) with a lower negative log-likelihood than the eval-mode prediction (running
statistics). Here: an MLP 40-128-128-10 with BN on MNIST-1D, trained until it overfits (a train-test gap of
about 20 points, where eval-mode predictions are over-confident). MCBN: T = 32 passes; in each, every BN layer
takes the mean and (biased) variance of its input over a batch of 128 training sequences drawn at random -- the
statistics a train-mode pass on that batch uses -- and normalizes the whole test set with them; the running
statistics are restored afterwards. Measured on the test set, paired over seeds: negative log-likelihood,
expected calibration error (:func:`ece`: 15 equal-width bins of the top-class probability) and accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import nn

from ..training import load, logits, mlp, set_bn_statistics, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

HIDDEN, BATCH, LR, MOMENTUM = 128, 128, 0.2, 0.9
PASSES = (1, 2, 4, 8, 16, 32)  # T: the MCBN estimate after each of these many passes
BINS = 15
ACC_MARGIN = 0.01
ACC_WHY = ("one point of accuracy, about a twentieth of the train-test gap: MCBN is meant to change the uncertainty "
           "of the prediction, not the prediction")


def ece(probs: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: the top-class probabilities cut into ``bins`` equal-width bins over [0, 1]; the
    sum over bins of (share of examples in the bin) x |accuracy in the bin - mean top-class probability in it|.

    Args:
        probs: (N, classes) predicted probabilities.
        y: (N,) true classes.
        bins: how many bins.
    """
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == y)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gap = np.bincount(which, weights=correct - confidence, minlength=bins)  # sum of (correct - confidence) per bin
    return float(np.abs(gap).sum() / len(y))


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = BINS) -> dict[str, list[float]]:
    """Per bin of top-class probability (as in :func:`ece`): how many examples, their summed confidence and how
    many are right (sums, so seeds can be pooled)."""
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == y)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return {"count": np.bincount(which, minlength=bins).tolist(),
            "confidence": np.bincount(which, weights=confidence, minlength=bins).tolist(),
            "correct": np.bincount(which, weights=correct, minlength=bins).tolist()}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64) - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mc_probabilities(model: nn.Sequential, X: np.ndarray, X_train: np.ndarray, passes: int, batch: int,
                     rng: np.random.Generator) -> list[np.ndarray]:
    """MCBN: after each of ``passes`` passes, the mean so far of the predicted distributions on ``X``, each pass
    normalizing with the statistics of ``batch`` training rows drawn at random; the model's state is restored."""
    saved = {k: v.copy() for k, v in model.state_dict().items()}
    total, means = 0.0, []
    try:
        for t in range(1, passes + 1):
            set_bn_statistics(model, X_train[rng.choice(len(X_train), batch, replace=False)])
            total = total + _softmax(logits(model, X))
            means.append(total / t)
    finally:
        model.load_state_dict(saved)
    return means


def _scores(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    nll = -np.log(np.maximum(probs[np.arange(len(y)), y], 1e-300)).mean()
    return {"nll": float(nll), "ece": ece(probs, y), "acc": float((probs.argmax(axis=1) == y).mean())}


def one_run(*, seed: int, steps: int) -> dict:
    """Train one BN network, then score its eval-mode prediction and the MCBN estimate after each T of
    :data:`PASSES` on the test set."""
    split = load("mnist1d", seed)
    model = mlp([split.n_features, HIDDEN, HIDDEN, 10], norm="bn", seed=seed)
    h = train(model, split, steps=steps, batch_size=BATCH, lr=LR, momentum=MOMENTUM, seed=seed, eval_every=steps,
              progress=False)
    if h.diverged:
        raise RuntimeError(f"mc-batchnorm: seed {seed}: {h.divergence}")
    plain = _softmax(logits(model, split.X_test))
    train_acc = float((logits(model, split.X_train).argmax(axis=1) == split.y_train).mean())
    means = mc_probabilities(model, split.X_test, split.X_train, PASSES[-1], BATCH, np.random.default_rng(seed + 3))
    return {"train_acc": train_acc, "eval": _scores(plain, split.y_test),
            "mc": {t: _scores(means[t - 1], split.y_test) for t in PASSES},
            "reliability": {"eval": reliability(plain, split.y_test), "mc": reliability(means[-1], split.y_test)}}


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    steps = 100 if quick else 1000
    runs = runner.map(one_run, [{"seed": s, "steps": steps} for s in seeds], desc="mc-batchnorm")
    T = PASSES[-1]

    def scores(key: str, t: int | None = None) -> np.ndarray:
        return np.array([r["eval"][key] if t is None else r["mc"][t][key] for r in runs])

    checks = [
        stats.paired(scores("nll"), scores("nll", T), seed=seed, unit="nats",
                     claim=f"MCBN (T = {T}) has a lower test negative log-likelihood than the eval-mode prediction "
                     "(eval - MCBN, paired)"),
        stats.paired(scores("ece"), scores("ece", T), seed=seed, unit=f"ECE ({BINS} bins)",
                     claim=f"MCBN (T = {T}) is better calibrated: lower expected calibration error (eval - MCBN)"),
        stats.paired(scores("acc", T), scores("acc"), seed=seed, direction="within", margin=ACC_MARGIN,
                     reason=ACC_WHY, bounds=stats.DIFFERENCE, unit="test accuracy",
                     claim=f"MCBN is about as accurate as the eval-mode prediction (MCBN - eval, within "
                     f"{ACC_MARGIN:g})"),
    ]

    def band(values: np.ndarray, bounds=None) -> tuple[float, float, float]:
        return stats.interval(values, seed=seed, bounds=bounds)[:3]

    summary = {key: {"eval": band(scores(key)), **{f"T={t}": band(scores(key, t)) for t in PASSES}}
               for key in ("nll", "ece", "acc")}
    gains = {key: [band(scores(key) - scores(key, t)) for t in PASSES] for key in ("nll", "ece")}
    plots.interval_lines(
        {title: {"eval - MCBN": (list(PASSES), gains[key]), "no difference": (list(PASSES), [(0.0,) * 3] * len(PASSES))}
         for key, title in (("nll", "negative log-likelihood"), ("ece", "expected calibration error"))},
        out / "mc_batchnorm_passes", xlabel="passes T (log scale)",
        ylabel=["NLL eval - NLL MCBN (nats)", f"ECE eval - ECE MCBN ({BINS} bins)"], logx=True)
    pooled = {kind: {k: np.sum([r["reliability"][kind][k] for r in runs], axis=0) for k in ("count", "confidence",
                                                                                          "correct")}
              for kind in ("eval", "mc")}
    curves = {}
    for kind, label in (("eval", "eval mode"), ("mc", f"MCBN, T = {T}")):
        full = pooled[kind]["count"] > 0
        n = pooled[kind]["count"][full]
        confidence = pooled[kind]["confidence"][full] / n
        curves[label] = (confidence.tolist(), (pooled[kind]["correct"][full] / n - confidence).tolist())
    curves["calibrated"] = ([0.0, 1.0], [0.0, 0.0])
    plots.panels({f"calibration, {len(seeds)} seeds pooled": curves}, out / "mc_batchnorm_reliability",
                 xlabel="mean top-class probability in the bin", ylabel="accuracy - confidence")
    train_acc = band([r["train_acc"] for r in runs], stats.ACCURACY)
    numbers = {"seeds": seeds, "hidden": HIDDEN, "batch": BATCH, "lr": LR, "momentum": MOMENTUM, "steps": steps,
               "passes": list(PASSES), "bins": BINS, "summary_mean_low_high": summary, "train_acc": train_acc,
               "reliability_pooled": pooled, "runs": runs}
    text = ", ".join(f"{name} eval {summary[key]['eval'][0]:.4f}, MCBN {summary[key][f'T={T}'][0]:.4f}"
                     for key, name in (("nll", "NLL"), ("ece", "ECE"), ("acc", "accuracy")))
    common = (f"An MLP 40-{HIDDEN}-{HIDDEN}-10 with BN on MNIST-1D, {steps} SGD steps (lr {LR:g}, momentum "
              f"{MOMENTUM:g}, batch {BATCH}; train accuracy {train_acc[0]:.3f}); MCBN normalizes the test set with "
              f"the statistics of a random training batch of {BATCH} in each pass and averages the probabilities.")
    figures = [
        Figure("mc_batchnorm_passes", "How much MCBN lowers the NLL and the calibration error, against the passes",
               common + f" The eval-mode prediction's score minus MCBN's after T passes (above zero: MCBN is better), "
               f"paired by seed, mean and 95% interval over {len(seeds)} seeds. At T = {T}: {text}."),
        Figure("mc_batchnorm_reliability", "Calibration: accuracy minus confidence per bin",
               common + f" Test examples of all {len(seeds)} seeds pooled into {BINS} equal-width bins of the "
               "top-class probability (empty bins left out): accuracy in the bin minus its mean top-class "
               "probability; below zero a prediction is over-confident."),
    ]
    c = checks
    finding = (f"At T = {T}: {text}; NLL eval - MCBN {c[0].short()}, ECE eval - MCBN {c[1].short()}, accuracy "
               f"MCBN - eval {c[2].short()}.")
    return Result(
        name="mc-batchnorm",
        claim="Averaging the predictions of train-mode passes that normalize with the statistics of sampled training "
        "batches (MC batch norm) gives better uncertainty than the eval-mode prediction: a lower negative "
        "log-likelihood and calibration error at the same accuracy (Teye et al. 2018).",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
