"""Does BN's accuracy fall at small batches while GroupNorm's stays flat?

Writes its figures (SVG and PNG) and small-batch.json into out/ (or --out):

    python examples/small_batch.py [--quick] [--seed N] [--out DIR] [--jobs N] [--scheduler local|tcp://HOST:8786]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("small-batch"))
