"""Render the graph of one training step (a small built-in BN network, or your function) to SVG.

``tinygrad-bn render`` builds Linear -> BatchNorm1d -> ReLU -> Dropout -> Linear on a mini-batch of
the bundled 8x8 digits, runs one forward and backward pass (keeping every intermediate gradient) and
draws it with ``viz.render``: noise paths coloured, gradients annotated, one box per module.
``tinygrad-bn render pkg.module:function`` (or ``path/to/file.py:function``) calls ``function()``
instead; it returns a Tensor (or a list of them), and a scalar loss that requires grad is
back-propagated first. ``-o graph.html`` writes the interactive explorer (``viz.explore``) instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import viz
from tinygrad_bn import Tensor, data, nn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", default=None,
                        help="module:function (or file.py:function) returning the Tensor(s) to draw; "
                             "default: a small built-in BN network on digits")
    parser.add_argument("-o", "--output", default="out/graph.svg",
                        help="file to write; .html writes the interactive explorer (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="built-in network's batch size")
    parser.add_argument("--depth", type=int, default=None, help="collapse modules nested deeper than this")
    parser.add_argument("--max-nodes", type=int, default=viz.MAX_NODES,
                        help="collapse larger graphs by default (default: %(default)s; 0 = never)")
    parser.add_argument("--rankdir", default="TB", choices=["TB", "LR", "BT", "RL"], help="layout direction")
    parser.add_argument("--engine", default="auto", choices=["auto", "dot", "wasm"],
                        help="Graphviz engine: system dot, WebAssembly, or auto (dot if on PATH)")
    parser.add_argument("--format", default=None, help="output format (default: the output file's suffix, else svg)")
    parser.add_argument("--no-backward", action="store_true", help="draw the forward graph only, without gradients")
    parser.add_argument("--seed", type=int, default=0, help="seed of the built-in network and batch")


def run(args: argparse.Namespace) -> int:
    target = _call(args.target) if args.target else builtin_step(args.batch_size, args.seed)
    roots = [target] if isinstance(target, Tensor) else list(target)
    if not args.no_backward and len(roots) == 1 and roots[0].size == 1 and roots[0].requires_grad:
        roots[0].backward(retain_grads=True)
    fmt = args.format or Path(args.output).suffix.lstrip(".") or "svg"
    report = viz.noise_paths(viz.capture(roots))
    print(report.summary())
    if fmt == "html":
        viz.explore(roots, args.output, depth=args.depth, max_nodes=args.max_nodes or None)
        print(f"wrote {args.output} (interactive explorer)")
        return 0
    out = viz.render(roots, args.output, depth=args.depth, max_nodes=args.max_nodes or None, rankdir=args.rankdir,
                     engine=args.engine, format=fmt)
    if out.message:
        print(out.message)
    print(f"wrote {args.output} ({out.engine} engine)")
    return 0


def builtin_step(batch_size: int = 32, seed: int = 0) -> Tensor:
    """The loss of one training-mode forward pass of a small BN network on a batch of digits."""
    X, y = data.load_digits()
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), size=batch_size, replace=False)
    x = Tensor((X[rows] - 8.0) / 8.0, dtype=np.float32, name="digits")
    model = nn.Sequential(nn.Linear(64, 16, generator=seed), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.Dropout(0.1, generator=seed), nn.Linear(16, 10, generator=seed))
    model.train()
    return model(x).cross_entropy(y[rows])


def _call(spec: str) -> Any:
    """Import ``module:function`` or ``file.py:function`` and call the function with no arguments."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise SystemExit(f"render: expected module:function or file.py:function, got {spec!r}")
    if where.endswith(".py"):
        spec_ = importlib.util.spec_from_file_location(Path(where).stem, where)
        if spec_ is None or spec_.loader is None or not Path(where).is_file():
            raise SystemExit(f"render: no Python file {where!r}")
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    fn: Callable[[], Any] | None = getattr(module, name, None)
    if not callable(fn):
        raise SystemExit(f"render: {where!r} has no function {name!r}")
    result = fn()
    items = [result] if isinstance(result, Tensor) else list(result) if isinstance(result, list | tuple) else None
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise SystemExit(f"render: {spec} must return a Tensor or a list of Tensors, got {type(result).__name__}")
    return result
