"""Experiment plots (matplotlib): each function takes plain numbers and writes ``<stem>.svg`` and ``<stem>.png``.

Figures are made with matplotlib's object API (``matplotlib.figure.Figure``, no pyplot), and the style is applied
with ``matplotlib.rc_context`` around each plot, so importing or using this module changes neither the global
rcParams nor the backend of a user's session.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

STYLE = {
    "svg.hashsalt": "tinygrad_bn",
    "figure.dpi": 100,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
COLORS = {"no BN": "#d62728", "BN": "#1f77b4", "no norm": "#d62728", "BatchNorm": "#1f77b4", "BatchRenorm": "#ff7f0e",
          "GroupNorm": "#2ca02c", "population statistics": "#9467bd", "train mode, test batches of B": "#8c564b",
          "BN, raw inputs": "#2ca02c", "no BN, raw inputs": "#ff7f0e"}
"""Fixed colours of labels that recur across figures (others take the cycle's colour of their position)."""

Curve = tuple[Sequence[float], Sequence[float]]


F = TypeVar("F", bound=Callable)


def styled(fn: F) -> F:
    """Run a plotting function inside ``matplotlib.rc_context(STYLE)``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def subplots(*args, **kwargs) -> tuple[Figure, object]:
    """``pyplot.subplots`` without pyplot: a new Figure (``figsize`` etc.) and its axes."""
    fig = Figure(**{k: kwargs.pop(k) for k in ("figsize",) if k in kwargs})
    FigureCanvasAgg(fig)  # a canvas with a renderer, to measure text and legends before saving
    return fig, fig.subplots(*args, **kwargs)


def _points(ax) -> np.ndarray:
    """Display coordinates of the data points drawn in ``ax``: line vertices and scatter offsets."""
    pts = [line.get_transform().transform(line.get_xydata()) for line in ax.get_lines() if line.get_visible()
           and len(line.get_xydata())]
    pts += [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections
            if c.get_visible() and type(c).__name__ == "PathCollection" and len(c.get_offsets())]
    return np.concatenate(pts) if pts else np.empty((0, 2))


def _covered(ax, renderer) -> int:
    """How many of ``ax``'s data points its legend covers."""
    legend = ax.get_legend()
    if legend is None or not legend.get_visible():
        return 0
    box = legend.get_window_extent(renderer)
    pts = _points(ax)
    inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
    return int(np.count_nonzero(inside & np.isfinite(pts).all(axis=1)))


def _legends_off_data(fig: Figure) -> None:
    """Move each legend that covers data points to matplotlib's best place, and when that still covers some,
    outside its panel on the right."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        if not _covered(ax, renderer):
            continue
        handles, labels = ax.get_legend_handles_labels()
        size = legend.get_texts()[0].get_fontsize() if legend.get_texts() else 8
        ax.legend(handles, labels, fontsize=size, loc="best")
        fig.draw_without_rendering()
        if _covered(ax, renderer):
            ax.legend(handles, labels, fontsize=size, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    fig.tight_layout()


def layout_problems(fig: Figure) -> list[str]:
    """What a reader would trip over in ``fig`` (drawn as saved): text outside the figure, a panel whose x or y
    axis has no label (a panel sharing an axis with a labelled one counts as labelled; category tick labels
    label an axis), a legend over data points. Empty when the figure is fine."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    bounds = fig.bbox
    problems = []
    def outside(box) -> bool:
        return box.x0 < bounds.x0 - 1 or box.x1 > bounds.x1 + 1 or box.y0 < bounds.y0 - 1 or box.y1 > bounds.y1 + 1

    if outside(fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)):
        problems.append(f"text reaches outside the figure (title {fig.get_suptitle()!r} or a panel's)")
    for ax in fig.axes:
        if ax.get_visible() and outside(ax.get_tightbbox(renderer)):
            problems.append(f"{ax.get_title() or 'a panel'}: its text reaches outside the figure")
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        name = ax.get_title() or f"panel {fig.axes.index(ax)}"
        for axis, shared in (("x", ax.get_shared_x_axes()), ("y", ax.get_shared_y_axes())):
            labelled = any(getattr(a, f"get_{axis}label")() for a in shared.get_siblings(ax))
            ticks = [t.get_text() for t in getattr(ax, f"get_{axis}ticklabels")()]
            categories = any(re.search(r"[A-DF-Za-df-z]|[A-Za-z]{2,}", re.sub(r"\$.*?\$", "", t)) for t in ticks)
            if not labelled and not categories:
                problems.append(f"{name}: the {axis} axis has no label")
        if covered := _covered(ax, renderer):
            problems.append(f"{name}: the legend covers {covered} data point{'s' * (covered > 1)}")
    return problems


