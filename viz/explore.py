"""An interactive page for a captured graph: one self-contained HTML file that works offline.

The page opens on the same picture :func:`viz.render` draws by default (:mod:`viz.fold` decides it:
a module-level overview with the first normalizer open and repeated blocks rolled ×k) at a
readable zoom, starting at the input end. It lays out only what is shown, with Graphviz compiled
to WebAssembly (``@hpcc-js/wasm-graphviz``, vendored in ``viz/static/`` with its licence) running
in a Web Worker, so the page stays responsive while a large box that was opened is laid out.
Everything the page shows is computed here, at capture time: value and gradient statistics,
histograms with a fixed number of bins, noise paths and colours, gradient heat.
``viz/static/explorer_worker.js`` parses the data in the worker, keeps the graph there and writes
and lays out what is drawn; ``viz/static/explorer.js`` only draws and reacts on the page's main
thread, which never holds the whole graph.

The data handed to the page (JSON) holds ``nodes`` (per node: ``kind``, innermost ``scope``, label
``rows`` and panel ``info`` rows, from which the page takes its title and search text), ``edges``, ``scopes`` (the
boxes: every module and function call, and the chains and segments that stand for many plain ops;
per box: ``path``, ``title``, ``head`` rows when collapsed, ``kind``, ``parent``, ``level``, ``box``
(the box that draws it: a function scope that is its module's only content is drawn as the
module), ``noise`` kinds entering inside, ``info``), ``rolls`` (runs of repeated boxes drawn as one:
``scopes``, ``rows``, ``noise``), noise ``entries`` with their ``title`` and ``path``, ``marks``
(noise colour keys of nodes, entry ops and edges), ``colours``, ``role_fill`` (a tensor's fill by role),
``heat`` (legend), ``options`` (the
boxes ``collapsed`` at first) and ``steps``: per step its ``label``, ``values`` (per tensor: mean,
std, min, max, grad norm, mean absolute grad), ``heads`` (tensor rows whose shape differs from the
first step's), ``hist`` and ``heat`` colours. Several steps share one structure.
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
from typing import Any, ClassVar

import networkx as nx

from tinygrad_bn import Tensor, nn

from . import styles
from .capture import capture, is_model
from .fold import AUTO, HUB, HUB_EDGES, MAX_NODES, SEGMENTS, Group, Plan, check_depth, level, plan
from .noise import NoiseReport, noise_paths
from .styles import NOISE, ROLE_FILL, group_style, scope_title, tensor_head
from .styles import heat as _heat
from .styles import noise_marks as _noise_marks
from .styles import op_attrs as _op_attrs

STATIC = Path(__file__).with_name("static")
HEIGHT = 640
"""Height in pixels of an explorer embedded in a notebook cell or the report."""
SEGMENT_OPEN = 200
"""A segment of more plain ops than this opens into smaller segments, not into its ops."""
LEVEL_FOLDED = 1000
"""The ``level`` of a chain or segment box: deeper than any scope, so "collapse to depth" keeps it closed."""


class Page:
    """What the explorer and the comparison pages share: ``page()`` is the whole self-contained HTML file,
    ``embed()`` a piece of a larger page after :meth:`assets`, ``save(path)`` writes the file; in Jupyter the
    page shows inline (``_repr_html_``), fitted to the cell's width. A subclass names its root's CSS class
    (``ROOT``), its ids' prefix (``KEY``), its script's global (``SCRIPT``), the height it embeds at (``EMBED``)
    and its ``assets()``."""

    data: dict[str, Any]
    ROOT: ClassVar[str]
    KEY: ClassVar[str]
    SCRIPT: ClassVar[str]
    EMBED: ClassVar[int] = HEIGHT

    @staticmethod
    def assets() -> str:
        """Return the style and scripts every page with explorers needs once (Graphviz, the worker's script,
        explorer.js, CSS)."""
        return (f"<style>{_static('explorer.css')}</style>"
                f'<script type="text/plain" id="tgbn-graphviz">{_static("graphviz.js")}</script>'
                f'<script id="tgbn-worker">{_static("explorer_worker.js")}</script>'
                f"<script>{_static('explorer.js')}</script>")

    def embed(self, height: int | str | None = None) -> str:
        """Return a ``<div>`` with this page, for a page that includes :meth:`assets` before it.

        Args:
            height: its height in pixels, or any CSS length (e.g. ``"100vh"``); default ``EMBED`` pixels.
        """
        height = self.EMBED if height is None else height
        size = f"{height}px" if isinstance(height, int) else height
        blob = json.dumps(self.data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
        key = f"{self.KEY}-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"  # the same page, the same id
        return (f'<div class="{self.ROOT}" id="{key}" style="height:{size}"></div>'
                f'<script type="application/json" id="{key}-data">{blob}</script>'
                f"<script>{self.SCRIPT}.mount(document.getElementById('{key}'), "
                f"document.getElementById('{key}-data').textContent);</script>")

    def page(self) -> str:
        """Return the whole self-contained HTML file: no request leaves it."""
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{html.escape(self.data['title'])}</title>"
                f"<style>html, body {{ margin: 0; height: 100%; }} .{self.ROOT} {{ border: 0; }}</style>"
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
                f'style="width:100%;height:{self.EMBED}px;border:1px solid #ddd;box-sizing:border-box"></iframe>')


@dataclass
class Explorer(Page):
    """An interactive page for one graph, or for the same graph at several training steps (see :class:`Page`).

    Attributes:
        data: what the page reads (see the module docstring): the graph(s) as JSON-ready dicts and lists.
    """

    data: dict[str, Any]
    ROOT: ClassVar[str] = "tgbn-x"
    KEY: ClassVar[str] = "tgbn"
    SCRIPT: ClassVar[str] = "TinygradExplorer"


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
            mode: str = "train", focus: str | None = None, depth: int | str | None = AUTO, roll: bool = True,
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
        depth: what the page opens on, as for :func:`viz.render`: "auto" (the module-level overview), k
            (every scope nested deeper than k collapsed) or None (every node: slow for large graphs).
        roll: draw runs of repeated blocks once with ×k (a click unrolls them).
        max_nodes: as for :func:`viz.render`: an overview larger than this (a graph without modules) opens
            with chains of ops and then segments folded into boxes.
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
    check_depth("explore", depth)
    g = graphs[0]
    report = noise_paths(g)
    marks = _noise_marks(report)
    drawn = plan(g, depth, max_nodes, roll, keep=report.entries[0]["nodes"] if report.entries else ())
    scopes, node_scope = _scopes(g, report, marks, drawn)
    by_path: dict[str, str] = {}
    for sid, s in scopes.items():
        by_path.setdefault(s["path"], sid)  # a module called twice: its first call
    if focus is not None and focus not in by_path and focus not in g:
        raise ValueError(f"explore: focus {focus!r} is neither a scope path ({', '.join(sorted(by_path)) or 'none'}) "
                         "nor a node id of the graph")
    data = dict(
        title=title or f"tinygrad_bn graph: {g.number_of_nodes()} nodes",
        nodes={n: _node(g, n, node_scope[n], scopes) for n in nx.topological_sort(g)},
        edges=[[u, v] for u, v in g.edges],
        scopes=scopes,
        rolls={gid: _roll(g, grp, marks) for gid, grp in drawn.groups.items() if grp.kind == "roll"},
        entries=[_entry(report, e) for e in report.entries],
        marks=dict(nodes={k: v for k, v in marks.items() if isinstance(k, str)},
                   entry={k[0]: v for k, v in marks.items() if isinstance(k, tuple) and k[1] == "entry"},
                   edges={f"{k[0]}-{k[1]}": v for k, v in marks.items() if isinstance(k, tuple) and k[1] != "entry"}),
        colours={key: list(v) for key, v in NOISE.items()},
        role_fill=ROLE_FILL,
        options=dict(focus=by_path.get(focus, focus), depth=depth if isinstance(depth, int) else None,
                     max_nodes=max_nodes, collapsed=_collapsed(drawn, scopes), hub=[HUB, HUB_EDGES]),
    )
    scale = _scale(graphs)
    data["heat"] = _legend(scale)
    data["steps"] = [_step(gi, name, scale, g) for gi, name in zip(graphs, names)]
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


def _scopes(g: nx.DiGraph, report: NoiseReport, marks: dict[Any, str],
            drawn: Plan) -> tuple[dict[str, dict[str, Any]], dict[str, str | None]]:
    """The page's boxes: every module and function call the capture recorded, the chains and segments of
    plain ops the plan folded, and each node's innermost box."""
    table = g.graph.get("scopes", {})
    data = dict(g.nodes(data=True))
    members: dict[str, list[str]] = {}
    for n, d in data.items():
        for k in d.get("scopes", ()):
            members.setdefault(k, []).append(n)
    scopes: dict[str, dict[str, Any]] = {}
    for sid, s in table.items():  # numbered outer first: a parent comes before its children
        info = [("module" if s["kind"] == "module" else "function", s["name"] or "—"),
                ("input shapes", styles.shapes(s["input_shapes"])),
                ("output shapes", styles.shapes(s["output_shapes"]))]
        if s["extra_repr"]:
            info.insert(1, ("arguments", s["extra_repr"]))
        if s["training"] is not None:
            info.append(("mode", "train" if s["training"] else "eval"))
        scopes[sid] = _box(data, table, Group("scope", members.get(sid, []), [sid]), marks, path=s["path"],
                           title=scope_title(s), kind=s["kind"], parent=s["parent"], level=level(table, sid),
                           box=drawn.box[sid], info=info)
    node_scope = {n: (d.get("scopes") or (None,))[-1] for n, d in data.items()}
    for gid, grp in drawn.groups.items():
        if grp.kind in ("chain", "segment") and not grp.scopes:  # folded plain ops: a box the page can open
            _fold_box(data, table, gid, grp, drawn.home[gid], marks, scopes, node_scope)
    return scopes, node_scope


