"""Does batch normalization make training faster?

The same MLP with and without BN on digits and MNIST-5k at several learning rates: test accuracy per step,
steps to 90%, the largest learning rate that trains; and digits with features scaled 1..1000, with and
without input standardization.
Writes its figures (SVG and PNG) and speed.json into out/ (or --out):

    python examples/speed.py [--quick] [--seed N] [--out DIR]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("speed"))
