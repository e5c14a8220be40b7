"""Does BN's mini-batch noise regularize? Does GhostBatchNorm restore it at large batches?

No BN, BN at batch 64 and 512, dropout, BN + dropout and GhostBN at 512 (virtual 64), several seeds:
test accuracy and train/test gap, mean and spread.
Writes its figures (SVG and PNG) and regularization.json into out/ (or --out):

    python examples/regularization.py [--quick] [--seed N] [--out DIR]
"""

from bnlab.experiments import main

if __name__ == "__main__":
    raise SystemExit(main("regularization"))
