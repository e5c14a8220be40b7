"""Run every experiment and write report.html, the BN graph, the plots and a JSON per experiment.

On this machine's worker processes the demo first spreads the runs of the one experiment as long as all the others
together (regularization) over the workers, then runs the other experiments whole, side by side (each with its
runs, statistics and figures in one worker, the longest first), so the plotting overlaps the training and no core
waits for one experiment's last run; on a Dask cluster (``--scheduler``) it runs the experiments one after
another with their runs spread over the cluster's workers, and writes the figures here. ``--seed`` makes the run
repeatable, and the numbers are the same either way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from . import agreement, experiments
from .experiments import EXPERIMENTS, Figure, Result, run_experiment
from .graphs import bn_vs_layernorm, covariate_shift_timeline, network_graph, train_vs_eval
from .report import write_report
from .runner import Runner

if TYPE_CHECKING:
    import viz

LONGEST_FIRST = ("regularization", "smoothness", "init-gradients", "small-batch", "covariate-shift", "test-time",
                 "speed", "residual", "bn-only", "mc-batchnorm", "noise", "scale-invariance", "timeline",
                 "train-vs-eval", "bn-vs-ln")
"""The demo's parts in the order they start: about longest first in the full run and so that two workers finish
together in the quick one; the last to start are short."""
SPREAD = ("regularization",)
"""Experiments whose runs are spread over all the workers before the other parts start side by side: regularization
alone takes about as much CPU time as all the others together, and would otherwise keep one worker busy long after
the other is done."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    experiments.add_arguments(parser, with_name=False)
    parser.add_argument("--compare", type=Path, default=None, metavar="OLD",
                        help="a previous run's folder: report per check whether verdict and interval agree with it")


def _part(name: str, *, quick: bool, seed: int, out: Path, runner: Runner | None = None,
          n_seeds: int | None = None) -> Result | viz.Explorer | viz.Comparison:
    """One part of the demo: experiment ``name`` (its runs on ``runner``; None: in this process), the
    covariate-shift run's timeline (``name="timeline"``) or a comparison (``"train-vs-eval"``, ``"bn-vs-ln"``)."""
    if name == "timeline":
        return covariate_shift_timeline(quick, seed)
    if name == "train-vs-eval":
        return train_vs_eval(quick, seed)
    if name == "bn-vs-ln":
        return bn_vs_layernorm(seed)
    with contextlib.ExitStack() as stack:
        if runner is None:
            runner = stack.enter_context(Runner(jobs=1, progress=False))
        return run_experiment(name, quick=quick, seed=seed, out=out, runner=runner, n_seeds=n_seeds)


