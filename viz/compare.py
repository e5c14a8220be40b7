"""Two graphs compared: :func:`diff` as data, :func:`compare` as one offline page with both explorers.

Modules (and function scopes) are matched first by path and class (the k-th call of a path to its k-th
call), then, among what is left under a matched parent, by structure: the classes in call order aligned
with :class:`difflib.SequenceMatcher` (so ``features.0`` in one model meets ``0`` in its twin). A tensor
is matched when its innermost box is matched and it is the k-th tensor of that box with the same role
and producing op; an op when its output tensor is. Noise entries are compared by matched module, kind
and source; tensors by the ratio (B over A) of their value std and gradient norm.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import networkx as nx

from .capture import capture, is_model
from .explore import Page, Timeline, _static, explore
from .noise import noise_paths

RATIO_TOL = 0.01
"""Ratios within 1% of one are no difference (float rounding of the same computation stays far below)."""
TABLE_ROWS = 40
"""The page's table lists this many of the largest differences."""
FLOOR = 1e-6
"""A std or gradient norm below this fraction of its graph's largest counts as zero: no ratio (a Linear's bias
before BatchNorm has a gradient of zero up to rounding, whose ratios would be noise)."""
RAMP = ("#8e6bb8", "#c3b0dc", "#e9e1f2", "#f7f7f7", "#f6d9cc", "#eba98f", "#cf7654")
"""The diverging ratio fills, B/A from 1/16 (purple: smaller in B) through 1 to 16 (terracotta: larger in
B): no hue of the noise colours (orange, blue, bluish green) nor the grey gradient heat."""
RAMP_SPAN = 4.0
"""log2 of the largest ratio the ramp distinguishes: 16x (anything beyond has the end colour)."""


class Module(NamedTuple):
    """A box of one graph: its scope key in ``g.graph["scopes"]``, path, class (or function) name, kind
    (``"module"`` or ``"function"``)."""

    scope: str
    path: str
    name: str
    kind: str

    def __str__(self) -> str:
        return f"{self.path or '(model)'} · {self.name}"


class NoiseEntry(NamedTuple):
    """A noise entry of one graph: its module, kind ("additive", "multiplicative"), source kind and entry op."""

    module: str
    kind: str
    source_kind: str
    node: str
    title: str


class Ratio(NamedTuple):
    """A matched tensor pair and its ratios B/A of value std and gradient norm (None where undefined)."""

    a: str
    b: str
    where: str
    std: float | None
    grad: float | None


class Difference(NamedTuple):
    """One line of the differences table: what (``"noise"``, ``"module"``, ``"std"``, ``"gradient norm"``),
    the words, the node or scope in each graph (None when only in one) and a size to sort by."""

    what: str
    words: str
    a: str | None
    b: str | None
    size: float


@dataclass
class Diff:
    """The comparison of graph A with graph B, as data.

    Attributes:
        labels: the two graphs' names.
        graphs: the two captured graphs.
        pairs: matched boxes (module calls and function scopes), A's then B's.
        how: per pair (by A's scope key), ``"path"`` or ``"structure"``.
        only_a: boxes in A only.
        only_b: boxes in B only.
        nodes: matched nodes (tensors and ops), A's id -> B's id.
        noise_only_a: A's noise entries with no counterpart in B.
        noise_only_b: B's noise entries with no counterpart in A.
        ratios: per matched tensor with statistics, the ratios B/A.
        headline: the noise entries of each graph in words.
        differences: the largest differences first: noise entries in one graph only, boxes in one graph
            only, then std and gradient-norm ratios by how far they are from 1 (at least ``RATIO_TOL``).
    """

    labels: tuple[str, str]
    graphs: tuple[nx.DiGraph, nx.DiGraph]
    pairs: list[tuple[Module, Module]]
    how: dict[str, str]
    only_a: list[Module]
    only_b: list[Module]
    nodes: dict[str, str]
    noise_only_a: list[NoiseEntry]
    noise_only_b: list[NoiseEntry]
    ratios: list[Ratio]
    headline: str
    differences: list[Difference] = field(default_factory=list)

    @property
    def same_structure(self) -> bool:
        """Every module matched and every noise entry has its counterpart (function scopes, a loss's inner
        steps, may differ: PyTorch's cross-entropy has no log_softmax box)."""
        modules = [m for m in self.only_a + self.only_b if m.kind == "module"]
        return not (modules or self.noise_only_a or self.noise_only_b)

    def __str__(self) -> str:
        a, b = self.labels
        lines = [self.headline, f"{len(self.pairs)} boxes matched, {len(self.only_a)} only in {a}, "
                 f"{len(self.only_b)} only in {b}; {len(self.nodes)} nodes matched"]
        return "\n".join(lines + [f"  {d.words}" for d in self.differences[:10]])