def save(fig: Figure, stem: Path | str) -> list[Path]:
    """Write ``fig`` as ``<stem>.svg`` and ``<stem>.png`` (reproducible: no timestamps), close it; a legend that
    covers data points is moved off them first."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    _legends_off_data(fig)
    paths = [stem.with_suffix(".svg"), stem.with_suffix(".png")]
    fig.savefig(paths[0], metadata={"Date": None})
    fig.savefig(paths[1], dpi=110, metadata={"Software": None})
    return paths


def _color(label: str, i: int) -> str:
    return COLORS.get(label, f"C{i}")


@styled
def panels(
    panels: Mapping[str, Mapping[str, Curve]],
    stem: Path | str,
    *,
    xlabel: str,
    ylabel: str | Sequence[str] | None = None,
    logx: bool = False,
    logy: Sequence[bool] | bool = False,
) -> list[Path]:
    """Side-by-side panels, each a titled set of labelled (x, y) series; ``ylabel`` (one, or one per panel)
    defaults to each panel's title."""
    n = len(panels)
    logys = [logy] * n if isinstance(logy, bool) else list(logy)
    ylabels = list(panels) if ylabel is None else [ylabel] * n if isinstance(ylabel, str) else list(ylabel)
    fig, axes = subplots(1, n, figsize=(3.8 * n, 3.2), squeeze=False)
    for ax, ly, yl, (title, series) in zip(axes[0], logys, ylabels, panels.items()):
        for i, (label, (x, y)) in enumerate(series.items()):
            ax.plot(x, y, "o-" if len(x) <= 30 else "-", ms=3, color=_color(label, i), label=label, lw=1.5)
        ax.set(title=title, xlabel=xlabel, ylabel=yl, xscale="log" if logx else "linear",
               yscale="log" if ly else "linear")
        ax.legend(fontsize=8)
    return save(fig, stem)


@styled
def percentile_bands(
    runs: Mapping[str, tuple[Sequence[float], Sequence[Sequence[float]]]],
    stem: Path | str,
    *,
    percentiles: Sequence[int],
) -> list[Path]:
    """One panel per run: the given percentiles (rows of the second item) against step, the outer ones shaded."""
    fig, axes = subplots(1, len(runs), figsize=(3.8 * len(runs), 3.2), squeeze=False)
    for ax, (i, (label, (steps, pcts))) in zip(axes[0], enumerate(runs.items())):
        pcts = np.asarray(pcts)
        color = _color(label, i)
        ax.fill_between(steps, pcts[0], pcts[-1], color=color, alpha=0.2)
        for p, row in zip(percentiles, pcts):
            ax.plot(steps, row, color=color, lw=2 if p == 50 else 1, label=f"{p}th percentile")
        ax.set(title=label, xlabel="step", ylabel="sigmoid input")
        ax.legend(fontsize=7)
    return save(fig, stem)


@styled
def scatter_grid(
    runs: Mapping[str, Mapping[int, Sequence[Sequence[float]]]], stem: Path | str, *, xlabel: str, ylabel: str
) -> list[Path]:
    """Rows: runs; columns: steps; each cell a scatter of (x, y) points, the axes shared along a row (one run over
    training), so a drift shows."""
    steps = sorted({int(s) for r in runs.values() for s in r})
    fig, axes = subplots(len(runs), len(steps), figsize=(2.4 * len(steps), 2.3 * len(runs)), squeeze=False,
                         sharex="row", sharey="row")
    for r, (i, (label, by_step)) in enumerate(enumerate(runs.items())):
        for c, step in enumerate(steps):
            ax = axes[r, c]
            pts = np.asarray(by_step[step])
            ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, color=_color(label, i))
            ax.set_title(f"{label}, step {step}", fontsize=8)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
    return save(fig, stem)


@styled
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
    fig, axes = subplots(1, len(series), figsize=(4 * len(series), 3.3), squeeze=False)
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


