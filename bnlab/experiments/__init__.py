"""Run one experiment: its figures, a JSON of its numbers, and checks with confidence intervals over seeds.

Each experiment is a module here with ``run(*, quick, seed, out, runner) -> Result``; its independent runs
(seeds x configurations) go through ``runner`` (:class:`bnlab.runner.Runner`). The verdict on the claim is
computed from the result's checks (:mod:`bnlab.stats`), never written by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # worker processes import the experiment modules for their runs: keep scipy and joblib out
    from ..runner import Runner
    from ..stats import Check

EXPERIMENTS = {
    "speed": "bnlab.experiments.speed",
    "covariate-shift": "bnlab.experiments.covariate_shift",
    "noise": "bnlab.experiments.noise",
    "regularization": "bnlab.experiments.regularization",
    "test-time": "bnlab.experiments.inference",
    "init-gradients": "bnlab.experiments.init_gradients",
    "small-batch": "bnlab.experiments.small_batch",
    "scale-invariance": "bnlab.experiments.scale_invariance",
    "residual": "bnlab.experiments.residual",
    "bn-only": "bnlab.experiments.bn_only",
    "mc-batchnorm": "bnlab.experiments.mc_batchnorm",
    "smoothness": "bnlab.experiments.smoothness",
}
RULE = (
    "Each check is an effect in the direction the claim predicts, with its 95% confidence interval over "
    "independent seeds (paired where runs share init and batches) and its Holm-adjusted p-value over the claim's "
    "evidence checks. A check is supported when its interval excludes zero in the claimed direction, "
    "contradicted when it excludes zero the other way, and not detected when it contains zero; an agreement "
    "check (|effect| <= margin, the margin declared with its reason) is supported when the whole interval lies "
    "within the margin and contradicted when it lies wholly outside. Evidence checks decide the verdict: the "
    "outcome they all share, otherwise mixed. Sanity checks are properties that must hold whatever the claim; "
    "they are shown apart and never count as support."
)
SEEDS = {True: 3, False: 20}  # seeds of the quick and the full run unless --seeds says otherwise
SEED_BLOCK = 10_000  # --seed s draws its seeds from [s * SEED_BLOCK, (s + 1) * SEED_BLOCK): disjoint sets


def seeds(seed: int, quick: bool, count: int | None = None) -> list[int]:
    """Return the independent seeds of an experiment: ``count`` of them (default 3 quick, 20 full) from the block
    of ``seed``, so different ``seed`` values never share a seed.

    Args:
        seed: which block of seeds (>= 0).
        quick: the quick run's default count.
        count: how many seeds (1 to SEED_BLOCK); None: the default.

    Raises:
        ValueError: a negative seed or a count outside 1..SEED_BLOCK.
    """
    count = SEEDS[quick] if count is None else count
    if seed < 0 or not 1 <= count <= SEED_BLOCK:
        raise ValueError(f"seeds: need seed >= 0 and 1 <= count <= {SEED_BLOCK}, got seed={seed}, count={count}")
    return [seed * SEED_BLOCK + i for i in range(count)]


@dataclass
class Figure:
    """A figure written as ``<stem>.svg`` and ``<stem>.png``; the caption says what it shows and the numbers.

    Args:
        stem: the file name without suffix, in the output folder.
        title: the figure's title.
        caption: what it shows, with the numbers.
    """

    stem: str
    title: str
    caption: str


@dataclass
class Result:
    """What one experiment found.

    Args:
        name: the experiment's name ("speed", ...).
        claim: the claim under test, as the paper or lecture states it.
        checks: the measured effects with their intervals; the verdict is computed from them.
        finding: one or two sentences of what was measured.
        numbers: every number of the run (JSON-able; curves included).
        figures: the figures written into the output folder.
        seed: the run's block of seeds (filled in by :func:`run_experiment`).
        quick: whether the quick settings were used (filled in by :func:`run_experiment`).
        provenance: versions, BLAS, platform, commit, threads, seeds and wall time (:mod:`bnlab.provenance`,
            filled in by :func:`run_experiment`).

    The evidence checks' Holm-adjusted p-values are set when the Result is made.
    """

    name: str
    claim: str
    checks: list[Check]
    finding: str
    numbers: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    seed: int = 0
    quick: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ..stats import holm

        holm(self.checks)

    @property
    def verdict(self) -> str:
        """The outcome all checks share ("supported", "contradicted", "not detected"), otherwise "mixed"."""
        from ..stats import verdict

        return verdict(self.checks)

    @property
    def rule(self) -> str:
        """How the checks and the verdict are decided (the same text for every experiment)."""
        return RULE

    def save(self, out: Path) -> Path:
        """Write ``<out>/<name>.json`` (with the verdict and the rule; non-finite numbers as null).

        Args:
            out: the output folder (it must exist).

        Returns:
            The path written.
        """
        path = Path(out) / f"{self.name}.json"
        record = {**asdict(self), "verdict": self.verdict, "rule": self.rule}
        path.write_text(json.dumps(jsonable(record), indent=1, allow_nan=False) + "\n")
        return path


def jsonable(value: Any) -> Any:
    """Return ``value`` with numpy scalars/arrays as Python numbers/lists and non-finite floats as None.

    Args:
        value: a number, array, or dicts/lists/tuples of them (nested); tuples become lists, keys strings.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def run_experiment(
    name: str,
    *,
    quick: bool = False,
    seed: int = 0,
    out: Path | str = "out",
    progress: bool = True,
    runner: Runner | None = None,
    n_seeds: int | None = None,
) -> Result:
    """Run experiment ``name``, writing its figures and ``<name>.json`` into ``out``.

    Args:
        name: one of :data:`EXPERIMENTS`.
        quick: tiny settings (3 seeds) instead of the full ones (20 seeds).
        seed: the block of seeds (see :func:`seeds`); the same seed gives the same numbers, whatever the runner.
        out: the output folder.
        progress: progress bars (used when ``runner`` is not given).
        runner: where the runs execute; default: joblib processes on all cores.
        n_seeds: how many seeds (default 3 quick, 20 full).

    Returns:
        The experiment's :class:`Result` (also saved as ``<out>/<name>.json``).

    Raises:
        ValueError: for an unknown experiment name.
    """
    key = name.replace("_", "-")
    if key not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ss = seeds(seed, quick, n_seeds)
    module = importlib.import_module(EXPERIMENTS[key])
    from ..provenance import provenance
    from ..runner import Runner

    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if runner is None:
            runner = stack.enter_context(Runner(progress=progress))
        result = module.run(quick=quick, seeds=ss, seed=seed, out=out, runner=runner)
        jobs = runner.jobs
    result.seed, result.quick = seed, quick
    result.provenance = provenance(seeds=ss, seconds=time.perf_counter() - start, jobs=jobs)
    result.save(out)
    return result


