"""Watch a CNN's layers while it learns the 8x8 digits, with and without BatchNorm2d (viz.Monitor).

    python examples/monitor_digits.py                 # 15 epochs each; logs in runs/monitor_digits, plots in out/
    python examples/monitor_digits.py --quick         # the short setting the test runs
    tensorboard --logdir runs/monitor_digits          # then open http://localhost:6006

Both networks are watched at the same places, the ReLUs: their input is what each block's nonlinearity sees
(Ioffe & Szegedy's Fig. 1 shows a sigmoid's). With BN the per-channel means and spreads stay put while the
convolutions change under them; without it they drift. The BN network's BatchNorm2d layers are watched too:
their batch-vs-running gap and the gradient norms going in and out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_cnn import SETTINGS, accuracy, load, make_cnn  # noqa: E402

import viz  # noqa: E402
from tinygrad_bn import data, jit, manual_seed, nn, optim  # noqa: E402


def watch(batch_norm: bool, X, y, epochs: int, every: int, logdir: Path, seed: int = 0) -> viz.Monitor:
    """Train one CNN (SGD with momentum, the step replayed by the jit) under a Monitor; returns the closed monitor."""
    manual_seed(seed)
    model = make_cnn(batch_norm, X.shape[-1], SETTINGS["digits"]["channels"], seed=seed)
    opt = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    step = jit(lambda xb, yb: model(xb).cross_entropy(yb))
    layers = [nn.ReLU, nn.BatchNorm2d] if batch_norm else [nn.ReLU]
    with viz.Monitor(model, every=every, logdir=logdir, layers=layers) as mon:  # a step: each training forward
        for epoch in range(epochs):
            for xb, yb in data.batches(X, y, 32, shuffle=True, seed=seed + epoch, drop_last=True):
                opt.zero_grad()
                step(xb, yb)
                opt.step()
    return mon


def compare(monitors: dict[str, viz.Monitor], path: Path) -> None:
    """One figure: each block's ReLU input (rows: block, columns: per-channel mean and std), BN and plain overlaid,
    so both share the axes."""
    from matplotlib.figure import Figure

    relus = {label: [n for n, m in mon.layers.items() if isinstance(m, nn.ReLU)] for label, mon in monitors.items()}
    stats = ("input_mean", "input_std")
    fig = Figure(figsize=(10, 7.5), layout="constrained")  # large type: it is shown a page column wide
    axes = fig.subplots(len(relus["plain"]), len(stats), squeeze=False, sharex=True)
    for (label, mon), color in zip(monitors.items(), ("#4477aa", "#ee6677")):
        for r, name in enumerate(relus[label]):
            for c, stat in enumerate(stats):
                mon.band(axes[r][c], name, stat, color=color, label=f"{label} ")
                axes[r][c].set_title(f"block {r + 1}: ReLU input, per-channel {stat.split('_')[1]}", fontsize=15)
                axes[r][c].tick_params(labelsize=13)
    for ax in axes[-1]:
        ax.set_xlabel("training step", fontsize=14)
    axes[0][0].legend(fontsize=12)
    fig.suptitle("CNN on 8x8 digits, with and without BatchNorm2d\n(band: 15th-85th percentile across channels; "
                 "line: median)", fontsize=16)
    fig.savefig(path, dpi=110)


def main(quick: bool = False, out: str | Path = "out", runs: str | Path = "runs/monitor_digits",
         seed: int = 0) -> dict[str, viz.Monitor]:
    """Train both networks; write their TensorBoard logs under ``runs`` and the percentile plots under ``out``
    (``monitor_digits.png`` side by side, ``monitor_digits_<label>.png`` each monitor's own).

    Returns:
        The two monitors, keyed "batchnorm" and "plain".
    """
    X_train, X_test, y_train, y_test = load("digits", seed)
    if quick:
        X_train, y_train = X_train[:256], y_train[:256]
    epochs, every = (3, 2) if quick else (SETTINGS["digits"]["epochs"], 10)
    Path(out).mkdir(parents=True, exist_ok=True)
    monitors = {}
    with threadpool_limits(1, user_api="blas"):
        for label, bn in (("batchnorm", True), ("plain", False)):
            mon = monitors[label] = watch(bn, X_train, y_train, epochs, every, Path(runs) / label, seed)
            mon.plot(Path(out) / f"monitor_digits_{label}.png")
            acc = accuracy(mon.model, X_test, y_test)
            print(f"{label:>9}: test accuracy {acc:.2%}; {mon.steps + 1} steps, {len(mon.frame())} records; "
                  f"TensorBoard logs {Path(runs) / label}")
    compare(monitors, Path(out) / "monitor_digits.png")
    print(f"plots: {Path(out) / 'monitor_digits.png'} and monitor_digits_<batchnorm|plain>.png beside it")
    return monitors


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three epochs on 256 images, a record every 2 steps")
    parser.add_argument("--out", default="out", help="folder of the plots (default out/)")
    parser.add_argument("--runs", default="runs/monitor_digits", help="folder of the TensorBoard logs")
    args = parser.parse_args()
    main(args.quick, args.out, args.runs)
