"""Do gradients explode with depth at initialization in deep BN networks without skip connections?

Writes its figures (SVG and PNG) and init-gradients.json into out/ (or --out):

    python examples/init_gradients.py [--quick] [--seed N] [--out DIR] [--jobs N] [--scheduler local|tcp://HOST:8786]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("init-gradients"))
