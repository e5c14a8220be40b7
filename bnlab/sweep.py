"""Run a grid of training runs (normalizer x batch size x lr x depth x width x seed) into one tidy CSV and plots.

    tinygrad-bn sweep --norm bn gn ln none --batch-size 8 32 128 --lr 0.03 0.1 0.3 --seeds 5 --out out/sweep

Each run trains the built-in MLP family (``depth`` hidden layers of ``width`` units, each followed by the
normalizer and ReLU) with SGD on digits or MNIST-5k and appends one row to ``<out>/sweep.csv`` as it finishes:
its configuration, seed, metrics and wall time. Rerunning the same command skips every run already in the CSV,
so an interrupted sweep resumes where it stopped. Runs go through :class:`bnlab.runner.Runner` (``--jobs``,
``--scheduler``), and the plots show test accuracy against batch size and against learning rate per normalizer,
mean and 95% interval over seeds.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .training import NORMS, accuracy, load, mlp, train

__all__ = ["CONFIG", "METRICS", "Grid", "read_rows", "run_one", "sweep"]

CONFIG = ["dataset", "norm", "batch_size", "lr", "depth", "width", "steps", "momentum", "seed"]
"""The CSV columns that identify a run (a run whose values are all in the CSV is not run again)."""
METRICS = ["test_acc", "train_acc", "final_loss", "steps_to_90", "diverged", "seconds"]
"""The CSV columns a run measures; ``steps_to_90`` is empty when test accuracy never reached 90%."""


@dataclass
class Grid:
    """A sweep's grid: every combination of the lists, each for ``seeds`` seeds counted from ``seed``.

    Args:
        dataset: "digits" or "mnist".
        norms: normalizers (see :data:`bnlab.training.NORMS`).
        batch_sizes: mini-batch sizes.
        lrs: SGD learning rates.
        depths: numbers of hidden layers.
        widths: hidden-layer widths.
        seeds: how many seeds per configuration.
        seed: the first seed.
        steps: SGD steps per run.
        momentum: SGD momentum.
    """

    dataset: str = "digits"
    norms: Sequence[str] = ("bn", "none")
    batch_sizes: Sequence[int] = (16, 64)
    lrs: Sequence[float] = (0.1,)
    depths: Sequence[int] = (2,)
    widths: Sequence[int] = (64,)
    seeds: int = 3
    seed: int = 0
    steps: int = 200
    momentum: float = 0.9

    def runs(self) -> list[dict]:
        """Return one keyword dictionary per run, with the :data:`CONFIG` keys (the arguments of :func:`run_one`).

        Raises:
            ValueError: an unknown dataset or norm.
        """
        if self.dataset not in ("digits", "mnist"):
            raise ValueError(f"sweep: unknown dataset {self.dataset!r}; choose 'digits' or 'mnist'")
        bad = [n for n in self.norms if n not in NORMS]
        if bad:
            raise ValueError(f"sweep: unknown norm(s) {bad}; choose from {', '.join(NORMS)}")
        return [
            {
                "dataset": self.dataset,
                "norm": n,
                "batch_size": int(b),
                "lr": float(lr),
                "depth": int(d),
                "width": int(w),
                "steps": int(self.steps),
                "momentum": float(self.momentum),
                "seed": int(s),
            }
            for n, b, lr, d, w, s in itertools.product(
                self.norms,
                self.batch_sizes,
                self.lrs,
                self.depths,
                self.widths,
                range(self.seed, self.seed + self.seeds),
            )
        ]


def run_one(
    *,
    dataset: str,
    norm: str,
    batch_size: int,
    lr: float,
    depth: int,
    width: int,
    steps: int,
    momentum: float,
    seed: int,
) -> dict:
    """Train one configuration.

    Args:
        dataset: "digits" or "mnist".
        norm: the normalizer (see :data:`bnlab.training.NORMS`).
        batch_size: the mini-batch size.
        lr: the SGD learning rate.
        depth: the number of hidden layers.
        width: the hidden-layer width.
        steps: SGD steps.
        momentum: SGD momentum.
        seed: the seed of the split, the initialization and the batches.

    Returns:
        Its metrics, by the names in :data:`METRICS`.
    """
    start = time.perf_counter()
    split = load(dataset, seed)
    model = mlp([split.n_features] + [width] * depth + [10], norm=norm, seed=seed)
    h = train(
        model,
        split,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        seed=seed,
        eval_every=max(1, steps // 20),
        progress=False,
    )
    return {
        "test_acc": 0.1 if h.diverged else h.final_acc,
        "train_acc": 0.1 if h.diverged else accuracy(model, split.X_train, split.y_train),
        "final_loss": h.loss[-1],
        "steps_to_90": h.steps_to(0.9),
        "diverged": h.diverged,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _key(row: dict) -> tuple:
    return tuple(str(row[k]) for k in CONFIG)


def read_rows(path: Path | str) -> list[dict]:
    """Return the rows of a sweep CSV as dictionaries of strings (empty when the file does not exist).

    Args:
        path: the CSV file (``<out>/sweep.csv``).
    """
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def sweep(grid: Grid, out: Path | str, runner) -> tuple[Path, list[dict]]:
    """Run every run of ``grid`` not yet in ``<out>/sweep.csv``, appending rows as they finish; then plot.

    Args:
        grid: the runs.
        out: the output folder (``sweep.csv``, ``sweep_batch_size.svg/png``, ``sweep_lr.svg/png``).
        runner: an entered :class:`bnlab.runner.Runner`.

    Returns:
        The CSV's path and all its rows (old and new).

    Raises:
        ValueError: when an existing CSV has other columns.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sweep.csv"
    done_rows = read_rows(path)
    columns = CONFIG + METRICS
    if done_rows and list(done_rows[0]) != columns:
        raise ValueError(f"sweep: {path} has columns {list(done_rows[0])}, expected {columns}")
    finished = {_key(r) for r in done_rows}
    todo = [r for r in grid.runs() if _key(r) not in finished]
    print(f"sweep: {len(grid.runs())} runs, {len(grid.runs()) - len(todo)} already in {path}, {len(todo)} to run")
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        if new:
            writer.writeheader()
            f.flush()

        def append(task: dict, metrics: dict) -> None:
            writer.writerow({**task, **{k: "" if v is None else v for k, v in metrics.items()}})
            f.flush()

        runner.map(run_one, todo, desc="sweep", done=append)
    rows = read_rows(path)
    plot(rows, out, grid)
    return path, rows


