"""Profile tinygrad_bn's BN training step: ``python -m bench.profile [--batch 64] [--steps 200]``.

Uses pyinstrument (a call tree) when installed, else cProfile (functions by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys

from . import handwritten, step


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--no-bn", action="store_true", help="the MLP without BatchNorm")
    args = p.parse_args(argv)
    x, y = step.batch(args.batch)
    run = step.ours(handwritten.init_params(step.SIZES, bn=not args.no_bn), x, y)
    for _ in range(5):
        run()
    print(f"tinygrad_bn training step, MLP {'-'.join(map(str, step.SIZES))}{'' if args.no_bn else ' with BN'}, "
          f"batch {args.batch}, {args.steps} steps")
    try:
        from pyinstrument import Profiler
    except ImportError:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.steps):
            run()
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(30)
        return 0
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(args.steps):
        run()
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
