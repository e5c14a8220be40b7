"""Build the Graphviz DOT source of a captured graph: nodes, scope boxes, noise colours, heat, legend."""

from __future__ import annotations

from typing import Any

import graphviz
import networkx as nx

from . import styles
from .fold import HUB, HUB_EDGES, Data, Plan, first
from .noise import NoiseReport, unrecorded_warnings
from .styles import NOISE, PEN, group_style, label, node_style, noise_marks, scope_title


def build(g: nx.DiGraph, plan: Plan, report: NoiseReport | None, show_grads: bool, show_values: bool | None,
          cluster_modules: bool, rankdir: str) -> graphviz.Digraph:
    """The DOT graph of ``g`` drawn as ``plan`` says."""
    marks = noise_marks(report) if report else {}
    data = dict(g.nodes(data=True))  # plain dict lookups: a NodeView costs ~1 µs per access
    heat = styles.heat_scale([d["grad_norm"] for d in data.values() if d.get("grad_norm")]) if show_grads else None
    dot = graphviz.Digraph("tinygrad_bn", graph_attr=dict(rankdir=rankdir, fontname="Helvetica", fontsize="11",
                                                         labelloc="t", newrank="true", ranksep="0.25",
                                                         nodesep="0.2"),
                           node_attr=dict(fontname="Helvetica", fontsize="10", fontcolor=styles.TEXT),
                           edge_attr=dict(color="#555555", arrowsize="0.6"))
    edges, hidden = _edges(g, data, plan, marks)
    placed: dict[str | None, list[tuple[str, dict[str, Any]]]] = {}
    table = g.graph.get("scopes", {})
    for drawn in sorted(dict.fromkeys(plan.rep.values()), key=lambda d: first(data, d, plan.groups)):
        group = plan.groups.get(drawn)
        style = (node_style(data[drawn], marks.get(drawn), marks.get((drawn, "entry")), heat, show_values)
                 if group is None else group_style(data, table, group, marks, heat))
        if drawn in hidden:
            style["label"] = label([*style.pop("rows"), f"used by {hidden[drawn]:,} nodes: edges to the first "
                                                        f"{HUB_EDGES} are drawn"])
        else:
            style["label"] = label(style.pop("rows"))
        placed.setdefault(plan.home[drawn] if cluster_modules else None, []).append((drawn, style))
    _emit(dot, table, plan.box, placed)
    for (ru, rv), key in edges.items():
        dot.edge(ru, rv, **(dict(color=NOISE[key][0], penwidth=PEN) if key else {}))
    warnings = unrecorded_warnings(g)
    if warnings:
        dot.attr(label=label(warnings), fontcolor=styles.WARN)
    nonfinite = any(d.get("nonfinite") for d in data.values())
    if report or heat or nonfinite:
        users = {u for u, _ in edges}
        _legend(dot, plan.message, report, heat, nonfinite, [n for n in plan.home if n not in users][-2:])
    elif plan.message:
        dot.attr(label=label([plan.message, *warnings]))
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


# ----- boxes and legend ---------------------------------------------------------------------

def _emit(dot: graphviz.Digraph, table: dict[str, dict[str, Any]], box: dict[str, str],
          placed: dict[str | None, list[tuple[str, dict[str, str]]]]) -> None:
    """Add the nodes, each inside the nested boxes of its scope and the scope's ancestors."""
    def up(key: str) -> str | None:
        parent = table[key]["parent"]
        return None if parent is None else box[parent]
    boxes: set[str] = set()
    for key in placed:
        while key is not None and key not in boxes:
            boxes.add(key)
            key = up(key)
    children: dict[str | None, list[str]] = {}
    for key in sorted(boxes, key=lambda k: int(k[1:])):
        children.setdefault(up(key), []).append(key)

    def fill(graph: graphviz.Digraph, key: str | None) -> None:
        for n, style in placed.get(key, []):
            graph.node(n, **style)
        for child in children.get(key, []):
            with graph.subgraph(name=f"cluster_{child}") as c:
                c.attr(label=label([scope_title(table[child])]), style="rounded,dashed", color="#999999", labeljust="l",
                       fontcolor=styles.TEXT)
                fill(c, child)
    fill(dot, None)


def _legend(dot: graphviz.Digraph, message: str | None, report: NoiseReport | None,
            heat: tuple[float, float] | None, nonfinite: bool, last: list[str]) -> None:
    """Swatches naming each colour's meaning and the heat's ramp labelled with its range, two to a row, under
    the ``last`` drawn nodes, titled by ``message`` (plain labels: the WebAssembly Graphviz has no HTML labels)."""
    rows = []
    if report is not None:
        rows = [(f"legend_{key}", words, dict(fillcolor=light, color=colour, penwidth=PEN))
                for key, (colour, light, words) in NOISE.items()]
        if not report.entries and not report.warnings:
            rows.append(("legend_none", "no batch noise enters this graph", dict(style="solid", color="white")))
    if heat:
        lo, hi = heat
        ramp = f"{styles.heat(10 ** lo, heat)}:{styles.heat(10 ** hi, heat)}"
        rows.append(("legend_grad", f"gradient norm, log scale: {10 ** lo:.2g} (light) to {10 ** hi:.2g} (dark)",
                     dict(fillcolor=ramp, style="filled", gradientangle="0")))
    if nonfinite:
        rows.append(("legend_nonfinite", "red border: value or gradient holds nan or inf",
                     dict(fillcolor="white", color=styles.WARN, penwidth=PEN)))
    with dot.subgraph(name="cluster_legend") as box:
        box.attr(label=label([message or "legend"]), style="rounded", color="#bbbbbb", fontsize="9",
                 fontcolor=styles.TEXT)
        box.attr("node", shape="box", style="rounded,filled", fontsize="9", height="0.2", margin="0.06,0.02")
        for k in range(0, len(rows), 2):
            with box.subgraph() as row:
                row.attr(rank="same")
                for name, words, style in rows[k:k + 2]:
                    row.node(name, label=label([words]), **style)
    for (a, _, _), (b, _, _) in zip(rows, rows[2:]):
        dot.edge(a, b, style="invis")
    for n in last:
        for name, _, _ in rows[:2]:
            dot.edge(n, name, style="invis")