def add_arguments(parser: argparse.ArgumentParser, with_name: bool = True) -> None:
    """Add the ``experiment`` subcommand's arguments to ``parser`` (the demo shares all but the name).

    Args:
        parser: the parser to extend.
        with_name: also add the positional experiment name.
    """
    if with_name:
        parser.add_argument("name", choices=list(EXPERIMENTS), help="which experiment to run")
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of about a minute")
    parser.add_argument("--seed", type=_count(0), default=0,
                        help="the block of seeds: the same seed gives the same numbers, different ones share no seed")
    parser.add_argument("--seeds", type=_count(1), default=None, metavar="K",
                        help=f"seeds per configuration (default {SEEDS[False]}, {SEEDS[True]} with --quick)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="directory for figures and JSON (default out/)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    add_runner_arguments(parser)


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--jobs``, ``--scheduler`` and ``--scheduler-timeout`` to ``parser`` (shared by experiment, demo, sweep).

    Args:
        parser: the parser to extend.
    """
    from ..runner import TIMEOUT

    parser.add_argument(
        "--jobs", type=_jobs, default=None, help="worker processes (default: all cores; 1: run in this process)"
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        help="run on Dask: 'local' starts a LocalCluster of --jobs workers on 127.0.0.1, tcp://HOST:8786 uses a "
        "running scheduler",
    )
    parser.add_argument("--scheduler-timeout", type=float, default=TIMEOUT, metavar="SECONDS",
                        help="how long to wait for the --scheduler address to answer (default: %(default)g)")


def _jobs(text: str) -> int:
    n = int(text)
    if n == 0 or n < -1:
        raise argparse.ArgumentTypeError(f"must be a positive number of processes or -1 (all cores), got {n}")
    return n


def _count(least: int):
    def parse(text: str) -> int:
        n = int(text)
        if n < least:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {least}, got {n}")
        return n

    return parse


def runner_from(args: argparse.Namespace) -> Runner:
    """Return the :class:`Runner` the parsed ``--jobs``/``--scheduler``/``--no-progress`` ask for (enter it to use it).

    Args:
        args: parsed arguments with ``jobs``, ``scheduler``, ``scheduler_timeout`` and ``progress``.
    """
    from ..runner import Runner

    return Runner(jobs=args.jobs, scheduler=args.scheduler, progress=args.progress, timeout=args.scheduler_timeout)


def print_checks(result: Result) -> None:
    """Print an experiment's verdict, its finding and each check with its interval.

    Args:
        result: what :func:`run_experiment` returned.
    """
    from ..provenance import describe

    print(f"{result.name}: {result.verdict} — {result.finding}")
    for c in result.checks:
        print(f"  {c}")
    if result.provenance:
        print(f"  ran on: {describe(result.provenance)}")


def run(args: argparse.Namespace) -> int:
    """Run one experiment from parsed arguments and print its verdict and where its files are.

    Args:
        args: the arguments of :func:`add_arguments`, parsed.

    Returns:
        The exit status, 0.
    """
    with runner_from(args) as runner:
        result = run_experiment(args.name, quick=args.quick, seed=args.seed, out=args.out, runner=runner,
                                n_seeds=args.seeds)
    print_checks(result)
    print(f"figures and {result.name}.json written to {Path(args.out).resolve()}")
    return 0


def main(name: str, argv: list[str] | None = None) -> int:
    """Entry point of the ``examples/<name>.py`` scripts: parse ``argv`` and :func:`run` the experiment.

    Args:
        name: the experiment (a key of :data:`EXPERIMENTS`).
        argv: the command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status, 0.
    """
    parser = argparse.ArgumentParser(description=f"The {name} experiment of tinygrad_bn.")
    add_arguments(parser, with_name=False)
    args = parser.parse_args(argv)
    args.name = name
    return run(args)
