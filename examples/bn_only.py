"""How far does training only BN's gamma and beta get, every other weight frozen at random init?

Writes its figures (SVG and PNG) and bn-only.json into out/ (or --out):

    python examples/bn_only.py [--quick] [--seed N] [--out DIR] [--jobs N] [--scheduler local|tcp://HOST:8786]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("bn-only"))
