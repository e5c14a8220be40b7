"""Does batch normalization work by reducing internal covariate shift?

Ioffe & Szegedy's Fig. 1 (percentiles of one sigmoid input over training, scatter of two units) and
Santurkar et al.'s gradient measure ||G - G'|| and cos(G, G'), with and without BN.
Writes its figures (SVG and PNG) and covariate-shift.json into out/ (or --out):

    python examples/covariate_shift.py [--quick] [--seed N] [--out DIR]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("covariate-shift"))
