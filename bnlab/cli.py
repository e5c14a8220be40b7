"""The ``tinygrad-bn`` command: one subcommand per module, each with ``add_arguments`` and ``run``."""

from __future__ import annotations

import argparse
import importlib

COMMANDS = {
    "demo": "bnlab.demo",
    "experiment": "bnlab.experiments",
    "render": "bnlab.render",
    "sweep": "bnlab.sweep",
}


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit status."""
    parser = argparse.ArgumentParser(prog="tinygrad-bn", description="Why does batch normalization work? Measure it.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, path in COMMANDS.items():
        module = importlib.import_module(path)
        module.add_arguments(sub.add_parser(name, help=module.__doc__.strip().splitlines()[0]))
    args = parser.parse_args(argv)
    return importlib.import_module(COMMANDS[args.command]).run(args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
