"""Experiment plots (matplotlib): each function takes plain numbers and writes ``<stem>.svg`` and ``<stem>.png``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

plt.rcParams.update(
    {
        "svg.hashsalt": "tinygrad_bn",
        "figure.dpi": 100,
        "font.size": 9,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)
COLORS = {"no BN": "#d62728", "BN": "#1f77b4"}

Curve = tuple[Sequence[float], Sequence[float]]


def save(fig: plt.Figure, stem: Path | str) -> list[Path]:
    """Write ``fig`` as ``<stem>.svg`` and ``<stem>.png`` (reproducible: no timestamps), close it."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    paths = [stem.with_suffix(".svg"), stem.with_suffix(".png")]
    fig.savefig(paths[0], metadata={"Date": None})
    fig.savefig(paths[1], dpi=110, metadata={"Software": None})
    plt.close(fig)
    return paths


def _color(label: str, i: int) -> str:
    return COLORS.get(label, f"C{i}")


def curves(
    series: Mapping[str, Curve],
    stem: Path | str,
    *,
    title: str,
    ylabel: str,
    xlabel: str = "step",
    logx: bool = False,
    logy: bool = False,
    ylim: tuple[float, float] | None = None,
) -> list[Path]:
    """Line plot of several labelled (x, y) series."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, (label, (x, y)) in enumerate(series.items()):
        ax.plot(x, y, label=label, color=f"C{i}", lw=1.5)
    ax.set(
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
        xscale="log" if logx else "linear",
        yscale="log" if logy else "linear",
    )
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8)
    return save(fig, stem)


def accuracy_curves(
    runs: Mapping[str, Mapping[str, Mapping]], stem: Path | str, *, title: str, target: float
) -> list[Path]:
    """One panel per learning rate: test accuracy vs step for each label (``runs[lr][label]`` has steps, test_acc)."""
    n = len(runs)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), sharey=True, squeeze=False)
    for ax, (lr, by_label) in zip(axes.flat, runs.items()):
        for i, (label, run) in enumerate(by_label.items()):
            tag = " (diverged)" if run.get("diverged") else ""
            ax.plot(run["steps"], run["test_acc"], color=_color(label, i), label=label + tag, lw=1.5)
        ax.axhline(target, color="gray", ls="--", lw=0.8)
        ax.set(title=f"lr = {lr}", xlabel="step", ylim=(0, 1))
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return save(fig, stem)


def steps_to_target(datasets: Mapping[str, Mapping[str, Mapping]], stem: Path | str, *, target: float) -> list[Path]:
    """Steps to reach ``target`` against learning rate (log x) per dataset and label; runs that never did: left out."""
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3), squeeze=False)
    for ax, (name, runs) in zip(axes[0], datasets.items()):
        labels = {label for r in runs.values() for label in r}
        for i, label in enumerate(sorted(labels, reverse=True)):
            pts = [(float(lr), r[label]["steps_to_90"]) for lr, r in runs.items() if r[label]["steps_to_90"]]
            if pts:
                ax.plot(*zip(*pts), "o-", color=_color(label, i), label=label)
        ax.set(title=name, xscale="log", xlabel="learning rate", ylabel=f"steps to {target:.0%} test acc.")
        ax.set_xticks([float(lr) for lr in runs], labels=list(runs))
        ax.minorticks_off()
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return save(fig, stem)


def panels(
    panels: Mapping[str, Mapping[str, Curve]],
    stem: Path | str,
    *,
    xlabel: str,
    logx: bool = False,
    logy: Sequence[bool] | bool = False,
) -> list[Path]:
    """Side-by-side panels, each a titled set of labelled (x, y) series."""
    n = len(panels)
    logys = [logy] * n if isinstance(logy, bool) else list(logy)
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n, 3.2), squeeze=False)
    for ax, ly, (title, series) in zip(axes[0], logys, panels.items()):
        for i, (label, (x, y)) in enumerate(series.items()):
            ax.plot(x, y, "o-" if len(x) <= 30 else "-", ms=3, color=_color(label, i), label=label, lw=1.5)
        ax.set(title=title, xlabel=xlabel, xscale="log" if logx else "linear", yscale="log" if ly else "linear")
        ax.legend(fontsize=8)
    return save(fig, stem)


def percentile_bands(
    runs: Mapping[str, tuple[Sequence[float], Sequence[Sequence[float]]]],
    stem: Path | str,
    *,
    percentiles: Sequence[int],
) -> list[Path]:
    """One panel per run: the given percentiles (rows of the second item) against step, the outer ones shaded."""
    fig, axes = plt.subplots(1, len(runs), figsize=(3.8 * len(runs), 3.2), squeeze=False)
    for ax, (i, (label, (steps, pcts))) in zip(axes[0], enumerate(runs.items())):
        pcts = np.asarray(pcts)
        color = _color(label, i)
        ax.fill_between(steps, pcts[0], pcts[-1], color=color, alpha=0.2)
        for p, row in zip(percentiles, pcts):
            ax.plot(steps, row, color=color, lw=2 if p == 50 else 1, label=f"{p}th percentile")
        ax.set(title=label, xlabel="step")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("sigmoid input")
    return save(fig, stem)


def scatter_grid(
    runs: Mapping[str, Mapping[int, Sequence[Sequence[float]]]], stem: Path | str, *, xlabel: str, ylabel: str
) -> list[Path]:
    """Rows: runs; columns: steps; each cell a scatter of (x, y) points."""
    steps = sorted({int(s) for r in runs.values() for s in r})
    fig, axes = plt.subplots(len(runs), len(steps), figsize=(2.4 * len(steps), 2.3 * len(runs)), squeeze=False)
    for r, (i, (label, by_step)) in enumerate(enumerate(runs.items())):
        for c, step in enumerate(steps):
            ax = axes[r, c]
            pts = np.asarray(by_step[step])
            ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, color=_color(label, i))
            ax.set_title(f"{label}, step {step}", fontsize=8)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
    return save(fig, stem)


def loglog_noise(
    sizes: Sequence[int],
    series: Mapping[str, tuple[Sequence[float], Sequence[float], str]],
    stem: Path | str,
    *,
    extra: Mapping[str, tuple[Sequence[float], str]] | None = None,
) -> list[Path]:
    """Measured noise (dots) and predictions (dashed) against batch size on log-log axes, one panel per kind.

    ``series[title] = (measured, predicted, prediction label)``; ``extra[title]`` adds a second prediction (dotted).
    """
    fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3.3), squeeze=False)
    for ax, (i, (title, (measured, predicted, label))) in zip(axes[0], enumerate(series.items())):
        ax.plot(sizes, measured, "o-", color=f"C{i}", label="measured")
        ax.plot(sizes, predicted, "--", color="black", label=label)
        if extra and title in extra:
            ax.plot(sizes, extra[title][0], ":", color="gray", label=extra[title][1])
        ax.set(title=title, xscale="log", yscale="log", xlabel="batch size B", ylabel="std over batches")
        ax.set_xticks(list(sizes), labels=[str(s) for s in sizes])
        ax.minorticks_off()
        ax.legend(fontsize=8)
    return save(fig, stem)


def bars_with_spread(panels: Mapping[str, Mapping[str, tuple[float, float]]], stem: Path | str) -> list[Path]:
    """One panel per quantity: a bar per label at its mean with an error bar of its spread."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.9 * len(panels), 3.6), squeeze=False)
    for ax, (title, values) in zip(axes[0], panels.items()):
        labels = list(values)
        means = [values[k][0] for k in labels]
        ax.bar(
            range(len(labels)),
            means,
            yerr=[values[k][1] for k in labels] if any(values[k][1] for k in labels) else None,
            capsize=3,
            color=[f"C{i}" for i in range(len(labels))],
            alpha=0.85,
        )
        ax.set_xticks(range(len(labels)), labels=labels, rotation=40, ha="right", fontsize=7)
        ax.set_title(title)
        lo, hi = (
            min(m - values[k][1] for k, m in zip(labels, means)),
            max(m + values[k][1] for k, m in zip(labels, means)),
        )
        pad = 0.15 * (hi - lo or 1.0)
        ax.set_ylim(min(0.0, lo - pad) if lo < 0.5 else lo - pad, hi + pad)
    return save(fig, stem)


def strips(groups: Mapping[str, np.ndarray], stem: Path | str, *, xlabel: str, ylabel: str) -> list[Path]:
    """One panel per group of (repeats, classes) values: each column's repeats as jittered dots."""
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.2), squeeze=False, sharey=True)
    jitter = np.random.default_rng(0)
    for ax, (i, (title, values)) in zip(axes[0], enumerate(groups.items())):
        values = np.asarray(values)
        for c in range(values.shape[1]):
            ax.scatter(c + jitter.uniform(-0.15, 0.15, len(values)), values[:, c], s=6, alpha=0.6, color=f"C{i}")
        ax.set(title=title, xlabel=xlabel, xticks=range(values.shape[1]))
    axes[0, 0].set_ylabel(ylabel)
    return save(fig, stem)
