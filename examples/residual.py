"""Does BN downscale the residual branches of a deep residual network (and does SkipInit do the same)?

Writes its figures (SVG and PNG) and residual.json into out/ (or --out):

    python examples/residual.py [--quick] [--seed N] [--out DIR] [--jobs N] [--scheduler local|tcp://HOST:8786]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("residual"))