Side = Any
"""What one side can be: whatever :func:`viz.explore` takes for one graph (a Tensor or list, a captured graph, a
model with ``input=``), or a Timeline step ``(timeline, k)``."""


def diff(a: Side, b: Side = None, *, input: Any = None, target: Any = None, mode: str | tuple[str, str] = "train",
         steps: tuple[int, int] = (0, -1), labels: Sequence[str] | None = None) -> Diff:
    """Compare two graphs; returns the comparison as data (:class:`Diff`).

    Args:
        a: a Tensor or list of Tensors, a captured graph, a model (one step on ``input``), a Timeline step
            ``(timeline, k)``, or a :class:`viz.Timeline` alone (then ``b`` is None and ``steps`` says which
            two steps), or a model alone with ``mode=("train", "eval")``.
        b: the same kinds; None to compare ``a`` with itself in two modes or at two steps.
        input: for models: the batch, the same for both.
        target: for models: labels, a target array or a loss callable, as for :func:`viz.capture`.
        mode: "train" or "eval" for both models, or a pair (one per side).
        steps: for a Timeline alone: the two steps (indices; default the first and the last).
        labels: the two graphs' names (default: the modes, the steps' labels, or "A" and "B").

    Returns:
        The :class:`Diff`.

    Raises:
        TypeError: for a side that is none of these, or input= without a model.
        ValueError: for a bad mode pair, steps outside the timeline, or two labels not given as two.
    """
    (ga, gb), names = _sides(a, b, input, target, mode, steps)
    if labels is not None:
        if len(labels) != 2:
            raise ValueError(f"diff: labels must be two names, got {len(labels)}")
        names = (str(labels[0]), str(labels[1]))
    return _diff(ga, gb, names)


def _sides(a: Side, b: Side, input: Any, target: Any, mode: str | tuple[str, str],
           steps: tuple[int, int]) -> tuple[tuple[nx.DiGraph, nx.DiGraph], tuple[str, str]]:
    modes = (mode, mode) if isinstance(mode, str) else tuple(mode)
    if len(modes) != 2 or any(m not in ("train", "eval") for m in modes):
        raise ValueError(f"diff: mode must be 'train', 'eval' or a pair of them, got {mode!r}")
    if b is None:
        if isinstance(a, Timeline):
            if not a.graphs:
                raise ValueError("diff: the timeline has no snapshots")
            try:
                picked = [a.graphs[k] for k in steps], tuple(a.labels[k] for k in steps)
            except IndexError:
                raise ValueError(f"diff: steps {tuple(steps)} outside a timeline of {len(a.graphs)} steps") from None
            return (picked[0][0], picked[0][1]), picked[1]
        if is_model(a) and modes[0] != modes[1]:
            return (_graph(a, input, target, modes[0]), _graph(a, input, target, modes[1])), modes
        raise TypeError("diff: with one graph, give a Timeline (two of its steps) or a model with "
                        "mode=('train', 'eval')")
    if not (is_model(a) or is_model(b)) and (input is not None or target is not None):
        raise TypeError("diff: input= and target= are for models")
    names = modes if is_model(a) and is_model(b) and modes[0] != modes[1] else ("A", "B")
    return (_graph(a, input, target, modes[0]), _graph(b, input, target, modes[1])), names


