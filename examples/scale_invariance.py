"""With BN, does weight decay act through the effective learning rate eta / ||W||^2?

Writes its figures (SVG and PNG) and scale-invariance.json into out/ (or --out):

    python examples/scale_invariance.py [--quick] [--seed N] [--out DIR] [--jobs N] [--scheduler local|tcp://HOST:8786]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("scale-invariance"))
