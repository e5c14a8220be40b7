"""How the step's cost grows: ours, hand-written numpy and PyTorch over batch size and hidden width.

The BN-MLP 784-W-W-10 step of ``step`` (eager, and replayed by ``tinygrad_bn.jit``) at batch sizes
``BATCHES`` (width 256) and hidden widths ``WIDTHS`` (batch 64). As the arithmetic grows the fixed
Python cost per step matters less, so the ratio to hand-written numpy should fall towards 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from . import handwritten, peers, step
from .timing import blocks

BATCHES = (16, 64, 256, 1024, 4096)
WIDTHS = (64, 256, 1024, 2048)
WIDTH, BATCH = 256, 64  # the width of the batch sweep and the batch of the width sweep
Config = tuple[int, int]  # (batch, width)


def configs(batches: tuple[int, ...] = BATCHES, widths: tuple[int, ...] = WIDTHS) -> list[Config]:
    """The batch sweep at width ``WIDTH`` and the width sweep at batch ``BATCH`` (their shared point once)."""
    out = [(b, WIDTH) for b in batches]
    return out + [(BATCH, w) for w in widths if (BATCH, w) not in out]


def measure(points: list[Config], repeats: int, seconds: float,
            with_torch: bool = True) -> dict[str, dict[Config, float | str]]:
    """Seconds per step of each system at each point, all of them taking turns in one rotation of blocks."""
    runs: dict[tuple[str, Config], Callable[[], object]] = {}
    results: dict[str, dict[Config, float | str]] = {"hand-written numpy": {}, "tinygrad_bn": {},
                                                     "tinygrad_bn (jit)": {}}
    if with_torch:
        results["PyTorch eager"] = {}
    for b, w in points:
        params = handwritten.init_params((step.SIZES[0], w, w, step.SIZES[-1]))
        x, y = step.batch(b)
        runs[("hand-written numpy", (b, w))] = step.hand(params, x, y)
        runs[("tinygrad_bn", (b, w))] = step.ours(params, x, y)
        runs[("tinygrad_bn (jit)", (b, w))] = step.ours_jit(params, x, y)
        if with_torch:
            try:
                runs[("PyTorch eager", (b, w))] = peers.torch_step(params, x, y, step.LR)
            except peers.Unavailable as e:
                results["PyTorch eager"][(b, w)] = f"absent: {e}"
    for (name, point), t in blocks(runs, repeats, seconds, warmup=1).items():
        results[name][point] = t
    return results


def crossing(xs: list[int], ratios: list[float], level: float = 1.1) -> float | None:
    """Where ``ratios`` first falls to ``level`` and stays there, interpolated on a log axis; None if never.

    The first point if it is already at or below ``level``.
    """
    for i in range(len(xs)):
        if all(r <= level for r in ratios[i:]):
            if i == 0:
                return float(xs[0])
            (x0, r0), (x1, r1) = (xs[i - 1], ratios[i - 1]), (xs[i], ratios[i])
            f = (r0 - level) / (r0 - r1)
            return math.exp(math.log(x0) + f * (math.log(x1) - math.log(x0)))
    return None


def sweeps(results: dict[str, dict[Config, float | str]], points: list[Config]):
    """For each sweep (label, axis values, points) and each system its ratios to hand-written numpy."""
    hand = results["hand-written numpy"]
    out = []
    for label, pts in (("batch size (width 256)", sorted(p for p in points if p[1] == WIDTH)),
                       ("hidden width (batch 64)", sorted((p for p in points if p[0] == BATCH), key=lambda p: p[1]))):
        xs = [p[0] if label.startswith("batch") else p[1] for p in pts]
        ratios = {name: [row[p] / hand[p] for p in pts] for name, row in results.items()
                  if name != "hand-written numpy" and all(isinstance(row.get(p), float) for p in pts)}
        out.append((label, xs, pts, ratios))
    return out


def plot(results: dict[str, dict[Config, float | str]], points: list[Config], path: str) -> None:
    """Two panels, ratio to hand-written numpy against batch size and against hidden width, as a PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global state

    fig = Figure(figsize=(8, 3.2), dpi=100, layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (label, xs, _, ratios) in zip(axes, sweeps(results, points)):
        for (name, rs), style in zip(ratios.items(), ("o-", "^-", "s--")):
            ax.plot(xs, rs, style, label=name)
        ax.axhline(1.0, color="0.5", lw=0.8)
        ax.axhline(1.1, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("step time / hand-written numpy")
    axes[0].legend(frameon=False)
    fig.suptitle("BN-MLP 784-W-W-10 training step (dotted: 1.1x)", fontsize=10)
    fig.savefig(path)
