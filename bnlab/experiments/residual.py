"""Residual: does BN downscale the residual branches of a deep residual network, so that it trains?

De & Smith 2020 (Batch Normalization Biases Residual Blocks Towards the Identity Function in Deep Networks):
in a residual block x + f(x) whose branch starts with BN, the branch has about unit variance whatever the
stream's, so the stream's variance grows about linearly with depth and the l-th branch contributes about 1/l
of the variance (1/sqrt(l) of the scale): the network is close to the identity at init and its gradients do not
explode. Without normalization (He init) every branch is as large as its input, the stream doubles its variance
per block and the gradients explode. SkipInit -- a learnable scalar alpha = 0 at the end of each branch, no BN --
makes every block the identity at init, and the network trains too. Here: residual MLPs on digits, a Linear stem
to width 64, ``depth`` pre-activation blocks x + W relu(BN(x)) (or x + alpha W relu(x), or x + W relu(x)) with He
init, and a Linear head on relu(stream). At init (depths 10, 30, 100, a batch of 128): the variance of each branch
and of the stream, and the gradient norm of the stem's weights; then a short SGD training at depth 30.
(Yang et al.'s explosion in BN networks *without* skips is the init-gradients experiment.)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, nn

from ..training import DIVERGED, load, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

VARIANTS = {"bn": "BN", "skipinit": "SkipInit", "none": "no BN"}  # "no BN": neither BN nor SkipInit
WIDTH, BATCH, LR, MOMENTUM = 64, 128, 0.05, 0.9
FRACTION_MARGIN = 0.2
FRACTION_WHY = ("the 1/depth law holds up to the stem's own variance (about 2, a 2% shift at depth 100) and the "
                "finite width's spread of the branch variance around 1; 0.2 is a tenth of the factor 2 that would "
                "separate it from 1/(2 depth) or 2/depth")
FLAT_MARGIN = 1.0
FLAT_WHY = ("Yang et al.'s rate pi/(pi - 1) per layer would multiply ||grad||^2 by about 1e15 from depth 10 to 100, "
            "7.5 decades of ||grad||; one decade is a per-block growth of ||grad|| under 2.6%")
NONE_WHY = "a factor sqrt(2) either way; with BN the deepest branches are about 1/depth, a factor 50-100 smaller"


class Block(nn.Module):
    """A pre-activation residual block ``x + W relu(BN(x))`` ("bn"), ``x + alpha W relu(x)`` with a learnable scalar
    alpha initialised at 0 ("skipinit", De & Smith's SkipInit) or ``x + W relu(x)`` ("none"); W has He init."""

    def __init__(self, width: int, variant: str, rng: np.random.Generator) -> None:
        super().__init__()
        self.variant = variant
        self.linear = nn.Linear(width, width, bias=False)
        self.linear.weight.data[...] = rng.normal(0, math.sqrt(2 / width), (width, width))
        if variant == "bn":
            self.norm = nn.BatchNorm1d(width)
        if variant == "skipinit":
            self.alpha = nn.Parameter(np.zeros(1, dtype=np.float32))

    def branch(self, x: Tensor) -> Tensor:
        h = self.linear((self.norm(x) if self.variant == "bn" else x).relu())
        return h * self.alpha if self.variant == "skipinit" else h

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


class ResidualMLP(nn.Module):
    """A Linear stem (He init, no bias), ``depth`` blocks of one variant (:class:`Block`), a Linear head on
    relu(stream)."""

    def __init__(self, n_features: int, depth: int, variant: str, seed: int) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"ResidualMLP: unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        rng = np.random.default_rng(seed)
        self.stem = nn.Linear(n_features, WIDTH, bias=False)
        self.stem.weight.data[...] = rng.normal(0, math.sqrt(2 / n_features), (WIDTH, n_features))
        self.blocks = nn.Sequential(*(Block(WIDTH, variant, rng) for _ in range(depth)))
        self.head = nn.Linear(WIDTH, 10, generator=seed)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)).relu())


def at_init(*, seed: int, depth: int, variant: str) -> dict:
    """At init, on a batch of :data:`BATCH` training digits: each block's stream and branch variance (mean over units
    of the batch variance) and the norm of the loss's gradient for the stem's weights."""
    split = load("digits", seed)
    model = ResidualMLP(split.n_features, depth, variant, seed)
    rows = np.random.default_rng(seed + 1).choice(len(split.y_train), BATCH, replace=False)
    x, y = Tensor(split.X_train[rows]), split.y_train[rows]
    stream, branch = [], []
    h = model.stem(x)
    for block in model.blocks:  # the model's forward, block by block
        f = block.branch(h)
        stream.append(float(h.data.astype(np.float64).var(axis=0).mean()))
        branch.append(float(f.data.astype(np.float64).var(axis=0).mean()))
        h = h + f
    model.head(h.relu()).cross_entropy(y).backward()
    grad = float(np.linalg.norm(model.stem.weight.grad.data.astype(np.float64)))
    return {"stream_var": stream, "branch_var": branch, "stem_grad_norm": grad}


