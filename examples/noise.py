"""How much noise do BN's batch statistics add, and how does it shrink with the batch size?

Additive (mean_B - mu)/sigma and multiplicative sigma/sigma_B noise on real hidden activations for B in
16..512 against 1/sqrt(B) and 1/sqrt(2B), and the graph of one BN layer beside dropout.
Writes its figures (SVG and PNG) and noise.json into out/ (or --out):

    python examples/noise.py [--quick] [--seed N] [--out DIR]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("noise"))
