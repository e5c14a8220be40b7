"""The ``tinygrad-bn`` command: one subcommand per module, each with ``add_arguments`` and ``run``.

A subcommand reports a user's mistake (a bad argument, a model that does not fit its input) by raising
``SystemExit("<command>: what is wrong")``: the command prints that one line, without a traceback, and
exits with status 2, as argparse does for a bad option. An unreachable ``--scheduler`` is such a mistake.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

from .runner import SchedulerUnreachable

COMMANDS = {
    "demo": "bnlab.demo",
    "experiment": "bnlab.experiments",
    "render": "bnlab.render",
    "sweep": "bnlab.sweep",
}


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit status."""
    parser = argparse.ArgumentParser(prog="tinygrad-bn", description="Why does batch normalization work? Measure it.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {importlib.metadata.version('tinygrad-bn')}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, path in COMMANDS.items():
        module = importlib.import_module(path)
        module.add_arguments(sub.add_parser(name, help=module.__doc__.strip().splitlines()[0]))
    args = parser.parse_args(argv)
    try:
        return importlib.import_module(COMMANDS[args.command]).run(args) or 0
    except (SystemExit, SchedulerUnreachable) as e:
        message = e.code if isinstance(e, SystemExit) else str(e)
        if not isinstance(message, str):
            raise
        print(message, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