def _graph(what: Side, input: Any, target: Any, mode: str) -> nx.DiGraph:
    if is_model(what):
        return capture(what, input=input, target=target, mode=mode)
    if isinstance(what, nx.DiGraph):
        return what
    if isinstance(what, tuple) and len(what) == 2 and isinstance(what[0], Timeline):
        timeline, k = what
        if not -len(timeline.graphs) <= k < len(timeline.graphs):
            raise ValueError(f"diff: step {k} outside a timeline of {len(timeline.graphs)} steps")
        return timeline.graphs[k]
    if isinstance(what, Timeline):
        raise TypeError("diff: pick a step of the timeline: (timeline, k)")
    return capture(what)


def _diff(ga: nx.DiGraph, gb: nx.DiGraph, labels: tuple[str, str]) -> Diff:
    pairs, how = _match_scopes(ga, gb)
    sa, sb = ga.graph.get("scopes", {}), gb.graph.get("scopes", {})
    box = {a: b for a, b in pairs}
    only_a = [_module(sa, k) for k in sa if k not in box]
    paired_b = set(box.values())
    only_b = [_module(sb, k) for k in sb if k not in paired_b]
    nodes = _match_nodes(ga, gb, box)
    ea, eb = _entries(ga), _entries(gb)
    noise_a, noise_b = _unpaired(ea, eb, ga, gb, box)
    ratios = _ratios(ga, gb, nodes, sa)
    out = Diff(labels, (ga, gb), [(_module(sa, a), _module(sb, b)) for a, b in pairs], how, only_a, only_b, nodes,
               noise_a, noise_b, ratios, _headline(labels, ea, eb, not (noise_a or noise_b)))
    out.differences = _differences(out)
    return out


def _module(table: dict[str, dict[str, Any]], key: str) -> Module:
    s = table[key]
    return Module(key, s["path"], s["name"] or "", s["kind"])


def _match_scopes(ga: nx.DiGraph, gb: nx.DiGraph) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Pairs of scope keys: by (path, name, k-th call), then by the order of names under matched parents."""
    sa, sb = ga.graph.get("scopes", {}), gb.graph.get("scopes", {})

    def keyed(table: dict[str, dict[str, Any]]) -> dict[tuple[str, str, int], str]:
        seen: Counter = Counter()
        out = {}
        for k, s in table.items():
            seen[s["path"], s["name"]] += 1
            out[s["path"], s["name"], seen[s["path"], s["name"]]] = k
        return out

    ka, kb = keyed(sa), keyed(sb)
    pairs = {ka[k]: kb[k] for k in ka if k in kb}
    how = dict.fromkeys(pairs, "path")
    changed = True
    while changed:  # a structural match may let its children match in the next round
        changed = False
        for pa, pb in [(None, None), *pairs.items()]:
            left_a = [k for k, s in sa.items() if s["parent"] == pa and k not in pairs]
            taken = set(pairs.values())
            left_b = [k for k, s in sb.items() if s["parent"] == pb and k not in taken]
            if not left_a or not left_b:
                continue
            m = SequenceMatcher(None, [sa[k]["name"] for k in left_a], [sb[k]["name"] for k in left_b], autojunk=False)
            for i, j, n in m.get_matching_blocks():
                for t in range(n):
                    pairs[left_a[i + t]] = left_b[j + t]
                    how[left_a[i + t]] = "structure"
                    changed = True
    loss_a, loss_b = _loss_scope(ga, pairs.keys()), _loss_scope(gb, pairs.values())
    if loss_a and loss_b:
        pairs[loss_a], how[loss_a] = loss_b, "loss"
    return sorted(pairs.items(), key=lambda p: int(p[0][1:])), how


def _loss_scope(g: nx.DiGraph, taken: Any) -> str | None:
    """The unmatched top-level function scope computing the graph's output (the loss), if one."""
    table, taken = g.graph.get("scopes", {}), set(taken)
    found = {s for o in g.graph.get("outputs", ()) for s in (g.nodes[o].get("scopes") or ())[:1]}
    found = [s for s in found if s not in taken and table[s]["parent"] is None and table[s]["kind"] == "function"]
    return found[0] if len(found) == 1 else None