def demo(
    out: Path | str = "out",
    *,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    command: str = "tinygrad-bn demo",
    runner: Runner | None = None,
    n_seeds: int | None = None,
    compare: Path | str | None = None,
) -> tuple[Path, list[Result]]:
    """Run all experiments into ``out`` and write the report; returns its path and the results.

    Args:
        out: the output folder.
        quick: tiny settings (3 seeds) instead of the full ones (20 seeds).
        seed: the block of seeds of every experiment.
        progress: progress bars.
        command: the command line the report says produced it.
        runner: where the runs execute (default: joblib processes on all cores).
        n_seeds: seeds per configuration (default 3 quick, 20 full).
        compare: a previous run's folder: ``compare.json`` and the report say per check whether verdict and
            interval agree with its JSON (:mod:`bnlab.agreement`).
    """
    if runner is None:
        with Runner(progress=progress) as runner:
            return demo(out, quick=quick, seed=seed, progress=progress, command=command, runner=runner,
                        n_seeds=n_seeds, compare=compare)
    old = None if compare is None else agreement.previous(compare, list(EXPERIMENTS))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    found = network_graph(out / "bn_graph.svg", seed)
    graph = Figure(
        "bn_graph",
        "A small network's graph: Linear, BatchNorm1d, ReLU, Dropout, Linear, cross-entropy",
        "One training step on a batch of 8 as viz.render draws it by default: each module a box titled by path and "
        "class, the BatchNorm where noise first enters opened op by op, tensors shaded grey by the log of their "
        "gradient norm (light small, dark large; the legend's ramp gives the range) and the noise paths in the "
        "legend's colours. viz.noise_paths found: " + "; ".join(found["noise_entries"]) + ".",
    )
    # on a cluster every part's runs are spread over its workers, and its figures drawn here (the workers may not
    # see `out`); on this machine only SPREAD's are, and the other parts run whole, side by side, in the workers
    spread = LONGEST_FIRST if runner.scheduler else SPREAD
    with threadpool_limits(1, user_api="blas"):  # like every run (faster for these small matrices)
        bar = tqdm(spread, desc="experiments spread over the workers", disable=not progress or len(spread) == 1)
        parts = {name: _part(name, quick=quick, seed=seed, out=out, runner=runner, n_seeds=n_seeds) for name in bar}
    rest = [name for name in LONGEST_FIRST if name not in parts]
    tasks = [{"name": name, "quick": quick, "seed": seed, "out": out, "n_seeds": n_seeds} for name in rest]
    parts |= dict(zip(rest, runner.map(_part, tasks, desc="experiments + timeline"), strict=True))
    results = [parts[name] for name in EXPERIMENTS]
    timeline = Figure(
        "covariate_shift_timeline",
        "One covariate-shift run with BN, step by step",
        "The covariate-shift experiment's sigmoid MLP with BN on MNIST at four training steps: move the slider to "
        "see values, histograms and gradient heat change while the graph holds still; click a BatchNorm1d box's "
        "nodes to see that its output keeps mean 0 and std 1 while its input drifts.",
    )
    bn_ln = Figure("bn_vs_ln", "BatchNorm vs LayerNorm, side by side",
                   "The small network above with LayerNorm in BatchNorm's place, one training step each on the same "
                   "batch, initial weights and dropout mask: " + parts["bn-vs-ln"].diff.headline + ". The views move "
                   "together; a box opens with its match; the table lists the largest differences (click a row).")
    train_eval = Figure("test_time_graph", "Test time: a trained BN network in train mode vs eval mode",
                        "The test-time experiment's network after training, one step on 32 test examples: "
                        + parts["train-vs-eval"].diff.headline + ". In eval mode BatchNorm normalizes with its "
                        "running statistics, so no batch noise enters and a prediction does not depend on the batch.")
    explorers = [(graph, found["explorer"]), (bn_ln, parts["bn-vs-ln"]), (timeline, parts["timeline"]),
                 (train_eval, parts["train-vs-eval"])]
    rows = None if old is None else agreement.compare(old, results)
    if rows is not None:
        agreement.write(out, rows, compare)
    report = write_report(out, results, graph=graph, command=command, seconds=time.perf_counter() - start,
                          explorers=explorers, comparison=rows)
    return report, results


def run(args: argparse.Namespace) -> int:
    command = "tinygrad-bn demo" + (" " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["demo"] else "")
    with experiments.runner_from(args) as runner:
        report, results = demo(args.out, quick=args.quick, seed=args.seed, progress=args.progress, command=command,
                               runner=runner, n_seeds=args.seeds, compare=args.compare)
    for r in results:
        print(f"{r.name:>16}: {r.verdict:<13} {r.finding}")
        for c in r.checks:
            print(f"{'':>18}{c}")
    if args.compare is not None:
        rows = json.loads((Path(args.out) / "compare.json").read_text())["checks"]
        print(f"Against {args.compare}: {sum(r['status'] == 'agrees' for r in rows)} of {len(rows)} checks agree")
        for row in rows:
            if row["status"] != "agrees":
                print("  " + agreement.describe(row))
    print(f"Report: {report.resolve()}")
    return 0
