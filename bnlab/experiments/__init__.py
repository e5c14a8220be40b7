"""Run one experiment (speed, covariate-shift, noise, regularization, test-time): figures and a JSON of numbers.

Each experiment is a module here with ``run(quick, seed, out, progress) -> Result``. The verdict on the
lecture's claim is computed from that run's numbers by the rule the result states.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EXPERIMENTS = {
    "speed": "bnlab.experiments.speed",
    "covariate-shift": "bnlab.experiments.covariate_shift",
    "noise": "bnlab.experiments.noise",
    "regularization": "bnlab.experiments.regularization",
    "test-time": "bnlab.experiments.test_time",
}


@dataclass
class Figure:
    """A figure written as ``<stem>.svg`` and ``<stem>.png``; the caption says what it shows and the numbers."""

    stem: str
    title: str
    caption: str


@dataclass
class Result:
    """What one experiment found: the claim, the verdict, the rule that gave it, the numbers and the figures."""

    name: str
    claim: str
    verdict: str
    rule: str
    finding: str
    numbers: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    seed: int = 0
    quick: bool = False

    def save(self, out: Path) -> Path:
        """Write ``<out>/<name>.json``."""
        path = Path(out) / f"{self.name}.json"
        path.write_text(json.dumps(jsonable(asdict(self)), indent=1, allow_nan=False) + "\n")
        return path


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as Python numbers/lists and non-finite floats as None."""
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


def verdict(passed: int, total: int) -> str:
    """ "supported" when every check passed, "not supported" when none did, "mixed" otherwise."""
    if passed == total:
        return "supported"
    return "not supported" if passed == 0 else "mixed"


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """One BLAS thread: several times faster for these small matrices, and the same numbers on any machine.

    threadpoolctl comes with scikit-learn (the data extra); without it BLAS keeps its own setting.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def run_experiment(
    name: str, *, quick: bool = False, seed: int = 0, out: Path | str = "out", progress: bool = True
) -> Result:
    """Run experiment ``name``, writing its figures and ``<name>.json`` into ``out``."""
    key = name.replace("_", "-")
    if key not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(EXPERIMENTS[key])
    with _one_blas_thread():
        result = module.run(quick=quick, seed=seed, out=out, progress=progress)
    result.save(out)
    return result


def add_arguments(parser: argparse.ArgumentParser, with_name: bool = True) -> None:
    """The ``experiment`` subcommand's arguments (the demo shares all but the name)."""
    if with_name:
        parser.add_argument("name", choices=list(EXPERIMENTS), help="which experiment to run")
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of about a minute")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same numbers")
    parser.add_argument("--out", type=Path, default=Path("out"), help="directory for figures and JSON (default out/)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")


def run(args: argparse.Namespace) -> int:
    """Run one experiment from parsed arguments and print its verdict and where its files are."""
    result = run_experiment(args.name, quick=args.quick, seed=args.seed, out=args.out, progress=args.progress)
    print(f"{result.name}: {result.verdict} — {result.finding}")
    print(f"figures and {result.name}.json written to {Path(args.out).resolve()}")
    return 0


def main(name: str, argv: list[str] | None = None) -> int:
    """Entry point of the ``examples/<name>.py`` scripts."""
    parser = argparse.ArgumentParser(description=f"The {name} experiment of tinygrad_bn.")
    add_arguments(parser, with_name=False)
    args = parser.parse_args(argv)
    args.name = name
    return run(args)
