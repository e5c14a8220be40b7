"""An interactive page for a captured graph: one self-contained HTML file that works offline.

The page lays the graph out in the browser with Graphviz compiled to WebAssembly
(``@hpcc-js/wasm-graphviz``, vendored in ``viz/static/`` with its licence), so collapsing a scope
re-lays the graph out the same way the static SVG is laid out. Everything the page shows is
computed here, at capture time: value and gradient statistics, histograms with a fixed number of
bins, noise paths and colours, gradient heat. ``viz/static/explorer.js`` only draws and reacts.

The data handed to the page (JSON) holds ``nodes`` (per node: ``kind``, innermost ``scope``, label
``rows``, panel ``title`` and ``info`` rows, ``search`` text, ``fill``), ``edges``, ``scopes`` (per
scope: ``path``, ``title``, ``kind``, ``parent``, ``depth``, ``info``), noise ``entries`` with their
``path``, ``marks`` (noise colour keys of nodes, entry ops and edges), ``colours``, ``heat`` (legend)
and ``steps``: per step its ``label``, ``values`` (per tensor: mean, std, min, max, grad norm, mean
absolute grad), ``hist`` and ``heat`` colours. Several steps share one structure.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import networkx as nx

from tinygrad_bn import Tensor, nn

from . import styles
from .capture import capture, is_model
from .fold import MAX_NODES
from .noise import noise_paths
from .styles import NOISE, ROLE_FILL, scope_title
from .styles import heat as _heat
from .styles import noise_marks as _noise_marks
from .styles import op_attrs as _op_attrs

STATIC = Path(__file__).with_name("static")
HEIGHT = 640
"""Height in pixels of an explorer embedded in a notebook cell or the report."""


@dataclass
class Explorer:
    """An interactive page for one graph, or for the same graph at several training steps.

    ``data`` is what the page reads (see the module docstring). ``page()`` is the whole HTML file,
    ``embed()`` a piece of a larger page, ``save(path)`` writes the file; in Jupyter the explorer
    shows inline (``_repr_html_``), fitted to the cell's width.

    Attributes:
        data: what the page reads: the graph(s) as JSON-ready dicts and lists.
    """

    data: dict[str, Any]

    @staticmethod
    def assets() -> str:
        """Return the style and scripts every page with explorers needs once (Graphviz, explorer.js, CSS)."""
        return (f"<style>{_static('explorer.css')}</style>"
                f'<script type="text/plain" id="tgbn-graphviz">{_static("graphviz.js")}</script>'
                f"<script>{_static('explorer.js')}</script>")

    def embed(self, height: int | str = HEIGHT) -> str:
        """Return a ``<div>`` with this explorer, for a page that includes :meth:`assets` before it.

        Args:
            height: the explorer's height in pixels, or any CSS length (e.g. ``"100vh"``).
        """
        size = f"{height}px" if isinstance(height, int) else height
        blob = json.dumps(self.data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
        key = f"tgbn-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"  # the same page for the same graph
        return (f'<div class="tgbn-x" id="{key}" style="height:{size}"></div>'
                f'<script type="application/json" id="{key}-data">{blob}</script>'
                f"<script>TinygradExplorer.mount(document.getElementById('{key}'), "
                f"JSON.parse(document.getElementById('{key}-data').textContent));</script>")

    def page(self) -> str:
        """Return the whole self-contained HTML file: no request leaves it."""
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{html.escape(self.data['title'])}</title>"
                f"<style>html, body {{ margin: 0; height: 100%; }} .tgbn-x {{ border: 0; }}</style>"
                f"{self.assets()}</head><body>{self.embed('100vh')}</body></html>\n")

    def save(self, path: str | Path) -> Path:
        """Write :meth:`page` to ``path`` (parent folders are created).

        Args:
            path: the HTML file to write.

        Returns:
            ``path`` as a Path.
        """
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.page(), encoding="utf-8")
        return p

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.page(), quote=True)}" title="{html.escape(self.data["title"])}" '
                f'style="width:100%;height:{HEIGHT}px;border:1px solid #ddd;box-sizing:border-box"></iframe>')


class Timeline:
    """Graphs of one model at several training steps, for :func:`explore`'s timeline slider.

    Each :meth:`snapshot` captures the graph right away, so parameter values and gradients are those
    of that step (a list of loss tensors given to ``explore`` later would show the final parameters).

    Args:
        model: the model being trained, for ``snapshot(input=..., target=...)`` (optional).
    """

    def __init__(self, model: nn.Module | None = None) -> None:
        self.model = model
        self.graphs: list[nx.DiGraph] = []
        self.labels: list[str] = []

    def snapshot(self, loss: Tensor | Sequence[Tensor] | None = None, label: str | None = None, *,
                 input: Any = None, target: Any = None) -> nx.DiGraph:
        """Capture the graph of ``loss`` (after ``backward(retain_grads=True)`` to keep every gradient),
        or of one step of the model on ``input`` (which leaves the model as it was).

        Args:
            loss: the tensor (or list) whose graph to keep, as for :func:`viz.capture`.
            label: the step's name on the slider (default ``"step <k>"``, k counting snapshots).
            input: instead of ``loss``: the batch for one step of the Timeline's model.
            target: with ``input``: labels, a target array or a loss callable, as for :func:`viz.capture`.

        Returns:
            The captured graph.

        Raises:
            ValueError: if the graph's structure differs from the first snapshot's.
            TypeError: if neither ``loss`` nor (with a model) ``input`` is given.
        """
        if loss is not None:
            g = capture(loss)
        elif input is not None and self.model is not None:
            g = capture(self.model, input=input, target=target)
        else:
            raise TypeError("Timeline.snapshot: pass the loss tensor, or input= (and target=) for Timeline(model)")
        if self.graphs:
            _same_structure(self.graphs[0], g, len(self.graphs))
        self.graphs.append(g)
        self.labels.append(label if label is not None else f"step {len(self.labels)}")
        return g


Target = Tensor | Sequence[Tensor] | nn.Module | nx.DiGraph | Sequence[nx.DiGraph] | Timeline


def explore(what: Target, path: str | Path | None = None, *, input: Any = None, target: Any = None,
            mode: str = "train", focus: str | None = None, depth: int | None = None,
            max_nodes: int | None = MAX_NODES, title: str | None = None,
            labels: Sequence[str] | None = None) -> Explorer:
    """An interactive page for the graph of ``what``; writes it to ``path`` when given.

    Args:
        what: a Tensor or a list of Tensors (one graph, as for :func:`viz.render`), a graph from
            :func:`viz.capture`, an ``nn.Module`` (one step on ``input``, see :func:`viz.capture`), or
            a training timeline: a list of captured graphs of one model at several steps, or a
            :class:`Timeline`.
        path: the HTML file to write (optional).
        input: for a module: the batch.
        target: for a module, optional: labels, a target array or a loss callable (then gradients are shown).
        mode: for a module: "train" or "eval".
        focus: a scope path (e.g. ``"1"`` for the second layer of a Sequential) or node id the page
            opens zoomed onto.
        depth: collapse scopes nested deeper than this on load (0: every top-level scope is one node).
            By default a graph of more than ``max_nodes`` nodes opens at the deepest depth that fits.
        max_nodes: see ``depth`` (None: never collapse on load).
        title: the page's title.
        labels: the timeline steps' names (default: the Timeline's, else ``"step <k>"``).

    Returns:
        The :class:`Explorer` (``.page()``, ``.save(path)``, shows inline in Jupyter).

    Raises:
        ValueError: for an empty timeline, steps whose graphs differ in structure, an unknown
            ``focus`` or a negative ``depth``.
    """
    if is_model(what):
        what = capture(what, input=input, target=target, mode=mode)
    elif input is not None or target is not None:
        raise TypeError("explore: input= and target= are for a model")
    graphs, names = _graphs(what)
    if labels is not None:
        if len(labels) != len(graphs):
            raise ValueError(f"explore: {len(labels)} labels for {len(graphs)} steps")
        names = list(labels)
    if depth is not None and depth < 0:
        raise ValueError(f"explore: depth must be >= 0 or None, got {depth}")
    g = graphs[0]
    scopes, node_scope = _scopes(g)
    by_path: dict[str, str] = {}
    for sid, s in scopes.items():
        by_path.setdefault(s["path"], sid)  # a module called twice: its first call
    if focus is not None and focus not in by_path and focus not in g:
        raise ValueError(f"explore: focus {focus!r} is neither a scope path ({', '.join(sorted(by_path)) or 'none'}) "
                         "nor a node id of the graph")
    report = noise_paths(g)
    marks = _noise_marks(report)
    data = dict(
        title=title or f"tinygrad_bn graph: {g.number_of_nodes()} nodes",
        nodes={n: _node(g, n, node_scope[n], scopes) for n in nx.topological_sort(g)},
        edges=[[u, v] for u, v in g.edges],
        scopes=scopes,
        entries=[_entry(g, e) for e in report.entries],
        marks=dict(nodes={k: v for k, v in marks.items() if isinstance(k, str)},
                   entry={k[0]: v for k, v in marks.items() if isinstance(k, tuple) and k[1] == "entry"},
                   edges={f"{k[0]}-{k[1]}": v for k, v in marks.items() if isinstance(k, tuple) and k[1] != "entry"}),
        colours={key: list(v) for key, v in NOISE.items()},
        options=dict(focus=by_path.get(focus, focus), depth=depth, max_nodes=max_nodes),
    )
    scale = _scale(graphs)
    data["heat"] = _legend(scale)
    data["steps"] = [_step(gi, name, scale) for gi, name in zip(graphs, names)]
    out = Explorer(data)
    if path is not None:
        out.save(path)
    return out


@cache
def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _graphs(what: Target) -> tuple[list[nx.DiGraph], list[str]]:
    if isinstance(what, Timeline):
        graphs, names = list(what.graphs), list(what.labels)
    elif isinstance(what, nx.DiGraph):
        graphs, names = [what], ["step 0"]
    elif isinstance(what, Sequence) and what and all(isinstance(t, nx.DiGraph) for t in what):
        graphs, names = list(what), [f"step {k}" for k in range(len(what))]
    else:
        graphs, names = [capture(what)], ["step 0"]
    if not graphs:
        raise ValueError("explore: the timeline has no snapshots")
    for k, gk in enumerate(graphs[1:], 1):
        _same_structure(graphs[0], gk, k)
    return graphs, names


def _same_structure(g0: nx.DiGraph, g: nx.DiGraph, k: int) -> None:
    ops0 = {n: d.get("op") for n, d in g0.nodes(data=True)}
    ops = {n: d.get("op") for n, d in g.nodes(data=True)}
    if ops0 != ops or set(g0.edges) != set(g.edges):
        raise ValueError(f"explore: step {k}'s graph ({g.number_of_nodes()} nodes) differs in structure from step "
                         f"0's ({g0.number_of_nodes()} nodes); a timeline needs the same model and forward pass")


def _scopes(g: nx.DiGraph) -> tuple[dict[str, dict[str, Any]], dict[str, str | None]]:
    """The page's boxes: every module and function call the capture recorded, and each node's innermost one."""
    scopes: dict[str, dict[str, Any]] = {}
    for sid, s in g.graph.get("scopes", {}).items():  # numbered outer first: a parent comes before its children
        info = [("module" if s["kind"] == "module" else "function", s["name"] or "—"),
                ("input shapes", styles.shapes(s["input_shapes"])),
                ("output shapes", styles.shapes(s["output_shapes"]))]
        if s["extra_repr"]:
            info.insert(1, ("arguments", s["extra_repr"]))
        if s["training"] is not None:
            info.append(("mode", "train" if s["training"] else "eval"))
        scopes[sid] = dict(path=s["path"], title=scope_title(s), kind=s["kind"], parent=s["parent"],
                           depth=scopes[s["parent"]]["depth"] + 1 if s["parent"] else 0, info=info)
    return scopes, {n: (d.get("scopes") or (None,))[-1] for n, d in g.nodes(data=True)}


def _node(g: nx.DiGraph, n: str, scope: str | None, scopes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    d = g.nodes[n]
    where = scopes[scope]["path"] if scope else "(top level)"
    if d["kind"] == "op":
        rows = [d["op"], *_op_attrs(d["attrs"])]
        names = [g.nodes[i]["name"] or i for i in d["inputs"]]
        info = [("op", d["op"]), *((k, repr(v)) for k, v in d["attrs"].items()), ("module", where),
                ("random", "yes" if d["random"] else "no"), ("inputs", ", ".join(names)),
                ("output", g.nodes[d["output"]]["name"] or d["output"])]
        return dict(kind="op", scope=scope, rows=rows, title=f"{d['op']} ({n})", info=info, fill="#eeeeee",
                    search=" ".join([n, d["op"], where]).lower())
    rows = [f"{d['name']} · {d['role']}" if d["name"] else d["role"], f"{d['shape']} {d['dtype']}"]
    info = [("name", d["name"] or "—"), ("role", d["role"]), ("shape", str(d["shape"])), ("dtype", d["dtype"]),
            ("module", where), ("requires grad", "yes" if d["requires_grad"] else "no")]
    return dict(kind="tensor", scope=scope, rows=rows, title=f"{d['name'] or d['role']} ({n})", info=info,
                fill=ROLE_FILL[d["role"]], search=" ".join([n, d["name"] or "", d["role"], where]).lower())


def _entry(g: nx.DiGraph, e: dict[str, Any]) -> dict[str, Any]:
    src = g.nodes[e["source_op"]]
    axis = src["attrs"].get("axis")
    return dict(kind=e["kind"], op=e["op"], module=e["module"], node=e["node"], source=e["source"],
                source_kind=e["source_kind"], colour="dropout" if e["source_kind"] == "random" else e["kind"],
                source_desc=f"{src['op']} over axis {axis}" if axis is not None else src["op"],
                path=sorted({*e["nodes"], e["source_op"]}, key=lambda n: g.nodes[n]["order"]))


def _scale(graphs: list[nx.DiGraph]) -> tuple[float, float] | None:
    """The heat scale shared by every step (so a colour means the same gradient norm at every step)."""
    return styles.heat_scale([d["grad_norm"] for g in graphs for _, d in g.nodes(data=True) if d.get("grad_norm")])


def _legend(scale: tuple[float, float] | None) -> list[str] | None:
    if scale is None:
        return None
    lo, hi = scale
    words = f"gradient norm (fill, log scale): light = small (<= {10 ** lo:.2g}), dark = large ({10 ** hi:.2g})"
    stops = ", ".join(_heat(10 ** (lo + (hi - lo) * t / 4), scale) for t in range(5))
    return [words, f"linear-gradient(to right, {stops})"]


def _step(g: nx.DiGraph, label: str, scale: tuple[float, float] | None) -> dict[str, Any]:
    values, hist, heat = {}, {}, {}
    for n, d in g.nodes(data=True):
        if d["kind"] != "tensor":
            continue
        values[n] = [_finite(d[k]) for k in ("mean", "std", "min", "max", "grad_norm", "grad_mean_abs")]
        hist[n] = dict(value=d.get("hist"), grad=d.get("grad_hist"))
        if scale and d["grad_norm"] is not None:
            heat[n] = _heat(d["grad_norm"], scale)
    return dict(label=label, values=values, hist=hist, heat=heat)


def _finite(x: float | None) -> float | str | None:
    """JSON has no NaN or infinity: they reach the page as the strings "nan", "inf", "-inf"."""
    return x if x is None or math.isfinite(x) else str(x)