def _signatures(g: nx.DiGraph, box: dict[str, str] | None) -> dict[tuple[Any, ...], str]:
    """Each tensor by (its innermost box, mapped to the pair's B key with ``box``; role; producing op; shape;
    k-th such)."""
    seen: Counter = Counter()
    out = {}
    for n in sorted((n for n, d in g.nodes(data=True) if d["kind"] == "tensor"), key=lambda n: g.nodes[n]["order"]):
        d = g.nodes[n]
        inner = (d.get("scopes") or (None,))[-1]
        if box is not None and inner is not None:
            if inner not in box:
                continue
            inner = box[inner]
        ops = [g.nodes[p]["op"] for p in g.predecessors(n)]
        key = (inner, d["role"], ops[0] if ops else None, tuple(d["shape"]))
        seen[key] += 1
        out[(*key, seen[key])] = n
    return out


def _match_nodes(ga: nx.DiGraph, gb: nx.DiGraph, box: dict[str, str]) -> dict[str, str]:
    ta, tb = _signatures(ga, box), _signatures(gb, None)
    nodes = {ta[k]: tb[k] for k in ta if k in tb}
    for a, b in list(nodes.items()):
        pa, pb = list(ga.predecessors(a)), list(gb.predecessors(b))
        if pa and pb:
            nodes[pa[0]] = pb[0]
    return nodes


def _entries(g: nx.DiGraph) -> list[NoiseEntry]:
    report = noise_paths(g)
    return [NoiseEntry(e["module"] or "", e["kind"], e["source_kind"], e["node"], report.describe(e))
            for e in report.entries]


def _unpaired(ea: list[NoiseEntry], eb: list[NoiseEntry], ga: nx.DiGraph, gb: nx.DiGraph,
              box: dict[str, str]) -> tuple[list[NoiseEntry], list[NoiseEntry]]:
    """The entries of each graph with no counterpart: the same kind and source in the matched box."""
    def key(e: NoiseEntry, g: nx.DiGraph, mapping: dict[str, str] | None) -> tuple[Any, ...]:
        inner = (g.nodes[e.node].get("scopes") or (None,))[-1]
        where = inner if mapping is None else mapping.get(inner, ("only", inner)) if inner else None
        return where, e.kind, e.source_kind

    left = Counter(key(e, gb, None) for e in eb)
    only_a = []
    for e in ea:
        k = key(e, ga, box)
        if left[k]:
            left[k] -= 1
        else:
            only_a.append(e)
    only_b = []
    for e in reversed(eb):
        k = key(e, gb, None)
        if left[k]:
            left[k] -= 1
            only_b.append(e)
    return only_a, only_b[::-1]


def _ratios(ga: nx.DiGraph, gb: nx.DiGraph, nodes: dict[str, str], table: dict[str, dict[str, Any]]) -> list[Ratio]:
    def largest(g: nx.DiGraph, key: str) -> float:
        return max((v for _, v in g.nodes(data=key) if v is not None and math.isfinite(v)), default=0.0)

    floors = {(g, k): FLOOR * largest(g, k) for g in (ga, gb) for k in ("std", "grad_norm")}

    def ratio(da: dict[str, Any], db: dict[str, Any], key: str) -> float | None:
        x, y = da.get(key), db.get(key)
        ok = all(v is not None and math.isfinite(v) and v > floors[g, key] for v, g in ((x, ga), (y, gb)))
        return y / x if ok else None

    out = []
    for a, b in nodes.items():
        da, db = ga.nodes[a], gb.nodes[b]
        if da["kind"] != "tensor":
            continue
        where = f"{_where(table, da.get('scopes') or ())}: {da['name'] or da['role']} {tuple(da['shape'])}"
        out.append(Ratio(a, b, where, ratio(da, db, "std"), ratio(da, db, "grad_norm")))
    return out


def _where(table: dict[str, dict[str, Any]], scopes: Sequence[str]) -> str:
    """Where a tensor is, in words: its innermost module by path and class, and the function inside it
    (``4 · BatchNorm1d › batch_norm``)."""
    modules = [table[k] for k in scopes if table[k]["kind"] == "module"]
    if not modules:  # a function outside every module (the loss): its chain of function names
        return " › ".join(table[k]["name"] for k in scopes) or "(top level)"
    inner = table[scopes[-1]]
    words = f"{modules[-1]['path'] or '(model)'} · {modules[-1]['name']}"
    return f"{words} › {inner['name']}" if inner["kind"] == "function" else words


def _kinds(entries: list[NoiseEntry]) -> str:
    kinds = sorted({"dropout" if e.source_kind == "random" else e.kind for e in entries})
    return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]


def _noise_words(entries: list[NoiseEntry]) -> str:
    if not entries:
        return "none"
    n = len({e.module for e in entries})
    return f"{_kinds(entries)} noise in {n} module{'s' if n != 1 else ''}"


def _headline(labels: tuple[str, str], ea: list[NoiseEntry], eb: list[NoiseEntry], same: bool) -> str:
    """The noise entries of both graphs in words: "BatchNorm: additive and multiplicative noise in 1 module;
    LayerNorm: none", or "A and B: the same noise entries (...)"."""
    if same:
        return f"{labels[0]} and {labels[1]}: the same noise entries ({_noise_words(ea)})"
    return f"{labels[0]}: {_noise_words(ea)}; {labels[1]}: {_noise_words(eb)}"


def _differences(d: Diff) -> list[Difference]:
    a, b = d.labels
    out = [Difference("noise", f"noise only in {label}: {e.title}", e.node if side == 0 else None,
                      e.node if side == 1 else None, math.inf)
           for side, label, entries in ((0, a, d.noise_only_a), (1, b, d.noise_only_b)) for e in entries]
    out += [Difference(m.kind, f"{m.kind} only in {label}: {m}", m.scope if side == 0 else None,
                       m.scope if side == 1 else None, 1e300 if m.kind == "module" else 1e299)
            for side, label, mods in ((0, a, d.only_a), (1, b, d.only_b)) for m in mods]
    for r in d.ratios:
        for what, value in (("gradient norm", r.grad), ("std", r.std)):
            if value is None or abs(math.log(value)) <= math.log1p(RATIO_TOL):
                continue
            times = f"{value:.3g}× larger" if value > 1 else f"{1 / value:.3g}× smaller"
            out.append(Difference(what, f"{what} {times} in {b} than in {a} — {r.where}", r.a, r.b,
                                  abs(math.log10(value))))
    out.sort(key=lambda x: -x.size)
    return out


def ratio_colour(value: float) -> str:
    """The diverging fill of a ratio B/A: purple smaller, grey-white equal, terracotta larger (log2, ±16x)."""
    t = max(-1.0, min(1.0, math.log2(value) / RAMP_SPAN))
    return RAMP[round((t + 1) / 2 * (len(RAMP) - 1))]


@dataclass
class Comparison(Page):
    """A page with two explorers side by side, moving together, their differences marked (see
    :class:`viz.explore.Page` for ``page()``, ``save(path)``, ``embed()``, inline in Jupyter).

    Attributes:
        diff: the comparison as data.
        data: what the page reads: both explorers' data, the matches, marks, ratio fills and table rows.
    """

    diff: Diff
    data: dict[str, Any]
    ROOT: ClassVar[str] = "tgbn-cmp"
    KEY: ClassVar[str] = "tgbn-cmp"
    SCRIPT: ClassVar[str] = "TinygradCompare"
    EMBED: ClassVar[int] = 760

    @staticmethod
    def assets() -> str:
        """Return what every page with comparisons needs once: the explorer's assets and the comparison's."""
        return f"{Page.assets()}<style>{_static('compare.css')}</style><script>{_static('compare.js')}</script>"


def compare(a: Side, b: Side = None, path: str | Path | None = None, *, labels: Sequence[str] | None = None,
            input: Any = None, target: Any = None, mode: str | tuple[str, str] = "train",
            steps: tuple[int, int] = (0, -1), title: str | None = None) -> Comparison:
    """One offline page showing two graphs side by side (one above the other when wide), moving together.

    Boxes are matched as in :func:`diff`: panning or zooming one view moves the other, opening a box opens
    its match; boxes in one graph only get a dashed dark outline, noise entries in one graph only a glow;
    matched tensors and boxes are filled by the ratio B/A (gradient norm, or std where no gradient was
    kept) on a diverging scale with its legend; the headline says each graph's noise in words, and a
    table lists the largest differences (a click centres both views on the pair).

    Args:
        a: the first graph, as for :func:`diff`.
        b: the second graph (None: ``a`` in two modes or at two steps), as for :func:`diff`.
        path: the HTML file to write (optional).
        input: for models: the batch, the same for both.
        target: for models: labels, a target array or a loss callable.
        mode: "train" or "eval" for both models, or a pair (one per side).
        steps: for a Timeline alone: the two steps.
        labels: the two graphs' names (default as for :func:`diff`).
        title: the page's title.

    Returns:
        The :class:`Comparison` (``.diff``, ``.page()``, ``.save(path)``, inline in Jupyter).
    """
    d = diff(a, b, input=input, target=target, mode=mode, steps=steps, labels=labels)
    la, lb = d.labels
    sides = [explore(g, title=label).data for g, label in zip(d.graphs, d.labels)]
    fills: list[dict[str, str]] = [{}, {}]
    words: list[dict[str, str]] = [{}, {}]
    for r in d.ratios:
        value, what = (r.grad, "gradient norm") if r.grad is not None else (r.std, "std")
        if value is None:
            continue
        for side, key in ((0, r.a), (1, r.b)):
            fills[side][key] = ratio_colour(value)
            words[side][key] = f"{what} {lb}/{la}: {value:.3g}"
    last = _last_tensors(d.graphs[0])
    for ma, mb in d.pairs:  # a box: the ratio of its last tensor (its output)
        if last.get(ma.scope) in fills[0]:
            last_t = last[ma.scope]
            fills[0][ma.scope] = fills[1][mb.scope] = fills[0][last_t]
            words[0][ma.scope] = words[1][mb.scope] = words[0][last_t]
    data = dict(
        title=title or f"{la} vs {lb}", labels=[la, lb], headline=d.headline,
        summary=f"{len(d.pairs)} boxes matched · {len(d.only_a)} only in {la} · {len(d.only_b)} only in {lb} · "
                f"{len(d.noise_only_a) + len(d.noise_only_b)} noise entries in one graph only",
        sides=sides,
        match=[{**{a.scope: b.scope for a, b in d.pairs}, **d.nodes}],
        only=[[m.scope for m in d.only_a], [m.scope for m in d.only_b]],
        noise_only=[[e.node for e in d.noise_only_a], [e.node for e in d.noise_only_b]],
        fills=fills, words=words,
        ramp=list(RAMP), ramp_ends=[f"1/{2 ** RAMP_SPAN:g}", "1", f"{2 ** RAMP_SPAN:g}×"],
        rows=[dict(what=x.what, words=x.words, a=x.a, b=x.b) for x in d.differences[:TABLE_ROWS]],
        total=len(d.differences),
    )
    data["match"].append({v: k for k, v in data["match"][0].items()})
    out = Comparison(d, data)
    if path is not None:
        out.save(path)
    return out


def _last_tensors(g: nx.DiGraph) -> dict[str, str]:
    """Each box's last tensor in data-flow order (its output)."""
    out: dict[str, str] = {}
    for n in sorted((n for n, d in g.nodes(data=True) if d["kind"] == "tensor"), key=lambda n: g.nodes[n]["order"]):
        for s in g.nodes[n].get("scopes") or ():
            out[s] = n
    return out