def _fold_box(data: dict[str, dict[str, Any]], table: dict[str, dict[str, Any]], gid: str, group: Group,
              parent: str | None, marks: dict[Any, str], scopes: dict[str, dict[str, Any]],
              node_scope: dict[str, str | None]) -> None:
    """A chain or segment of plain ops as a box of the page; a segment of more than ``SEGMENT_OPEN`` nodes
    holds at most ``SEGMENTS`` smaller segments in data-flow order, so opening it lays out a few hundred
    nodes, never thousands."""
    scopes[gid] = _box(data, table, group, marks, path="", kind=group.kind, parent=parent, level=LEVEL_FOLDED,
                       box=gid, info=[("kind", group.kind), ("nodes", str(len(group.members)))])
    scopes[gid]["title"] = scopes[gid]["head"][0]
    if group.kind == "chain" or len(group.members) <= SEGMENT_OPEN:
        for n in group.members:
            node_scope[n] = gid
        return
    members = sorted(group.members, key=lambda n: data[n]["order"])
    size = math.ceil(len(members) / SEGMENTS)
    for k in range(0, len(members), size):
        _fold_box(data, table, f"{gid}_{k // size}", Group("segment", members[k:k + size]), gid, marks, scopes,
                  node_scope)


def _box(data: dict[str, dict[str, Any]], table: dict[str, dict[str, Any]], group: Group, marks: dict[Any, str],
         **fields: Any) -> dict[str, Any]:
    """A box of the page: ``fields`` and, for when it is collapsed, its ``head`` rows and the ``noise`` kinds
    entering inside it (the page adds the largest gradient norm of the step shown)."""
    noise = sorted({marks[(n, "entry")] for n in group.members if (n, "entry") in marks})
    return dict(fields, head=group_style(data, table, group, marks, None)["rows"], noise=noise)


