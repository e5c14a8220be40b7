"""Where mini-batch noise enters a captured graph: generic rules (docs/guides/seeing-noise.md), no op sequence
special-cased.

One pass in data-flow order gives every tensor three facts:

- ``signal``: it depends on the data row by row (an ``input``, or computed from one without reducing a
  batch axis);
- ``batch axes``: which of its axes descend from axis 0 of an input (a reshape that splits or merges
  the batch axis keeps every piece batch-derived, so ghost batches ``(k, N/k, C)`` count both
  leading axes; where an axis merged the batch with others, as attention's ``(N*H, S, d)``, the pass
  keeps which part of it is the batch, ``viz.batch_axes.Parts``, so splitting it again is exact);
- ``sources``: the batch statistics and random draws it is derived from.

How each primitive moves batch axes is an explicit table (``viz.batch_axes.RULES``). A reduction
over a batch axis of a signal tensor, or a matmul contracting one, makes a **batch statistic**; a
random op makes a **random source**. Both start fresh noise (their sources are themselves) and are
not signal. An op that combines a signal operand with a noisy one (not signal, with sources) is an
**entry**: additive for add/sub, multiplicative for mul/div/matmul.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .batch_axes import Parts, batch_axes, batch_parts, known

ADDITIVE = frozenset({"add", "sub"})
STATISTIC = {"mean": "mean", "var": "variance", "sum": "sum", "max": "maximum", "min": "minimum", "matmul": "product"}
AXES = {2: ("N", "C"), 3: ("N", "C", "L"), 4: ("N", "C", "H", "W"), 5: ("N", "C", "D", "H", "W")}
"""Names of a tensor's axes by rank, PyTorch's convention (axis 0 is the batch)."""
MULTIPLICATIVE = frozenset({"mul", "div", "matmul"})


class Entry(dict):
    """One noise entry point: a plain dict whose keys also read as attributes (``e["kind"]`` or ``e.kind``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


@dataclass
class NoiseReport:
    """The result of :func:`noise_paths`, as plain data.

    ``entries``: one :class:`Entry` (a dict) per (entry op, source) with ``node``, ``op``, ``kind`` ("additive" /
    "multiplicative"), ``source`` (tensor node of the batch statistic or random draw), ``source_op``,
    ``source_kind`` ("batch statistic" / "random"), ``operand`` (input position of the noisy operand),
    ``module``, and the path from source to entry as ``nodes`` and ``edges``.

    Attributes:
        entries: the noise entry points, as above.
        batch_statistics: the tensor nodes computed with a batch reduction (means, variances, ...).
        random_sources: the tensor nodes drawn at random (dropout masks, ...).
        signal: the tensor nodes that depend on the data row by row (see the module docstring).
        batch_axes: for each tensor node, the axes that descend from axis 0 of an input.
        graph: the graph analysed.
    """

    entries: list[Entry]
    batch_statistics: list[str]
    random_sources: list[str]
    signal: set[str]
    batch_axes: dict[str, tuple[int, ...]]
    graph: nx.DiGraph = field(repr=False)

    @property
    def nodes(self) -> set[str]:
        """Every node on some noise path."""
        return {n for e in self.entries for n in e["nodes"]}

    @property
    def edges(self) -> set[tuple[str, str]]:
        """Every edge on some noise path."""
        return {tuple(e) for entry in self.entries for e in entry["edges"]}

    @property
    def warnings(self) -> list[str]:
        """Why the graph may miss batch noise: calls that computed from their input without recording it, and
        ops without a batch-axis rule (past which no entry does not mean no batch noise)."""
        return unrecorded_warnings(self.graph)

    def summary(self) -> str:
        """Return a short text: how many entries and the sources feeding them, one line per entry (see
        :meth:`describe`), what else was found, and any unrecorded-call warning."""
        feeding = {e["source"] for e in self.entries}
        stats = [n for n in self.batch_statistics if n in feeding]
        randoms = [n for n in self.random_sources if n in feeding]
        lines = [f"{len(self.entries)} noise entry point(s), fed by {len(stats)} batch statistic(s) and "
                 f"{len(randoms)} random source(s)"]
        lines += [f"  {self.describe(e)}  [{e['node']} <- {e['source']}]" for e in self.entries]
        other = len(self.batch_statistics) - len(stats) + len(self.random_sources) - len(randoms)
        if other:
            lines.append(f"also found: {other} batch statistic(s) or random source(s) feeding no entry (e.g. a "
                         "loss's mean over the batch)")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def describe(self, e: Entry) -> str:
        """One entry in words.

        Args:
            e: one of :attr:`entries`.

        Returns:
            e.g. ``layer1.0.bn1 · BatchNorm2d — additive at sub: batch mean over (N, H, W)``.
        """
        return f"{where(self.graph, e['node'])} — {e['kind']} at {e['op']}: {self._source(e)}"

    def _source(self, e: Entry) -> str:
        g = self.graph
        src = g.nodes[e["source_op"]]
        axis = src["attrs"].get("axis")
        if e["source_kind"] == "random":
            keep = src["attrs"].get("p")
            table = g.graph.get("scopes", {})
            module = next((table[k] for k in reversed(src.get("scopes") or ()) if table[k]["kind"] == "module"), None)
            head = f"{module['name']}({module['extra_repr']})" if module else src["op"]
            return f"{head}: keep mask" + (f", keep probability {keep:.3g}" if isinstance(keep, float) else "")
        word = STATISTIC.get(src["op"], src["op"])
        if axis is None:
            return f"batch {word}"
        rank = len(g.nodes[src["inputs"][0]]["shape"])
        names = AXES.get(rank, tuple(f"axis {k}" for k in range(rank)))
        axes = axis if isinstance(axis, tuple) else (axis,)
        return f"batch {word} over ({', '.join(names[a % rank] for a in axes)})"

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """A table of the entries (Jupyter)."""
        esc = html.escape
        head = "".join(f"<th>{h}</th>" for h in ("kind", "entry", "module", "source", "source op"))
        rows = "".join(
            f"<tr><td>{esc(e['kind'])}</td><td>{esc(e['node'])} ({esc(e['op'])})</td>"
            f"<td>{esc(e['module'] or '')}</td><td>{esc(e['source_kind'])} {esc(e['source'])}</td>"
            f"<td>{esc(self._source(e))}</td></tr>" for e in self.entries)
        caption = esc(self.summary().splitlines()[0])
        warn = "".join(f"<p><b>warning:</b> {esc(w)}</p>" for w in self.warnings)
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{rows}</table>{warn}"


def noise_paths(g: nx.DiGraph) -> NoiseReport:
    """Find batch statistics, random sources and where their noise enters the signal in a captured graph.

    Args:
        g: a graph from :func:`viz.capture`.

    Returns:
        The :class:`NoiseReport`.

    Raises:
        TypeError: ``g`` is not a captured graph.
    """
    if not isinstance(g, nx.DiGraph) or g.graph.get("outputs") is None:
        raise TypeError(f"noise_paths: expected a graph from viz.capture, got {type(g).__name__}")
    signal: dict[str, bool] = {}
    axes: dict[str, frozenset[int]] = {}
    sources: dict[str, frozenset[str]] = {}
    stats: list[str] = []
    randoms: list[str] = []
    entries: list[Entry] = []
    data = dict(g.nodes(data=True))  # plain dict lookups: a NodeView costs ~1 µs per access
    order = {n: d["order"] for n, d in data.items()}.__getitem__
    none: frozenset[str] = frozenset()
    parts: dict[str, Parts] = {}  # where the batch sits in axes that merged it with others
    for n in sorted(data, key=order):
        d = data[n]
        if d["kind"] == "tensor":
            if d["is_leaf"]:
                is_input = d["role"] == "input"
                signal[n], axes[n], sources[n] = is_input, frozenset({0} if is_input else ()), none
                parts[n] = {}
            continue
        out = d["output"]
        ins = d["inputs"]
        in_signal = [signal[i] for i in ins]
        shapes, in_axes, in_parts = [data[i]["shape"] for i in ins], [axes[i] for i in ins], [parts[i] for i in ins]
        out_axes, reduced = batch_axes(d["op"], d["attrs"], shapes, data[out]["shape"], in_axes, in_signal, in_parts)
        axes[out] = out_axes
        parts[out] = batch_parts(d["op"], shapes, data[out]["shape"], in_axes, in_parts, out_axes) if out_axes else {}
        if d["random"]:
            signal[out], sources[out] = False, frozenset({out})
            randoms.append(out)
        elif reduced:
            signal[out], sources[out] = False, frozenset({out})
            stats.append(out)
        else:
            signal[out] = any(in_signal)
            carried = [sources[i] for i in ins if sources[i]]
            sources[out] = none if not carried else carried[0] if len(carried) == 1 else none.union(*carried)
            kind = "additive" if d["op"] in ADDITIVE else "multiplicative" if d["op"] in MULTIPLICATIVE else None
            if kind and signal[out] and carried:
                for pos, i in enumerate(ins):
                    if signal[i] or not sources[i] or i in ins[:pos]:
                        continue
                    for s in sorted(sources[i], key=order):
                        nodes, edges = _path(g, n, i, s, signal, sources, order)
                        entries.append(Entry(
                            node=n, op=d["op"], kind=kind, source=s, source_op=next(iter(g.predecessors(s))),
                            source_kind="random" if s in randoms else "batch statistic", operand=pos,
                            module=d["module"], nodes=nodes, edges=edges))
    return NoiseReport(entries, stats, randoms, {n for n, s in signal.items() if s},
                       {n: tuple(sorted(a)) for n, a in axes.items()}, g)


def _path(g: nx.DiGraph, entry: str, operand: str, source: str, signal: dict[str, bool],
          sources: dict[str, frozenset[str]], order: Callable[[str], int]) -> tuple[list[str], list[tuple[str, str]]]:
    """Nodes and edges from ``source`` to ``entry`` through noisy (non-signal) tensors carrying it."""
    nodes = {entry, operand}
    stack = [operand]
    while stack:
        t = stack.pop()
        if t == source:
            continue
        op = next(iter(g.predecessors(t)))
        nodes.add(op)
        for i in g.nodes[op]["inputs"]:
            if i not in nodes and not signal[i] and source in sources[i]:
                nodes.add(i)
                stack.append(i)
    edges = [(u, v) for u, v in g.subgraph(nodes).edges]
    return sorted(nodes, key=order), sorted(edges, key=lambda e: (order(e[0]), order(e[1])))


def where(g: nx.DiGraph, node: str) -> str:
    """``layer1.0.bn1 · BatchNorm2d``: the path and class of the innermost module that ran ``node``
    (``(top level)`` outside every module)."""
    table = g.graph.get("scopes", {})
    for key in reversed(g.nodes[node].get("scopes") or ()):
        s = table[key]
        if s["kind"] == "module":
            return " · ".join(p for p in (s["path"], s["name"]) if p)
    return "(top level)"


def unrecorded_warnings(g: nx.DiGraph) -> list[str]:
    """One sentence per innermost call that ran (in training mode) on an input the graph does not hold,
    named by its nearest flagged module when it is a function scope inside one, and one per op name the
    batch-axis tables (:mod:`viz.batch_axes`) do not know: past such an op the analysis cannot tell
    whether batch noise enters, so it never reads as "no batch noise"."""
    table = g.graph.get("scopes", {})
    flagged = set(g.graph.get("unrecorded", ()))
    parents = {table[k]["parent"] for k in flagged}
    named: list[str] = []
    for k in sorted(flagged - parents, key=lambda k: int(k[1:])):
        up = k
        while up is not None and not (up in flagged and table[up]["kind"] == "module"):
            up = table[up]["parent"]
        if (up or k) not in named:
            named.append(up or k)
    out = []
    for k in named:
        s = table[k]
        what = f"module {s['path']!r} ({s['name']})" if s["kind"] == "module" else f"function {s['path']!r}"
        mode = " in training mode" if s["training"] else ""
        shapes = ", ".join(str(x) for x in s["input_shapes"])
        out.append(f"{what} ran{mode} on an input {shapes} that was not recorded, so any batch statistics it "
                   "computed are missing from this graph (it is not 'no batch noise'); draw it with "
                   "viz.capture(model, input=x) or run the forward inside tinygrad_bn.record()")
    return out + _unknown_op_warnings(g)


def _unknown_op_warnings(g: nx.DiGraph) -> list[str]:
    where: dict[str, list[str]] = {}
    for n, d in g.nodes(data=True):
        if d["kind"] == "op" and not known(d["op"]):
            where.setdefault(d["op"], []).append(f"{n} in module {d['module']!r}" if d["module"] else n)
    return [f"op {op!r} ({', '.join(nodes[:3])}{', ...' if len(nodes) > 3 else ''}) has no batch-axis rule "
            "(viz.batch_axes), so whether batch noise enters at or after it is unknown: no entry past it does "
            "not mean no batch noise" for op, nodes in where.items()]
