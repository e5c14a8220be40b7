"""Build the Graphviz DOT source of a captured graph: nodes, scope boxes, noise colours, heat, legend."""

from __future__ import annotations

from collections import Counter
from typing import Any

import graphviz
import networkx as nx

from . import styles
from .fold import Data, Group, Plan, first
from .noise import NoiseReport, unrecorded_warnings
from .styles import NOISE, PEN, label, noise_marks, op_attrs, scope_title

HUB, HUB_EDGES = 12, 3


def build(g: nx.DiGraph, plan: Plan, report: NoiseReport | None, show_grads: bool, show_values: bool,
          cluster_modules: bool, rankdir: str) -> graphviz.Digraph:
    """The DOT graph of ``g`` drawn as ``plan`` says."""
    marks = noise_marks(report) if report else {}
    data = dict(g.nodes(data=True))  # plain dict lookups: a NodeView costs ~1 µs per access
    heat = styles.heat_scale([d["grad_norm"] for d in data.values() if d.get("grad_norm")]) if show_grads else None
    dot = graphviz.Digraph("tinygrad_bn", graph_attr=dict(rankdir=rankdir, fontname="Helvetica", fontsize="11",
                                                         labelloc="t", newrank="true"),
                           node_attr=dict(fontname="Helvetica", fontsize="10"),
                           edge_attr=dict(color="#555555", arrowsize="0.6"))
    title = [m for m in [plan.message, *unrecorded_warnings(g)] if m]
    if title:
        dot.attr(label=label(title), fontcolor=styles.WARN)
    edges, hidden = _edges(g, data, plan, marks)
    placed: dict[str | None, list[tuple[str, dict[str, Any]]]] = {}
    table = g.graph.get("scopes", {})
    for drawn in sorted(dict.fromkeys(plan.rep.values()), key=lambda d: first(data, d, plan.groups)):
        group = plan.groups.get(drawn)
        style = (_node_style(data[drawn], drawn, marks, heat, show_values) if group is None
                 else _group_style(data, table, group, marks, heat))
        if drawn in hidden:
            style["label"] = label([*style.pop("rows"), f"used by {hidden[drawn]:,} nodes: edges to the first "
                                                        f"{HUB_EDGES} are drawn"])
        else:
            style["label"] = label(style.pop("rows"))
        placed.setdefault(plan.home[drawn] if cluster_modules else None, []).append((drawn, style))
    _emit(dot, table, placed)
    for (ru, rv), key in edges.items():
        dot.edge(ru, rv, **(dict(color=NOISE[key][0], penwidth=PEN) if key else {}))
    nonfinite = any(d.get("nonfinite") for d in data.values())
    if report or heat or nonfinite:
        dot.subgraph(_legend(report, heat, nonfinite))
    return dot


def _edges(g: nx.DiGraph, data: Data, plan: Plan,
           marks: dict[Any, str]) -> tuple[dict[tuple[str, str], str | None], dict[str, int]]:
    """Drawn edges with their noise colour key. A node feeding more than ``HUB`` others (a weight shared by
    every layer) keeps edges to the first ``HUB_EDGES`` only: long edges to everything make the layout crawl."""
    edges: dict[tuple[str, str], str | None] = {}
    rep = plan.rep
    for u, v in g.edges:
        ru, rv = rep[u], rep[v]
        if ru != rv and edges.get((ru, rv)) is None:
            edges[(ru, rv)] = marks.get((u, v))
    users: dict[str, list[str]] = {}
    for ru, rv in edges:
        users.setdefault(ru, []).append(rv)
    hidden = {}
    for ru, vs in users.items():
        if len(vs) > HUB:
            hidden[ru] = len(vs)
            vs.sort(key=lambda d: first(data, d, plan.groups))
            for rv in vs[HUB_EDGES:]:
                if edges[(ru, rv)] is None:  # noise paths are always drawn
                    del edges[(ru, rv)]
    return edges, hidden


# ----- nodes --------------------------------------------------------------------------------

def _node_style(d: dict[str, Any], n: str, marks: dict[Any, str], heat: tuple[float, float] | None,
                show_values: bool) -> dict[str, Any]:
    key = marks.get(n)
    if d["kind"] == "op":
        rows = [d["op"], *op_attrs(d["attrs"])]
        entry = marks.get((n, "entry"))
        style = dict(shape="ellipse", style="filled", fillcolor=NOISE[entry][1] if entry else "#eeeeee",
                     color="#888888", margin="0.05,0.02")
    else:
        rows = [f"{d['name']} · {d['role']}" if d["name"] else d["role"], f"{d['shape']} {d['dtype']}"]
        if show_values and d["mean"] is not None:
            rows.append(f"mean {d['mean']:.3g}  std {d['std']:.3g}  [{d['min']:.3g}, {d['max']:.3g}]")
        fill = styles.ROLE_FILL[d["role"]]
        if heat and d["grad_norm"] is not None:
            rows.append(f"grad norm {d['grad_norm']:.3g}  mean |g| {d['grad_mean_abs']:.3g}")
            fill = styles.heat(d["grad_norm"], heat)
        style = dict(shape="box", style="rounded,filled", fillcolor=fill, color="#666666",
                     fontcolor=styles.font_for(fill))
    if key:
        style.update(color=NOISE[key][0], penwidth=PEN)
    if d.get("nonfinite"):
        rows.append(f"non-finite {d['nonfinite']}")
        style.update(color=styles.WARN, penwidth=PEN)
    return dict(rows=rows, **style)


