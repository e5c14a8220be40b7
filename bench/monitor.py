"""The cost of watching: the BN-MLP training step with and without a ``viz.Monitor`` (every=10), eager and jit.

``python -m bench.monitor [--batch 64] [--repeats 200] [--logdir]``: the four steps take turns in blocks of ten
(one run, so a burst of load on the shared machine hits them all), timed in CPU time of this process, and the
report gives each monitored step's time over the plain one's. Targets (issue 24): +10% eager, +15%
replayed by the jit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import viz  # noqa: E402
from tinygrad_bn import Tensor, jit, optim  # noqa: E402

from . import handwritten, step  # noqa: E402
from .timing import machine  # noqa: E402

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


def paired(fns: dict[str, step.Step], repeats: int, every: int = 10) -> dict[str, list[float]]:
    """CPU seconds per step of each function, in blocks of ``every`` consecutive steps (so a monitored block holds
    exactly one recorded step), the functions taking turns block by block, their order rotating."""
    names = list(fns)
    for fn in fns.values():
        for _ in range(2 * every):  # the jit records, caches warm
            fn()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn = fns[name]
            start = time.process_time()
            for _ in range(every):
                fn()
            times[name].append((time.process_time() - start) / every)
    return times


def report(batch: int, repeats: int, logdir: str | None) -> str:
    fns, monitors = steps(batch, logdir)
    times = paired(fns, repeats)
    for m in monitors:
        m.close()
    info = machine()
    lines = [f"BN-MLP {'-'.join(map(str, step.SIZES))}, batch {batch}, CPU time per step over {repeats} turns of 10 "
             f"steps each (median; ratio: median of the turns' ratios); {info['cpu']}, {info['blas']}; TensorBoard "
             f"files: {'written' if logdir else 'none (in memory)'}", "",
             "| step | plain | monitored (every=10) | ratio | target |", "|---|---|---|---|---|"]
    for kind in ("eager", "jit"):
        plain, watched = times[f"{kind}, plain"], times[f"{kind}, monitored"]
        ratio = statistics.median(w / p for w, p in zip(watched, plain))
        lines.append(f"| {kind} | {statistics.median(plain) * 1e3:.3f} ms | {statistics.median(watched) * 1e3:.3f} ms "
                     f"| {ratio:.3f} | <= {TARGETS[kind]:.2f} {'met' if ratio <= TARGETS[kind] else 'MISSED'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.monitor", description=__doc__)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=200, help="turns of 10 steps per function (default 200)")
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
