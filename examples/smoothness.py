"""Does BN make the loss landscape smoother, and does noisy BN train about as fast?

Writes its figures (SVG and PNG) and smoothness.json into out/ (or --out):

    python examples/smoothness.py [--quick] [--seed N] [--out DIR] [--jobs N] [--scheduler local|tcp://HOST:8786]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("smoothness"))