def _roll(g: nx.DiGraph, group: Group, marks: dict[Any, str]) -> dict[str, Any]:
    """A run of repeated boxes drawn as one: the scopes it stands for, its rows and the noise kinds inside."""
    data = dict(g.nodes(data=True))
    box = _box(data, g.graph["scopes"], group, marks)
    return dict(scopes=group.scopes, rows=box["head"], noise=box["noise"])


def _collapsed(drawn: Plan, scopes: dict[str, dict[str, Any]]) -> list[str]:
    """The boxes collapsed when the page opens: those the plan drew as one node (rolls' scopes too), and the
    segments inside segments."""
    out = []
    for gid, grp in drawn.groups.items():
        out += grp.scopes if grp.scopes else [gid] if gid in scopes else []
    return out + [k for k, s in scopes.items() if s["kind"] == "segment" and s["parent"] in scopes
                  and scopes[s["parent"]]["kind"] == "segment"]


def _node(g: nx.DiGraph, n: str, scope: str | None, scopes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    d = g.nodes[n]
    real = (d.get("scopes") or (None,))[-1]
    where = scopes[real]["path"] if real else "(top level)"
    if d["kind"] == "op":
        rows = [d["op"], *_op_attrs(d["attrs"])]
        names = [g.nodes[i]["name"] or i for i in d["inputs"]]
        info = [("op", d["op"]), *((k, repr(v)) for k, v in d["attrs"].items()), ("module", where),
                ("random", "yes" if d["random"] else "no"), ("inputs", ", ".join(names)),
                ("output", g.nodes[d["output"]]["name"] or d["output"])]
        return dict(kind="op", scope=scope, rows=rows, info=info)
    info = [("name", d["name"] or "—"), ("role", d["role"]), ("shape", str(d["shape"])), ("dtype", d["dtype"]),
            ("module", where), ("requires grad", "yes" if d["requires_grad"] else "no")]
    return dict(kind="tensor", scope=scope, rows=[tensor_head(d)], info=info)


def _entry(report: NoiseReport, e: dict[str, Any]) -> dict[str, Any]:
    g = report.graph
    return dict(kind=e["kind"], op=e["op"], module=e["module"], node=e["node"], source=e["source"],
                source_kind=e["source_kind"], colour="dropout" if e["source_kind"] == "random" else e["kind"],
                title=report.describe(e),
                path=sorted({*e["nodes"], e["source_op"]}, key=lambda n: g.nodes[n]["order"]))


def _scale(graphs: list[nx.DiGraph]) -> tuple[float, float] | None:
    """The heat scale shared by every step (so a colour means the same gradient norm at every step)."""
    return styles.heat_scale([d["grad_norm"] for g in graphs for _, d in g.nodes(data=True) if d.get("grad_norm")])


def _legend(scale: tuple[float, float] | None) -> list[str] | None:
    """The heat legend: words, the CSS ramp (log scale, as the nodes are filled) and its two ends' labels."""
    if scale is None:
        return None
    lo, hi = scale
    stops = ", ".join(_heat(10 ** (lo + (hi - lo) * t / 4), scale) for t in range(5))
    return ["gradient norm (fill, log scale, the same at every step)", f"linear-gradient(to right, {stops})",
            f"{10 ** lo:.2g}", f"{10 ** hi:.2g}"]


def _step(g: nx.DiGraph, label: str, scale: tuple[float, float] | None, first: nx.DiGraph) -> dict[str, Any]:
    values, hist, heat, heads = {}, {}, {}, {}
    for n, d in g.nodes(data=True):
        if d["kind"] != "tensor":
            continue
        if d["shape"] != first.nodes[n]["shape"]:  # a timeline whose batch size changes: this step's shapes
            heads[n] = tensor_head(d)
        values[n] = [_finite(d[k]) for k in ("mean", "std", "min", "max", "grad_norm", "grad_mean_abs")]
        hist[n] = dict(value=_bins(d.get("hist")), grad=_bins(d.get("grad_hist")))
        if scale and d["grad_norm"] is not None:
            heat[n] = _heat(d["grad_norm"], scale)
    return dict(label=label, values=values, heads=heads, hist=hist, heat=heat)


def _finite(x: float | None) -> float | str | None:
    """JSON has no NaN or infinity: they reach the page as the strings "nan", "inf", "-inf"; numbers keep 6
    significant digits (the page shows 3), which keeps a 100,000-node page small."""
    return x if x is None else float(f"{x:.6g}") if math.isfinite(x) else str(x)


def _bins(hist: dict[str, list] | None) -> dict[str, list] | None:
    """A histogram of equal bins as its counts and the ``range`` of its edges (the page spaces the edges evenly)."""
    return None if hist is None else dict(counts=hist["counts"], range=[_finite(hist["edges"][0]),
                                                                        _finite(hist["edges"][-1])])