@styled
def bars(panels: Mapping[str, Mapping[str, float]], stem: Path | str) -> list[Path]:
    """One panel per quantity: a bar per label; the y axis starts at zero."""
    fig, axes = subplots(1, len(panels), figsize=(3.9 * len(panels), 3.6), squeeze=False)
    for ax, (title, values) in zip(axes[0], panels.items()):
        labels = list(values)
        ax.bar(range(len(labels)), [values[k] for k in labels], color=[f"C{i}" for i in range(len(labels))], alpha=0.85)
        ax.set_xticks(range(len(labels)), labels=labels, rotation=40, ha="right", fontsize=7)
        ax.set(title=title, ylabel=title)
        ax.set_ylim(bottom=0)
    return save(fig, stem)


Interval = tuple[float, float, float]  # (estimate, low, high)


@styled
def intervals(panels: Mapping[str, Mapping[str, Interval]], stem: Path | str, *, zero: bool = False) -> list[Path]:
    """Dot-and-whisker panels: per label its estimate (dot) and 95% interval (whisker), labels down the y axis.

    ``zero`` draws a dashed line at 0 (for effects); otherwise the x axis spans the values (it need not start at 0).
    """
    n = len(panels)
    cols = min(n, 2)
    rows = -(-n // cols)
    height = max(len(v) for v in panels.values()) * 0.32 + 1.0
    fig, axes = subplots(rows, cols, figsize=(5.2 * cols, height * rows), squeeze=False)
    for ax, (title, values) in zip(axes.flat, panels.items()):
        labels = list(values)[::-1]
        for i, label in enumerate(labels):
            est, lo, hi = values[label]
            ax.plot([lo, hi], [i, i], color=f"C{len(labels) - 1 - i}", lw=2)
            ax.plot([est], [i], "o", color=f"C{len(labels) - 1 - i}", ms=5)
        if zero:
            ax.axvline(0, color="gray", ls="--", lw=0.8)
        ax.set_yticks(range(len(labels)), labels=labels, fontsize=7)
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.set_title(title, fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return save(fig, stem)


@styled
def interval_lines(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[Interval]]]],
    stem: Path | str,
    *,
    xlabel: str,
    ylabel: str | Sequence[str],
    logx: bool = False,
    logy: bool = False,
    ylim: tuple[float, float] | None = None,
) -> list[Path]:
    """Panels of labelled lines (up to three in a row, else two per row), each point an estimate with its 95%
    interval as a shaded band; ``ylabel`` is one label or one per panel."""
    n = len(panels)
    cols = n if n <= 3 else 2
    rows = -(-n // cols)
    ylabels = [ylabel] * n if isinstance(ylabel, str) else list(ylabel)
    fig, axes = subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, sharey=ylim is not None)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    for ax, ylabel, (title, series) in zip(axes.flat, ylabels, panels.items()):
        for i, (label, (x, pts)) in enumerate(series.items()):
            est, lo, hi = (np.asarray(v, dtype=float) for v in zip(*pts))
            ax.plot(x, est, "o-", ms=3, lw=1.5, color=_color(label, i), label=label)
            ax.fill_between(x, lo, hi, color=_color(label, i), alpha=0.15)
        ax.set(title=title, xlabel=xlabel, xscale="log" if logx else "linear", yscale="log" if logy else "linear")
        if logx:
            xs = sorted({float(v) for _, (x, _) in series.items() for v in x})
            ax.set_xticks(xs, labels=[f"{v:g}" for v in xs])
            ax.minorticks_off()
        if ylim:
            ax.set_ylim(*ylim)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    return save(fig, stem)


@styled
def strips(groups: Mapping[str, np.ndarray], stem: Path | str, *, xlabel: str, ylabel: str) -> list[Path]:
    """One panel per group of (repeats, classes) values: each column's repeats as jittered dots."""
    fig, axes = subplots(1, len(groups), figsize=(4 * len(groups), 3.2), squeeze=False, sharey=True)
    jitter = np.random.default_rng(0)
    for ax, (i, (title, values)) in zip(axes[0], enumerate(groups.items())):
        values = np.asarray(values)
        for c in range(values.shape[1]):
            ax.scatter(c + jitter.uniform(-0.15, 0.15, len(values)), values[:, c], s=6, alpha=0.6, color=f"C{i}")
        ax.set(title=title, xlabel=xlabel, xticks=range(values.shape[1]))
    axes[0, 0].set_ylabel(ylabel)
    return save(fig, stem)
