"""The cost of watching: the BN-MLP training step with and without a ``viz.Monitor`` (every=10), eager and jit.

``python -m bench.monitor [--batch 64] [--repeats 30] [--logdir]``: the four steps are timed side by side in
rotating blocks (one run, so a burst of load on the shared machine hits them all), in CPU time of this process,
and the report gives each monitored step's time over the plain one's. Targets (issue 24): +10% eager, +15% replayed by the jit.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import viz  # noqa: E402
from tinygrad_bn import Tensor, jit, optim  # noqa: E402

from . import handwritten, step  # noqa: E402
from .timing import blocks, machine  # noqa: E402

TARGETS = {"eager": 1.10, "jit": 1.15}


def steps(batch: int, logdir: str | None) -> tuple[dict[str, step.Step], list[viz.Monitor]]:
    """The eager and the jit step of the BN-MLP, each plain and with a monitor (every=10) on its own copy."""
    params = handwritten.init_params(step.SIZES, bn=True, seed=0)
    x, y = step.batch(batch)
    fns, monitors = {}, []
    for kind in ("eager", "jit"):
        for watched in (False, True):
            net = step.model(params)
            opt = optim.SGD(net.parameters(), lr=step.LR)
            if watched:
                monitors.append(viz.Monitor(net, every=10, logdir=None if logdir is None else f"{logdir}/{kind}"))
            xt, yt = Tensor(x), Tensor(y)
            if kind == "jit":
                loss_of = jit(lambda xb, yb, net=net: net(xb).cross_entropy(yb))
            else:
                def loss_of(xb: Tensor, yb: Tensor, net=net) -> Tensor:
                    loss = net(xb).cross_entropy(yb)
                    loss.backward()
                    return loss

            def one(opt=opt, loss_of=loss_of, xt=xt, yt=yt) -> Tensor:
                opt.zero_grad()
                loss = loss_of(xt, yt)
                opt.step()
                return loss
            fns[f"{kind}, {'monitored' if watched else 'plain'}"] = one
    return fns, monitors


def report(batch: int, repeats: int, logdir: str | None) -> str:
    fns, monitors = steps(batch, logdir)
    times = blocks(fns, repeats, seconds=0.2, clock=time.process_time)  # CPU time: the machine is shared
    for m in monitors:
        m.close()
    info = machine()
    lines = [f"BN-MLP {'-'.join(map(str, step.SIZES))}, batch {batch}, CPU time per step, median of {repeats} "
             "rotating blocks of about 0.2 s; "
             f"{info['cpu']}, {info['blas']}; TensorBoard files: {'written' if logdir else 'none (in memory)'}", "",
             "| step | plain | monitored (every=10) | ratio | target |", "|---|---|---|---|---|"]
    for kind in ("eager", "jit"):
        plain, watched = times[f"{kind}, plain"], times[f"{kind}, monitored"]
        ratio = watched / plain
        lines.append(f"| {kind} | {plain * 1e3:.3f} ms | {watched * 1e3:.3f} ms | {ratio:.3f} | "
                     f"<= {TARGETS[kind]:.2f} {'met' if ratio <= TARGETS[kind] else 'MISSED'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.monitor", description=__doc__)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--logdir", action="store_true", help="also write TensorBoard event files (to a temporary folder)")
    args = p.parse_args(argv)
    if args.logdir:
        with tempfile.TemporaryDirectory() as d:
            print(report(args.batch, args.repeats, d))
    else:
        print(report(args.batch, args.repeats, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
