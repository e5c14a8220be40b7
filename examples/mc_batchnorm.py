"""Are predictions averaged over sampled training batches' BN statistics (MC batch norm) better calibrated?

Writes its figures (SVG and PNG) and mc-batchnorm.json into out/ (or --out):

    python examples/mc_batchnorm.py [--quick] [--seed N] [--out DIR] [--jobs N] [--scheduler local|tcp://HOST:8786]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("mc-batchnorm"))
