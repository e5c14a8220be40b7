"""Render the graph of one training step (a small built-in BN network, your function or your model) to SVG.

``tinygrad-bn render`` builds Linear -> BatchNorm1d -> ReLU -> Dropout -> Linear on a mini-batch of
the bundled 8x8 digits and draws one training step with ``viz.render(model, input=x, target=y)``:
noise paths coloured, gradients annotated, one box per module and per library function.
``tinygrad-bn render pkg.module:function`` (or ``path/to/file.py:function``, both found from the
current directory) calls ``function()`` instead; it returns a Tensor (or a list of them), and a
scalar loss that requires grad is back-propagated first. ``tinygrad-bn render --model
file.py:make_model --input-shape 32,1,8,8`` draws one step of the model ``make_model()`` returns
on a random input of that shape (``--classes K`` adds a cross-entropy loss on random labels); a
``torch.nn.Module`` is drawn the same way (see the "Your PyTorch model" guide).
``-o graph.html`` writes the interactive explorer (``viz.explore``) instead.

A file named by ``file.py:name`` is imported as a module named after the file, so its
``if __name__ == "__main__":`` block does not run. A mistake (a bad shape or format, a model that does
not accept the input, a name that is not a function) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import viz
from tinygrad_bn import Tensor, data, nn
from viz.capture import is_model
from viz.render import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", default=None,
                        help="module:function (or file.py:function) returning the Tensor(s) to draw; "
                             "default: a small built-in BN network on digits")
    parser.add_argument("--model", default=None, metavar="SPEC",
                        help="module:function (or file.py:function) returning an nn.Module to draw on a random input")
    parser.add_argument("--input-shape", default=None, metavar="N,C,...",
                        help="shape of the random input for --model, e.g. 32,1,8,8")
    parser.add_argument("--classes", type=int, default=None,
                        help="with --model: add a cross-entropy loss on random labels of this many classes")
    parser.add_argument("--mode", default="train", choices=["train", "eval"], help="the model's mode while drawn")
    parser.add_argument("-o", "--output", default="out/graph.svg",
                        help="file to write; .html writes the interactive explorer (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="built-in network's batch size")
    parser.add_argument("--depth", type=int, default=None,
                        help="collapse scopes nested deeper than this (default: the module-level overview)")
    parser.add_argument("--max-nodes", type=int, default=viz.MAX_NODES,
                        help="reduce larger graphs by default (default: %(default)s; 0 = never)")
    parser.add_argument("--rankdir", default="TB", choices=["TB", "LR", "BT", "RL"], help="layout direction")
    parser.add_argument("--engine", default="auto", choices=["auto", "dot", "wasm"],
                        help="Graphviz engine: system dot, WebAssembly, or auto (dot if on PATH)")
    parser.add_argument("--format", default=None, choices=[*FORMATS, "html"],
                        help="output format (default: the output file's suffix, else svg)")
    parser.add_argument("--no-backward", action="store_true", help="draw the forward graph only, without gradients")
    parser.add_argument("--seed", type=int, default=0, help="seed of the built-in network, the batch and random inputs")


def run(args: argparse.Namespace) -> int:
    fmt = args.format or Path(args.output).suffix.lstrip(".").lower() or "svg"
    if fmt not in (*FORMATS, "html"):
        raise SystemExit(f"render: unknown format {fmt!r} (from {args.output!r}); choose one of "
                         f"{', '.join(FORMATS)}, html")
    what, step = _what(args)
    depth = "auto" if args.depth is None else args.depth
    options = dict(depth=depth, max_nodes=args.max_nodes or None, rankdir=args.rankdir, engine=args.engine,
                   format=fmt)
    if not step:
        g = viz.capture(what)
    else:
        try:
            g = viz.capture(what, **step)
        except (ValueError, TypeError) as e:  # the model refuses the input: a wrong --input-shape, most likely
            raise SystemExit(f"render: {args.model or 'the model'} on an input of shape {step['input'].shape}: "
                             f"{type(e).__name__}: {e}") from None
    print(viz.noise_paths(g).summary())
    if fmt == "html":
        viz.explore(g, args.output, depth=depth, max_nodes=args.max_nodes or None)
        print(f"wrote {args.output} (interactive explorer)")
        return 0
    try:
        out = viz.render(g, args.output, **options)
    except ValueError as e:  # an option that does not fit (a png with the WebAssembly engine, ...)
        raise SystemExit(str(e)) from None
    if out.message:
        print(out.message)
    print(f"wrote {args.output} ({out.engine} engine)")
    return 0


def _what(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """What to draw, and the capture arguments of a model step (empty for tensors)."""
    if args.model:
        if args.target:
            raise SystemExit("render: give a function target or --model, not both")
        factory = _load(args.model)
        if is_model(factory):
            raise SystemExit(f"render: --model {args.model} is a {type(factory).__name__} object, not a function "
                             "returning one; name a function (def make_model(): return ...)")
        model = factory()
        if not is_model(model):
            raise SystemExit(f"render: {args.model} must return an nn.Module (tinygrad_bn or torch), got "
                             f"{type(model).__name__}")
        if not args.input_shape:
            raise SystemExit("render: --model needs --input-shape, e.g. --input-shape 32,1,8,8")
        shape = _shape(args.input_shape)
        rng = np.random.default_rng(args.seed)
        x = rng.standard_normal(shape).astype(np.float32)
        x = x if not isinstance(model, nn.Module) else Tensor(x, name="input")
        labels = rng.integers(0, args.classes, shape[0]) if args.classes and not args.no_backward else None
        return model, dict(input=x, target=labels, mode=args.mode)
    if not args.target:
        model, x, labels = builtin_model(args.batch_size, args.seed)
        return model, dict(input=x, target=None if args.no_backward else labels, mode=args.mode)
    result = _load(args.target)()
    items = [result] if isinstance(result, Tensor) else list(result) if isinstance(result, list | tuple) else None
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise SystemExit(f"render: {args.target} must return a Tensor or a list of Tensors, "
                         f"got {type(result).__name__}")
    if not args.no_backward and len(items) == 1 and items[0].numel() == 1 and items[0].requires_grad:
        items[0].backward(retain_grads=True)
    return items, {}


def builtin_model(batch_size: int = 32, seed: int = 0) -> tuple[nn.Module, Tensor, np.ndarray]:
    """A small BN network (Linear, BatchNorm1d, ReLU, Dropout, Linear) and a batch of digits with labels."""
    X, y = data.load_digits()
    rows = np.random.default_rng(seed).choice(len(X), size=batch_size, replace=False)
    x = Tensor((X[rows] - 8.0) / 8.0, dtype=np.float32, name="digits")
    model = nn.Sequential(nn.Linear(64, 16, generator=seed), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.Dropout(0.1, generator=seed), nn.Linear(16, 10, generator=seed))
    return model, x, y[rows]


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise SystemExit(f"render: --input-shape must be positive integers separated by commas, got {text!r}")
    return shape


def _load(spec: str) -> Callable[[], Any]:
    """The function named by ``module:function`` or ``file.py:function``, imported from the current directory."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise SystemExit(f"render: expected module:function or file.py:function, got {spec!r}")
    try:
        if where.endswith(".py"):
            path = Path(where).resolve()
            if not path.is_file():
                raise SystemExit(f"render: no Python file {where!r} (from {Path.cwd()})")
            sys.path.insert(0, str(path.parent))  # the file's own imports of its neighbours
            spec_ = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec_)  # type: ignore[arg-type]
            spec_.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if str(Path.cwd()) not in sys.path and "" not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(where)
    except SystemExit:
        raise
    except Exception as e:  # any failure to import the user's code: one line, not a traceback
        raise SystemExit(f"render: cannot import {where!r}: {type(e).__name__}: {e}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise SystemExit(f"render: {where!r} has no function {name!r}")
    return fn