def plot(rows: list[dict], out: Path, grid: Grid) -> None:
    """Test accuracy against batch size (a panel per lr) and against lr (a panel per batch size), per normalizer."""
    from . import plots
    from .stats import interval

    wanted = {_key(r) for r in grid.runs()}
    rows = [r for r in rows if _key(r) in wanted]

    def label(r: dict) -> str:
        extra = (f", depth {r['depth']}" if len(grid.depths) > 1 else "") + (
            f", width {r['width']}" if len(grid.widths) > 1 else ""
        )
        return r["norm"] + extra

    def panels(across: str, per: str) -> dict:
        found: dict = {}
        for r in rows:
            found.setdefault(f"{per} {r[per]}", {}).setdefault(label(r), {}).setdefault(float(r[across]), []).append(
                float(r["test_acc"])
            )
        return {
            title: {lab: (sorted(pts), [interval(pts[x])[:3] for x in sorted(pts)]) for lab, pts in series.items()}
            for title, series in found.items()
        }

    for across, per in (("batch_size", "lr"), ("lr", "batch_size")):
        plots.interval_lines(
            panels(across, per),
            out / f"sweep_{across}",
            xlabel=across.replace("_", " "),
            ylabel=f"test accuracy after {grid.steps} steps",
            logx=True,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sweep`` subcommand's arguments."""
    from .experiments import add_runner_arguments

    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits", help="digits or MNIST-5k")
    parser.add_argument("--norm", nargs="+", default=["bn", "none"], choices=NORMS, help="normalizers")
    parser.add_argument("--batch-size", nargs="+", type=int, default=[16, 64], help="mini-batch sizes")
    parser.add_argument("--lr", nargs="+", type=float, default=[0.1], help="learning rates")
    parser.add_argument("--depth", nargs="+", type=int, default=[2], help="numbers of hidden layers")
    parser.add_argument("--width", nargs="+", type=int, default=[64], help="hidden-layer widths")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--steps", type=int, default=200, help="SGD steps per run")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    parser.add_argument("--out", type=Path, default=Path("out/sweep"), help="folder for sweep.csv and the plots")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    add_runner_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the sweep the parsed arguments describe and print where the CSV and plots are."""
    from .experiments import runner_from

    grid = Grid(
        dataset=args.dataset,
        norms=args.norm,
        batch_sizes=args.batch_size,
        lrs=args.lr,
        depths=args.depth,
        widths=args.width,
        seeds=args.seeds,
        seed=args.seed,
        steps=args.steps,
        momentum=args.momentum,
    )
    with runner_from(args) as runner:
        path, rows = sweep(grid, args.out, runner)
    accs = np.array([float(r["test_acc"]) for r in rows]) if rows else np.zeros(0)
    print(
        f"{len(rows)} rows in {path.resolve()} (mean test accuracy {accs.mean():.3f}); plots "
        f"sweep_batch_size and sweep_lr (.svg, .png) beside it"
    )
    return 0