def trained(*, seed: int, depth: int, variant: str, steps: int) -> dict:
    """Train for ``steps`` SGD steps: test accuracy, or :data:`DIVERGED` (the loss went above 1e4 or non-finite)."""
    split = load("digits", seed)
    model = ResidualMLP(split.n_features, depth, variant, seed)
    with np.errstate(over="ignore", invalid="ignore"):  # without normalization the values overflow: recorded below
        h = train(model, split, steps=steps, batch_size=BATCH, lr=LR, momentum=MOMENTUM, seed=seed,
                  eval_every=steps, progress=False)
    return {"diverged": h.diverged, "divergence": h.divergence, "test_acc": DIVERGED if h.diverged else h.final_acc}


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    depths, train_depth, steps = ([10, 30], 10, 30) if quick else ([10, 30, 100], 30, 60)
    init_tasks = [{"seed": s, "depth": d, "variant": v} for v in VARIANTS for d in depths for s in seeds]
    train_tasks = [{"seed": s, "depth": train_depth, "variant": v, "steps": steps} for v in VARIANTS for s in seeds]
    found = iter(runner.map(at_init, init_tasks, desc="residual, at init"))
    init = {v: {d: [next(found) for _ in seeds] for d in depths} for v in VARIANTS}
    found = iter(runner.map(trained, train_tasks, desc="residual, training"))
    runs = {v: [next(found) for _ in seeds] for v in VARIANTS}

    deep, shallow = depths[-1], depths[0]

    def share(v: str, d: int) -> np.ndarray:  # (seeds, blocks): each branch's variance over its stream's
        return np.array([np.array(r["branch_var"]) / np.array(r["stream_var"]) for r in init[v][d]])

    def fraction(v: str, d: int) -> np.ndarray:  # per seed, over the deeper half: mean of block index x share
        return (share(v, d) * np.arange(1, d + 1))[:, d // 2:].mean(axis=1)

    def growth(v: str) -> np.ndarray:  # log10 of the stem gradient's norm, deepest over shallowest
        return np.log10([a["stem_grad_norm"] / b["stem_grad_norm"] for a, b in zip(init[v][deep], init[v][shallow],
                                                                                      strict=True)])

    diverged = {v: sum(r["diverged"] for r in rs) for v, rs in runs.items()}
    acc = {v: [r["test_acc"] for r in rs] for v, rs in runs.items() if not diverged[v]}
    checks = [
        stats.mean_effect(fraction("bn", deep) - 1, seed=seed, direction="within", margin=FRACTION_MARGIN,
                          reason=FRACTION_WHY, unit="l Var(branch)/Var(stream) - 1",
                          claim=f"with BN branch l carries about 1/l of its stream's variance (mean of l Var(branch)"
                          f"/Var(stream) over blocks {deep // 2 + 1}..{deep})"),
        stats.mean_effect(np.log2(share("none", deep)[:, deep // 2:]).mean(axis=1), seed=seed, direction="within",
                          margin=0.5, reason=NONE_WHY,
                          unit="log2(Var(branch)/Var(stream))",
                          claim=f"without normalization each branch is as large as its stream (He init doubles the "
                          f"variance per block; mean over blocks {deep // 2 + 1}..{deep})"),
        stats.mean_effect(growth("bn"), seed=seed, direction="within", margin=FLAT_MARGIN, reason=FLAT_WHY,
                          unit=f"log10(||grad|| at depth {deep} / {shallow})",
                          claim=f"with BN on the branches the stem's gradient does not explode from depth {shallow} "
                          f"to {deep}"),
        stats.mean_effect(growth("skipinit"), seed=seed, direction="within", margin=FLAT_MARGIN, reason=FLAT_WHY,
                          kind=stats.SANITY, unit=f"log10(||grad|| at depth {deep} / {shallow})",
                          claim=f"with SkipInit the stem's gradient does not explode from depth {shallow} to {deep} "
                          "(at init every block is the identity: it cannot)"),
        stats.mean_effect(growth("none") - FLAT_MARGIN, seed=seed, unit=f"log10(||grad|| ratio) - {FLAT_MARGIN:g}",
                          claim=f"without normalization the stem's gradient explodes from depth {shallow} to {deep} "
                          f"(by more than {FLAT_MARGIN:g} decade)"),
    ]
    if "bn" in acc and "skipinit" in acc:
        checks.append(stats.paired(acc["skipinit"], acc["bn"], seed=seed, direction="within", margin=0.02,
                                   reason="two points of test accuracy at about 0.96 on digits, twice the spread of "
                                   "one method's accuracy over seeds (about one point)", bounds=stats.DIFFERENCE,
                                   unit="test accuracy",
                                   claim=f"at depth {train_depth}, SkipInit trains about as well as BN in {steps} "
                                   "steps (SkipInit - BN)"))
    checks.append(stats.proportion(diverged["none"], len(seeds), unit="fraction diverged - 1/2",
                                   claim=f"at depth {train_depth} the network without normalization diverges "
                                   f"(loss above 1e4) in most runs"))

    def band(values, bounds=None) -> tuple[float, float, float]:
        return stats.interval(values, seed=seed, bounds=bounds)[:3]

    shown = np.unique(np.geomspace(1, deep, 25).round().astype(int))  # blocks drawn: about evenly on the log axis
    stream = {VARIANTS[v]: np.array([r["stream_var"] for r in init[v][deep]]) for v in VARIANTS}
    geo = {label: np.exp(np.log(np.maximum(a, 1e-30)).mean(0)) for label, a in stream.items()}
    plots.panels(
        {f"stream variance at init, depth {deep}": {label: (shown, g[shown - 1]) for label, g in geo.items()},
         f"branch / stream variance, depth {deep}": {
             **{VARIANTS[v]: (shown, share(v, deep).mean(0)[shown - 1]) for v in ("bn", "none")},
             "1/block": (shown, 1 / shown)}},
        out / "residual_variance", xlabel="block", ylabel=["Var(stream)", "Var(branch) / Var(stream)"],
        logx=True, logy=True)
    grads = {VARIANTS[v]: [band(np.log10([r["stem_grad_norm"] for r in init[v][d]])) for d in depths]
             for v in VARIANTS}
    accuracy = {VARIANTS[v]: band(acc[v], stats.ACCURACY) for v in acc}
    plots.interval_lines({"stem gradient at init": {label: (depths, g) for label, g in grads.items()}},
                         out / "residual_gradients", xlabel="depth (residual blocks)",
                         ylabel="log10 ||dL/dW_stem||", logx=True)
    numbers = {"seeds": seeds, "width": WIDTH, "batch": BATCH, "depths": depths, "train_depth": train_depth,
               "steps": steps, "lr": LR, "momentum": MOMENTUM,
               "block_times_share_deeper_half": {VARIANTS[v]: {d: band(fraction(v, d)) for d in depths}
                                                 for v in VARIANTS},
               "log10_stem_grad_mean_low_high": grads, "test_acc_mean_low_high": accuracy,
               "diverged": {VARIANTS[v]: n for v, n in diverged.items()}, "runs_at_init": init, "runs_trained": runs}
    grad_text = "; ".join(f"{label}: " + ", ".join(f"{10 ** g[0]:.3g} at depth {d}" for d, g in zip(depths, gs,
                                                                                                       strict=True))
                          for label, gs in grads.items())
    acc_text = ", ".join([f"{label} {m:.3f} [{lo:.3f}, {hi:.3f}]" for label, (m, lo, hi) in accuracy.items()]
                         + [f"{VARIANTS[v]} diverged in {n} of {len(seeds)} runs" for v, n in diverged.items() if n])
    figures = [
        Figure("residual_variance", "Variance along the residual stream at initialization",
               f"Residual MLPs of width {WIDTH} at init on a batch of {BATCH} digits, depth {deep}: left, the "
               f"variance of the stream entering a block (geometric mean over {len(seeds)} seeds; log-log, about 25 "
               "blocks drawn, evenly spaced on the log axis); "
               "right, each branch's variance as a fraction of its stream's (mean over seeds), with the line 1/block "
               "for reference. With BN the stream grows linearly and the branch falls like 1/block; without "
               "normalization the branch is as large as the stream, which doubles per block; SkipInit's branches "
               "are zero at init (alpha = 0), so its stream keeps the stem's variance."),
        Figure("residual_gradients", "The stem's gradient norm at initialization against depth",
               f"log10 of the norm of dL/dW for the stem's weights at init, mean and 95% interval over {len(seeds)} "
               f"seeds. {grad_text}. After {steps} SGD steps at depth {train_depth} (lr {LR:g}, momentum "
               f"{MOMENTUM:g}, batch {BATCH}), test accuracy {acc_text}."),
    ]
    c = checks
    finding = (f"At depth {deep}, BN's branch l carries {1 + c[0].effect:.2f} / l of its stream's variance "
               f"(blocks {deep // 2 + 1}..{deep}), no BN's {2 ** c[1].effect:.2f} of it; the stem's gradient from "
               f"depth {shallow} to {deep} changes by {c[2].short()} with BN, "
               f"{c[3].short()} with SkipInit and explodes without normalization ({c[4].short()}); at depth "
               f"{train_depth}: {acc_text}.")
    return Result(
        name="residual",
        claim="In deep residual networks BN downscales each residual branch (about 1/sqrt(depth) of the stream at "
        "init), so gradients do not explode and the network trains; SkipInit does the same without BN "
        "(De & Smith 2020).",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )
