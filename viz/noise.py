"""Where mini-batch noise enters a captured graph: the generic rules of DESIGN.md, no op sequence special-cased.

One pass in data-flow order gives every tensor three facts:

- ``signal``: it depends on the data row by row (an ``input``, or computed from one without reducing a
  batch axis);
- ``batch axes``: which of its axes descend from axis 0 of an input (a reshape that splits or merges
  the batch axis keeps every piece batch-derived, so ghost batches ``(k, N/k, C)`` count both
  leading axes);
- ``sources``: the batch statistics and random draws it is derived from.

A reduction (an op with ``axis`` and ``keepdims`` attributes) over a batch axis of a signal tensor,
or a matmul contracting one, makes a **batch statistic**; a random op makes a **random source**.
Both start fresh noise (their sources are themselves) and are not signal. An op that combines a
signal operand with a noisy one (not signal, with sources) is an **entry**: additive for add/sub,
multiplicative for mul/div/matmul.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

ADDITIVE = frozenset({"add", "sub"})
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

    def summary(self) -> str:
        """A short text: how many sources and entries, and one line per entry."""
        g = self.graph
        lines = [f"{len(self.batch_statistics)} batch statistic(s), {len(self.random_sources)} random source(s), "
                 f"{len(self.entries)} noise entry point(s)"]
        for e in self.entries:
            src = g.nodes[e["source_op"]]
            axis = src["attrs"].get("axis")
            what = f"{src['op']} over axis {axis}" if axis is not None else src["op"]
            where = f" in module {e['module']!r}" if e["module"] else ""
            lines.append(f"  {e['kind']} at {e['node']} ({e['op']}){where} "
                         f"<- {e['source_kind']} {e['source']} ({what})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def noise_paths(g: nx.DiGraph) -> NoiseReport:
    """Find batch statistics, random sources and where their noise enters the signal in a captured graph."""
    if not isinstance(g, nx.DiGraph) or g.graph.get("outputs") is None:
        raise TypeError(f"noise_paths: expected a graph from viz.capture, got {type(g).__name__}")
    signal: dict[str, bool] = {}
    axes: dict[str, frozenset[int]] = {}
    sources: dict[str, frozenset[str]] = {}
    stats: list[str] = []
    randoms: list[str] = []
    entries: list[Entry] = []
    for n in nx.topological_sort(g):
        d = g.nodes[n]
        if d["kind"] == "tensor":
            if d["is_leaf"]:
                is_input = d["role"] == "input"
                signal[n], axes[n], sources[n] = is_input, frozenset({0} if is_input else ()), frozenset()
            continue
        out = d["output"]
        ins = d["inputs"]
        shapes = [g.nodes[i]["shape"] for i in ins]
        out_axes, reduced = _batch_axes(d["op"], d["attrs"], shapes, g.nodes[out]["shape"],
                                        [axes[i] for i in ins], [signal[i] for i in ins])
        axes[out] = out_axes
        if d["random"]:
            signal[out], sources[out] = False, frozenset({out})
            randoms.append(out)
        elif reduced:
            signal[out], sources[out] = False, frozenset({out})
            stats.append(out)
        else:
            signal[out] = any(signal[i] for i in ins)
            sources[out] = frozenset().union(*(sources[i] for i in ins))
            kind = "additive" if d["op"] in ADDITIVE else "multiplicative" if d["op"] in MULTIPLICATIVE else None
            if kind and signal[out]:
                for pos, i in enumerate(ins):
                    if signal[i] or not sources[i] or i in ins[:pos]:
                        continue
                    for s in sorted(sources[i], key=_order):
                        nodes, edges = _path(g, n, i, s, signal, sources)
                        entries.append(Entry(
                            node=n, op=d["op"], kind=kind, source=s, source_op=next(iter(g.predecessors(s))),
                            source_kind="random" if s in randoms else "batch statistic", operand=pos,
                            module=d["module"], nodes=nodes, edges=edges))
    return NoiseReport(entries, stats, randoms, {n for n, s in signal.items() if s},
                       {n: tuple(sorted(a)) for n, a in axes.items()}, g)


def _order(node: str) -> int:
    return int(node.lstrip("top"))


def _path(g: nx.DiGraph, entry: str, operand: str, source: str, signal: dict[str, bool],
          sources: dict[str, frozenset[str]]) -> tuple[list[str], list[tuple[str, str]]]:
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
    return sorted(nodes, key=_order), sorted(edges, key=lambda e: (_order(e[0]), _order(e[1])))


def _batch_axes(op: str, attrs: dict[str, Any], shapes: list[tuple[int, ...]], out: tuple[int, ...],
                axes: list[frozenset[int]], signal: list[bool]) -> tuple[frozenset[int], bool]:
    """The output's batch-derived axes, and whether a batch axis of a signal input was reduced away."""
    if "axis" in attrs and "keepdims" in attrs:  # a reduction
        red = set(attrs["axis"])
        a = axes[0] - red
        kept = a if attrs["keepdims"] else {i - sum(r < i for r in red) for i in a}
        return frozenset(kept), bool(signal[0] and axes[0] & red)
    if op == "matmul":
        return _matmul(shapes, out, axes, signal)
    if not axes or not any(axes):
        return frozenset(), False
    if op == "reshape":
        return frozenset(j for j in range(len(out)) if any(_overlap(shapes[0], a, out, j) for a in axes[0])), False
    if op == "transpose":
        return frozenset(i for i, a in enumerate(attrs["axes"]) if a in axes[0]), False
    if op == "concatenate":
        return frozenset().union(*axes), False
    if op == "stack":
        k = attrs.get("axis", 0)
        return frozenset(a + (a >= k) for s in axes for a in s), False
    if op == "getitem":
        mapped = _basic_index(attrs["index"], len(shapes[0]), axes[0])
        if mapped is not None:
            return mapped, False
    elif all(_fits(s, out) for s in shapes):  # elementwise with broadcasting
        return frozenset(a + len(out) - len(s) for s, ax in zip(shapes, axes) for a in ax
                         if s[a] == out[a + len(out) - len(s)]), False
    sizes = {s[a] for s, ax in zip(shapes, axes) for a in ax}  # unknown layout: match axes by size
    return frozenset(j for j, n in enumerate(out) if n > 1 and n in sizes), False


def _fits(shape: tuple[int, ...], out: tuple[int, ...]) -> bool:
    return len(shape) <= len(out) and all(s in (1, o) for s, o in zip(reversed(shape), reversed(out)))


def _overlap(a: tuple[int, ...], i: int, b: tuple[int, ...], j: int) -> bool:
    """Whether axis i of shape a and axis j of shape b share elements' strides under a row-major reshape."""
    if a[i] <= 1 or b[j] <= 1:
        return False
    lo_a, lo_b = _prod(a[:i]), _prod(b[:j])
    return max(lo_a, lo_b) < min(lo_a * a[i], lo_b * b[j])


def _prod(s: tuple[int, ...]) -> int:
    p = 1
    for n in s:
        p *= n
    return p


def _basic_index(index: Any, ndim: int, axes: frozenset[int]) -> frozenset[int] | None:
    """Batch axes after basic indexing (ints, slices, None, Ellipsis); None for advanced indexing."""
    items = index if isinstance(index, tuple) else (index,)
    if not all(i is None or i is Ellipsis or isinstance(i, int | slice) for i in items):
        return None
    if Ellipsis in items:
        k = items.index(Ellipsis)
        fill = ndim - sum(i is not None for i in items if i is not Ellipsis)
        items = items[:k] + (slice(None),) * fill + items[k + 1:]
    items = items + (slice(None),) * (ndim - sum(i is not None for i in items))
    out, src, dst = set(), 0, 0
    for i in items:
        if i is None:
            dst += 1
        elif isinstance(i, slice):
            if src in axes:
                out.add(dst)
            src, dst = src + 1, dst + 1
        else:
            src += 1
    return frozenset(out)


def _matmul(shapes: list[tuple[int, ...]], out: tuple[int, ...], axes: list[frozenset[int]],
            signal: list[bool]) -> tuple[frozenset[int], bool]:
    (sa, sb), (aa, ab) = shapes, axes
    a = (1, *sa) if len(sa) == 1 else sa  # promote 1-D operands as numpy does
    b = (*sb, 1) if len(sb) == 1 else sb
    aa = frozenset(x + 1 for x in aa) if len(sa) == 1 else aa
    n = max(len(a), len(b))
    res: set[int] = set()
    reduced = (signal[0] and len(a) - 1 in aa) or (signal[1] and len(b) - 2 in ab)
    res.update(n - 2 if x == len(a) - 2 else x + n - len(a) for x in aa if x != len(a) - 1)
    res.update(n - 1 if x == len(b) - 1 else x + n - len(b) for x in ab if x != len(b) - 2)
    drop = ([n - 2] if len(sa) == 1 else []) + ([n - 1] if len(sb) == 1 else [])
    kept = [j for j in range(n) if j not in drop]
    return frozenset(kept.index(j) for j in res if j in kept and out[kept.index(j)] > 1), bool(reduced)