def _group_style(data: Data, table: dict[str, dict[str, Any]], group: Group, marks: dict[Any, str],
                 heat: tuple[float, float] | None) -> dict[str, Any]:
    members = group.members
    kinds = Counter(data[n]["kind"] for n in members)
    if group.kind == "scope":
        rows = [scope_title(table[group.scopes[0]]), f"{kinds['op']} ops, {kinds['tensor']} tensors"]
    elif group.kind == "roll":
        first, last = table[group.scopes[0]], table[group.scopes[-1]]
        heads = [f"{s['name']}({styles.short(s['extra_repr'])})" if s["kind"] == "module" else s["name"]
                 for s in (table[k] for k in group.scopes)]
        rows = [f"×{group.count}: " + " → ".join(heads),
                f"{styles.shapes(first['input_shapes'])} → {styles.shapes(last['output_shapes'])}",
                f"{kinds['op']} ops, {kinds['tensor']} tensors in all"]
    elif group.kind == "chain":
        rows = [f"{kinds['op']} ops folded: {_op_list(members, data)}"]
    else:
        rows = [f"segment of {kinds['op']} ops, {kinds['tensor']} tensors", _op_list(members, data)]
    inside = sorted({marks[(n, "entry")] for n in members if (n, "entry") in marks})
    if inside:
        rows.append(" + ".join(inside) + " noise inside")
    style = dict(shape="box3d" if group.kind != "chain" else "box", style="filled", fillcolor="#f7f7f7",
                 color="#666666")
    norms = [data[n]["grad_norm"] for n in members if data[n].get("grad_norm") is not None]
    if heat and norms:
        rows.append(f"max grad norm {max(norms):.3g}")
        fill = styles.heat(max(norms), heat)
        style.update(fillcolor=fill, fontcolor=styles.font_for(fill))
    if inside:
        style.update(color=NOISE[inside[0]][0], penwidth=PEN)
    return dict(rows=rows, **style)


def _op_list(members: list[str], data: Data, limit: int = 6) -> str:
    """``exp → log → mul ×3 → …``: consecutive repeats counted, at most ``limit`` items."""
    ops = [data[n]["op"] for n in sorted(members, key=lambda n: data[n]["order"]) if data[n]["kind"] == "op"]
    runs: list[list[Any]] = []
    for op in ops:
        if runs and runs[-1][0] == op:
            runs[-1][1] += 1
        else:
            runs.append([op, 1])
    items = [f"{op} ×{k}" if k > 1 else op for op, k in runs]
    return " → ".join(items[:limit]) + (" → …" if len(items) > limit else "")


# ----- boxes and legend ---------------------------------------------------------------------

def _emit(dot: graphviz.Digraph, table: dict[str, dict[str, Any]],
          placed: dict[str | None, list[tuple[str, dict[str, str]]]]) -> None:
    """Add the nodes, each inside the nested boxes of its scope and the scope's ancestors."""
    boxes: set[str] = set()
    for key in placed:
        while key is not None and key not in boxes:
            boxes.add(key)
            key = table[key]["parent"]
    children: dict[str | None, list[str]] = {}
    for key in sorted(boxes, key=lambda k: int(k[1:])):
        children.setdefault(table[key]["parent"], []).append(key)

    def fill(graph: graphviz.Digraph, key: str | None) -> None:
        for n, style in placed.get(key, []):
            graph.node(n, **style)
        for child in children.get(key, []):
            with graph.subgraph(name=f"cluster_{child}") as c:
                c.attr(label=label([scope_title(table[child])]), style="rounded,dashed", color="#999999",
                       fontcolor="#333333")
                fill(c, child)
    fill(dot, None)


def _legend(report: NoiseReport | None, heat: tuple[float, float] | None, nonfinite: bool) -> graphviz.Digraph:
    """One compact row of swatches, each naming its colour's meaning."""
    legend = graphviz.Digraph("cluster_legend", graph_attr=dict(label="legend", style="rounded", color="#bbbbbb",
                                                                fontsize="9", rank="same"),
                              node_attr=dict(shape="box", style="rounded,filled", fontsize="9", height="0.2",
                                             margin="0.06,0.02"))
    rows = []
    if report is not None:
        rows = [(f"legend_{key}", words, dict(fillcolor=light, color=colour, penwidth=PEN))
                for key, (colour, light, words) in NOISE.items()]
        if not report.entries and not report.warnings:
            rows.append(("legend_none", "no batch noise enters this graph", dict(style="solid", color="white")))
    if heat:
        lo, hi = heat
        words = f"gradient norm (fill, log scale): light = small (<= {10 ** lo:.2g}), dark = large ({10 ** hi:.2g})"
        ramp = f"{styles.heat(10 ** lo, heat)}:{styles.heat(10 ** (lo + (hi - lo) / 2), heat)}"
        rows.append(("legend_grad", words, dict(fillcolor=ramp)))
    if nonfinite:
        rows.append(("legend_nonfinite", "red border: value or gradient holds nan or inf",
                     dict(fillcolor="white", color=styles.WARN, penwidth=PEN)))
    for name, words, style in rows:
        legend.node(name, label=label([words]), **style)
    for (a, _, _), (b, _, _) in zip(rows, rows[1:]):
        legend.edge(a, b, style="invis")
    return legend
