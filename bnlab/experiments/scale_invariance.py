"""Scale invariance: with BN, does weight decay act through the effective learning rate eta / ||W||^2?

van Laarhoven 2017 (L2 Regularization versus Batch and Weight Normalization); Zhang, Wang, Xu & Grosse 2019
(Three Mechanisms of Weight Decay Regularization). A Linear layer followed by BN (no bias) gives the same loss for
W and c W (c > 0), so its gradient is orthogonal to W and scales as 1 / c: an SGD step changes W's direction by
about eta / ||W||^2 times the gradient of the direction. Without weight decay plain SGD can only grow ||W||
(the step is orthogonal to W), so the effective learning rate eta / ||W||^2 falls; weight decay shrinks ||W||
and so raises it. Here: an MLP 64-128-128-10 with BN after each hidden Linear layer (no biases) on digits, plain
SGD (no momentum) with and without weight decay from the same init and batches; every 25 steps ||W|| of the two
hidden layers. Sanity: rescaling a hidden layer's W by 1/2 or 2 leaves the loss unchanged and divides the
gradient by c, and the gradient is orthogonal to W.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, nn

from ..training import load, mlp, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

LR, WEIGHT_DECAY, BATCH, HIDDEN = 0.1, 0.01, 64, 128
SCALES = (0.5, 2.0)  # the factors a hidden layer's W is rescaled by in the sanity checks
EVERY = 25  # steps between two records of ||W||
INVARIANT_MARGIN = 1e-3
INVARIANT_WHY = ("BN's eps (1e-5) next to batch variances of about 0.04 (at c = 1/2) breaks the invariance by "
                 "a few 1e-4 relatively, float32 rounding by about 1e-6; 1e-3 is above both")
ORTHOGONAL_MARGIN = 0.01
ORTHOGONAL_WHY = "the same eps and rounding; a cosine of 0.01 is a step 89.4 degrees from W"


def _weights(model: nn.Sequential) -> list[nn.Parameter]:
    """The weights of the Linear layers followed by BN (every Linear but the last)."""
    return [m.weight for m in model if isinstance(m, nn.Linear)][:-1]


def _loss_and_grads(model: nn.Sequential, X: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """The train-mode loss on (X, y) and the gradients of the scale-invariant weights (running stats restored)."""
    state = {k: v.copy() for k, v in model.state_dict().items()}
    model.zero_grad()
    loss = model(Tensor(X)).cross_entropy(y)
    loss.backward()
    grads = [w.grad.data.astype(np.float64) for w in _weights(model)]
    model.zero_grad()
    model.load_state_dict(state)
    return float(loss.data), grads


def invariance(model: nn.Sequential, X: np.ndarray, y: np.ndarray) -> dict:
    """Rescale each scale-invariant W by each of :data:`SCALES`: the largest relative change of the loss, the largest
    |c ||grad(c W)|| / ||grad(W)|| - 1|, and the largest |cos(grad W, W)|."""
    loss, grads = _loss_and_grads(model, X, y)
    cos = max(abs(float((g * w.data).sum() / (np.linalg.norm(g) * np.linalg.norm(w.data))))
              for g, w in zip(grads, _weights(model), strict=True))
    loss_change = grad_change = 0.0
    for i, w in enumerate(_weights(model)):
        kept = w.data.copy()
        for c in SCALES:
            w.data[...] = kept * c
            scaled, scaled_grads = _loss_and_grads(model, X, y)
            loss_change = max(loss_change, abs(scaled - loss) / loss)
            grad_change = max(grad_change,
                              abs(float(c * np.linalg.norm(scaled_grads[i]) / np.linalg.norm(grads[i])) - 1))
        w.data[...] = kept
    return {"loss_change": loss_change, "grad_change": grad_change, "cos_grad_weight": cos}


def one_run(*, seed: int, weight_decay: float, steps: int) -> dict:
    """Train with ``weight_decay``: ||W|| of each hidden layer every :data:`EVERY` steps, test accuracy, and (without
    weight decay) the invariance measurements on a training batch at the end."""
    split = load("digits", seed)
    model = mlp([split.n_features, HIDDEN, HIDDEN, 10], norm="bn", bias=False, seed=seed)
    norms = [[float(np.linalg.norm(w.data)) for w in _weights(model)]]

    def record(step: int) -> None:
        if step % EVERY == 0:
            norms.append([float(np.linalg.norm(w.data)) for w in _weights(model)])

    h = train(model, split, steps=steps, batch_size=BATCH, lr=LR, weight_decay=weight_decay, seed=seed,
              eval_every=steps, progress=False, after_step=record)
    if h.diverged:
        raise RuntimeError(f"scale-invariance: seed {seed}, weight decay {weight_decay}: {h.divergence}")
    found = {"norms": norms, "test_acc": h.final_acc}
    if not weight_decay:
        rows = np.random.default_rng(seed + 1).choice(len(split.y_train), 256, replace=False)
        found |= invariance(model, split.X_train[rows], split.y_train[rows])
    return found


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    steps = 60 if quick else 400
    decays = {"no weight decay": 0.0, f"weight decay {WEIGHT_DECAY:g}": WEIGHT_DECAY}
    found = iter(runner.map(one_run, [{"seed": s, "weight_decay": wd, "steps": steps} for wd in decays.values()
                                      for s in seeds], desc="scale-invariance"))
    runs = {label: [next(found) for _ in seeds] for label in decays}
    plain, decayed = runs.values()
    norms = {label: np.array([r["norms"] for r in rs]) for label, rs in runs.items()}  # (seeds, records, layers)
    log_norm = {label: np.log(n).mean(axis=2) for label, n in norms.items()}  # mean over the layers of log ||W||
    wd_label = list(decays)[1]
    checks = [
        stats.mean_effect([r["loss_change"] for r in plain], seed=seed, direction="within", margin=INVARIANT_MARGIN,
                          reason=INVARIANT_WHY, kind=stats.SANITY, unit="relative change of the loss",
                          claim=f"the loss does not change when a hidden layer's W is rescaled by {SCALES[0]:g} or "
                          f"{SCALES[1]:g} (largest relative change)"),
        stats.mean_effect([r["grad_change"] for r in plain], seed=seed, direction="within", margin=INVARIANT_MARGIN,
                          reason=INVARIANT_WHY, kind=stats.SANITY, unit="c ||grad(cW)|| / ||grad(W)|| - 1",
                          claim="the gradient of c W is the gradient of W divided by c (largest deviation)"),
        stats.mean_effect([r["cos_grad_weight"] for r in plain], seed=seed, direction="within",
                          margin=ORTHOGONAL_MARGIN, reason=ORTHOGONAL_WHY, kind=stats.SANITY, unit="|cosine|",
                          claim="the gradient is orthogonal to W (largest |cos(grad W, W)| over the hidden layers)"),
        stats.mean_effect(-2 * (log_norm["no weight decay"][:, -1] - log_norm["no weight decay"][:, 0]), seed=seed,
                          direction="less", kind=stats.SANITY, unit="log(eta/||W||^2 at the end / at the start)",
                          claim="without weight decay SGD only grows ||W||: the effective learning rate falls"),
        stats.mean_effect(log_norm[wd_label][:, -1] - log_norm["no weight decay"][:, -1], seed=seed,
                          direction="less", unit="log(||W|| with / without)",
                          claim=f"weight decay {WEIGHT_DECAY:g} shrinks the hidden layers' ||W|| "
                          f"(after {steps} steps, paired)"),
        stats.mean_effect(-2 * (log_norm[wd_label][:, -1] - log_norm[wd_label][:, 0]), seed=seed,
                          unit="log(eta/||W||^2 at the end / at the start)",
                          claim="with weight decay the effective learning rate eta/||W||^2 grows over training"),
        stats.paired([r["test_acc"] for r in decayed], [r["test_acc"] for r in plain], seed=seed,
                     bounds=stats.DIFFERENCE, unit="test accuracy",
                     claim="with BN, weight decay raises the test accuracy (with - without, paired)"),
    ]
    record_steps = list(range(0, steps + 1, EVERY))

    def band(values: np.ndarray) -> list[tuple[float, float, float]]:
        return [stats.interval(col, seed=seed)[:3] for col in values.T]

    norm_band = {label: band(np.exp(v)) for label, v in log_norm.items()}
    lr_band = {label: band(LR / np.exp(2 * v)) for label, v in log_norm.items()}
    plots.interval_lines({"||W|| (geometric mean of the hidden layers)":
                          {label: (record_steps, b) for label, b in norm_band.items()},
                          "effective learning rate eta/||W||^2":
                          {label: (record_steps, b) for label, b in lr_band.items()}},
                         out / "scale_invariance_norms", xlabel="SGD step", ylabel=["||W||", "eta / ||W||^2"])
    acc = {label: stats.interval([r["test_acc"] for r in rs], seed=seed, bounds=stats.ACCURACY)[:3]
           for label, rs in runs.items()}
    numbers = {"seeds": seeds, "lr": LR, "weight_decay": WEIGHT_DECAY, "batch": BATCH, "hidden": HIDDEN,
               "steps": steps, "record_steps": record_steps, "scales": SCALES,
               "norm_mean_low_high": norm_band, "effective_lr_mean_low_high": lr_band,
               "test_acc_mean_low_high": acc, "runs": runs}
    text = "; ".join(f"{label}: ||W|| {norm_band[label][0][0]:.2f} -> {norm_band[label][-1][0]:.2f}, eta/||W||^2 "
                     f"{lr_band[label][0][0]:.4f} -> {lr_band[label][-1][0]:.4f}, test accuracy {acc[label][0]:.4f}"
                     for label in decays)
    figures = [Figure(
        "scale_invariance_norms", "Weight norm and effective learning rate with and without weight decay",
        f"An MLP 64-128-128-10 with BN after each hidden Linear layer (no biases) on digits, plain SGD at lr {LR:g}, "
        f"batch {BATCH}, {steps} steps, from the same init and batches; mean and 95% interval over {len(seeds)} "
        f"seeds of the geometric mean over the two hidden layers. {text}.")]
    c = checks
    finding = (f"Weight decay {WEIGHT_DECAY:g} shrinks ||W|| by {c[4].short()} and the effective learning rate "
               f"grows {c[5].short()}; without it ||W|| grows and eta/||W||^2 falls ({c[3].short()}); test accuracy "
               f"with - without weight decay {c[6].short()}.")
    return Result(
        name="scale-invariance",
        claim="With BN after a layer, the loss does not depend on the scale of the layer's weights, so weight decay "
        "acts by raising the effective learning rate eta/||W||^2 (van Laarhoven 2017; Zhang et al. 2019), which "
        "improves test accuracy.",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
