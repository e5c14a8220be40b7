"""Run the BN-MLP training step N times, for instruction counts that a loaded machine does not disturb.

``valgrind --tool=callgrind python -m bench.steps {eager|jit} N [bn|plain]`` counts the instructions of the
whole run; the counts for two values of N (5 and 25, say), subtracted and divided by the difference, give the
instructions per step, repeatable whatever else the machine runs (the performance guide compares checkouts so).
"""

from __future__ import annotations

import sys

from tinygrad_bn import malloc

from . import handwritten, step


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    mode, n, kind = args[0], int(args[1]), args[2] if len(args) > 2 else "bn"
    malloc.steady_malloc()
    params = handwritten.init_params(step.SIZES, bn=kind == "bn")
    x, y = step.batch(64)
    fn = step.ours(params, x, y) if mode == "eager" else step.ours_jit(params, x, y)
    for _ in range(5 + n):  # five steps first: the jit records twice and compiles
        fn()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
