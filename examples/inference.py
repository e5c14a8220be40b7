"""What should BN normalize with at test time?

Running statistics vs the test batch's statistics vs one example at a time; one example's prediction
inside many batches in eval and train mode; how the running statistics converge for several momentums.
Writes its figures (SVG and PNG) and test-time.json into out/ (or --out):

    python examples/inference.py [--quick] [--seed N] [--out DIR]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("test-time"))
