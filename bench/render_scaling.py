"""Rendering at scale: capture, noise analysis, folding and layout time of plain-op graphs of 100 to 100,000 nodes.

    python -m bench.render_scaling            # 100, 1k, 10k, 100k nodes (default render: folded to max_nodes)
    python -m bench.render_scaling --quick    # 100 and 1k only

The graphs have no modules or scopes (the hard case for collapsing): a residual ``chain`` of
``h = tanh(h @ w) * 0.9 + h * 0.1`` blocks, and a ``random`` DAG of add, sub, mul and tanh whose
edges span the whole graph. Each row times one default ``viz.render`` of the captured graph, split
into its stages (``viz.Rendering.seconds``: deciding what is drawn, noise analysis, DOT source,
Graphviz layout), and (up to 1,000 nodes) the layout of every node (``depth=None``).
``--engine wasm`` uses Graphviz in WebAssembly (its one-time compile is done before the table).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import viz
from tinygrad_bn import Tensor

SIZES = (100, 1_000, 10_000, 100_000)
NODES_PER_BLOCK = 12  # matmul, tanh, two scalar multiplies (each with its constant) and an add: ops and tensors
FIXED_NODES = 4  # x, w, and the final sum's op and output


def plain_graph(nodes: int, seed: int = 0) -> Tensor:
    """The scalar sum of a residual chain of ``nodes`` graph nodes (exactly, when ``nodes - 4`` is a multiple
    of 12, as 100, 1,000, 10,000 and 100,000 are; else the nearest size below), after backward."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((8, 4)), requires_grad=True, name="x")
    w = Tensor(rng.standard_normal((4, 4)) * 0.5, requires_grad=True, name="w")
    h = x
    for _ in range(max((nodes - FIXED_NODES) // NODES_PER_BLOCK, 1)):
        h = (h @ w).tanh() * 0.9 + h * 0.1
    loss = h.sum()
    loss.backward(retain_grads=True)
    return loss


def random_graph(nodes: int, seed: int = 0) -> Tensor:
    """The scalar sum of a random DAG of plain ops (add, sub, mul, tanh) of about ``nodes`` graph nodes: each op
    takes a recent tensor and one drawn uniformly from all before it, so edges span the whole graph."""
    rng = np.random.default_rng(seed)
    ts = [Tensor(rng.standard_normal((4, 3)), requires_grad=True, name=f"x{i}") for i in range(4)]
    ops = (lambda a, b: a + b, lambda a, b: a * b.tanh(), lambda a, b: a.tanh(), lambda a, b: a - b)
    while len(ts) < nodes:  # about half the ops end up unused by the sum, so out of the graph
        a, b = ts[max(0, len(ts) - 1 - int(rng.geometric(0.01)))], ts[int(rng.integers(len(ts)))]
        ts.append(ops[int(rng.integers(4))](a, b))
    return sum(ts[-5:], ts[-6]).sum()


def measure(nodes: int, every_node: bool, engine: str = "auto", kind: str = "chain") -> dict[str, Any]:
    """Seconds of capturing a ``nodes``-node graph (a ``"chain"`` or a ``"random"`` DAG) and of each stage of its
    default render (``Rendering.seconds``), and of drawing every node if asked."""
    loss = plain_graph(nodes) if kind == "chain" else random_graph(nodes)
    t0 = time.perf_counter()
    g = viz.capture(loss)
    t1 = time.perf_counter()
    out = viz.render(g, engine=engine)
    t2 = time.perf_counter()
    full = None
    if every_node:
        viz.render(g, depth=None, engine=engine)
        full = time.perf_counter() - t2
    drawn = out.dot.count("label=") - 1  # drawn nodes and boxes, roughly
    return {"nodes": g.number_of_nodes(), "drawn": drawn, "capture": t1 - t0, **out.seconds, "total": t2 - t0,
            "every node": full, "engine": out.engine}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the 100- and 1,000-node graphs")
    parser.add_argument("--engine", default="auto", choices=("auto", "dot", "wasm"), help="Graphviz engine")
    args = parser.parse_args()
    sizes = SIZES[:2] if args.quick else SIZES
    if args.engine != "dot":
        measure(100, every_node=False, engine=args.engine)  # the WebAssembly worker compiles Graphviz once
    print("| graph | nodes | labels drawn | capture | fold | analyse | DOT | layout | capture + default render | "
          "every node drawn | Graphviz |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in ("chain", "random"):
        for n in sizes:
            m = measure(n, every_node=n <= 1_000, engine=args.engine, kind=kind)
            full = f"{m['every node']:.2f} s" if m["every node"] is not None else "—"
            print(f"| {kind} | {m['nodes']:,} | {m['drawn']} | {m['capture']:.2f} s | {m['fold']:.2f} s | "
                  f"{m['analyse']:.2f} s | {m['dot']:.2f} s | {m['layout']:.2f} s | **{m['total']:.2f} s** | {full} | "
                  f"{m['engine']} |", flush=True)


if __name__ == "__main__":
    main()
