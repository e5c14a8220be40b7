"""What the picture draws for each node of a captured graph: itself, or one node standing for many.

By default (``depth="auto"``) the picture is a module-level overview: every top-level module call
and function scope (the loss too) is one box, except the scopes holding the first noise entry,
which stay open so one normalizer's primitive path is drawn; a container module (one with no ops
of its own, such as a ``Sequential`` stage) is opened to show its children. ``depth=k`` collapses
every scope nested deeper than ``k`` instead, and ``depth=None`` draws every node. Runs of
identical consecutive sibling boxes (the same pattern of classes, descriptions, shapes and ops)
are drawn once with "×k" unless ``roll=False``. When the default overview is still over
``max_nodes``, chains of ops with one input and one user (their constants folded in) become one
node listing the ops, when that is enough to fit; as a last resort, consecutive nodes in data-flow
order are drawn as segments. Each drawn node sits in the box of one scope (``home``); a module
whose only content is its own function scope is one box (``box``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

Data = dict[str, dict[str, Any]]  # node -> its attributes
Table = dict[str, dict[str, Any]]  # scope key -> its record (g.graph["scopes"])

MAX_NODES = 300
"""The default overview of a graph with more drawn nodes than this is reduced further (chains, segments)."""
HUB, HUB_EDGES = 12, 3
"""A drawn node feeding more than ``HUB`` others (a weight shared by every layer, a segment of a random graph) keeps
edges to its first ``HUB_EDGES`` only (and every noise-path edge): long edges to everything make the layout crawl."""
SEGMENTS = 40
"""At most this many segments are drawn when nothing else makes a graph fit."""
AUTO = "auto"
"""The default ``depth``: the module-level overview described above."""


@dataclass
class Group:
    """A drawn node that stands for ``members`` (graph nodes): a collapsed ``scope``, a ``roll`` of ``count``
    repeats of a pattern of ``period`` sibling ``scopes``, a folded ``chain`` or a ``segment``; ``start`` is the
    smallest ``order`` among the members (its place in data-flow order)."""

    kind: str
    members: list[str]
    scopes: list[str] = field(default_factory=list)
    count: int = 1
    start: int = 0
    period: int = 1


@dataclass
class Plan:
    """``rep``: graph node -> drawn id; ``groups``: drawn ids that stand for several nodes; ``home``:
    drawn id -> key of the scope whose box holds it (None: outside every box); ``box``: scope key -> the
    scope whose box draws it (itself, or the module it is the only content of); ``message``: what was
    reduced and how to expand it (None when nothing was)."""

    rep: dict[str, str]
    groups: dict[str, Group]
    home: dict[str, str | None]
    box: dict[str, str]
    message: str | None


def plan(g: nx.DiGraph, depth: int | str | None = AUTO, max_nodes: int | None = MAX_NODES, roll: bool = True,
         keep: Iterable[str] = ()) -> Plan:
    """Decide what is drawn (see the module docstring); ``keep``: nodes whose scopes the overview opens."""
    table = g.graph.get("scopes", {})
    data = dict(g.nodes(data=True))  # plain dict lookups: a NodeView costs ~1 µs per access
    own = {d["scopes"][-1] for d in data.values() if d.get("scopes")}
    children: dict[str | None, list[str]] = {}
    for k in sorted(table, key=lambda k: int(k[1:])):
        children.setdefault(table[k]["parent"], []).append(k)
    box = _boxes(table, own, children)
    size = _sizes(data)
    auto = depth == AUTO
    if auto:
        closed = _overview(table, own, children, {k for n in keep for k in data[n].get("scopes", ())}, size)
    elif depth is None:
        closed = set()
    else:
        closed = {k for k in table if level(table, k) > depth}
    rep, groups = _collapse(data, closed)
    home = {d: _home(data, table, box, d, groups) for d in dict.fromkeys(rep.values())}
    notes: list[str] = []
    if roll and groups:
        notes.append(_roll(data, table, size, rep, groups, home))
    if auto and max_nodes is not None and len(home) > max_nodes:
        for step in (_chains, _segments):
            note = step(g, data, rep, groups, home, max_nodes)
            notes.append(note)
            if len(home) <= max_nodes:
                break
    notes = [n for n in notes if n]
    if auto and closed:
        notes.insert(0, "overview: each box is a module or function call (depth=None draws every op)")
    elif depth not in (None, AUTO) and groups:
        notes.insert(0, f"scopes nested deeper than depth {depth} are collapsed (pass depth={depth + 1} to open "
                        "one more level)")
    return Plan(rep, groups, home, box, "; ".join(notes) or None)


def check_depth(who: str, depth: object) -> None:
    """Refuse a ``depth`` that is not "auto", None or a level >= 0, naming ``who`` asked."""
    if not (depth is None or depth == AUTO or (isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0)):
        raise ValueError(f"{who}: depth must be 'auto', None or an integer >= 0, got {depth!r}")


def level(table: Table, key: str) -> int:
    """Nesting level of a scope: the number of parts of its path (``""``: 0, ``"1"``: 1, ``"1.bn"``: 2)."""
    path = table[key]["path"]
    return len(path.split(".")) if path else 0


def _boxes(table: Table, own: set[str], children: dict[str | None, list[str]]) -> dict[str, str]:
    """Each scope's box: a function scope that is the only content of its module is drawn as the module's box."""
    box = {}
    for k in sorted(table, key=lambda k: int(k[1:])):
        parent = table[k]["parent"]
        alone = parent is not None and parent not in own and len(children[parent]) == 1
        box[k] = box[parent] if alone and table[k]["kind"] == "function" else k
    return box


def _overview(table: Table, own: set[str], children: dict[str | None, list[str]], keep: set[str],
              size: dict[str, int]) -> set[str]:
    """The scopes collapsed in the default overview (see the module docstring); a container repeated among
    its siblings stays closed, to be rolled."""
    closed: set[str] = set()
    todo: list[str | None] = [None]
    while todo:
        kids = children.get(todo.pop(), [])
        runs = _runs([(k,) if k in keep else _signature(table, k, size) for k in kids])
        repeated = {kids[j] for i, p, r in runs for j in range(i, i + p * r)}
        for k in kids:
            container = k not in own and len(children.get(k, ())) > 1 and k not in repeated
            if level(table, k) == 0 or k in keep or container:
                todo.append(k)
            else:
                closed.add(k)
    return closed


def _collapse(data: Data, closed: set[str]) -> tuple[dict[str, str], dict[str, Group]]:
    rep: dict[str, str] = {}
    groups: dict[str, Group] = {}
    for n, d in data.items():
        key = next((k for k in d.get("scopes", ()) if k in closed), None)
        if key is None:
            rep[n] = n
            continue
        gid = f"m{key[1:]}"
        rep[n] = gid
        group = groups.get(gid)
        if group is None:
            group = groups[gid] = Group("scope", [], [key], start=d["order"])
        group.members.append(n)
        group.start = min(group.start, d["order"])
    return rep, groups


def _home(data: Data, table: Table, box: dict[str, str], drawn: str, groups: dict[str, Group]) -> str | None:
    group = groups.get(drawn)
    if group is None:
        keys = data[drawn].get("scopes", ())
        return box[keys[-1]] if keys else None
    parent = table[group.scopes[0]]["parent"]
    return box[parent] if parent is not None else None


def first(data: Data, drawn: str, groups: dict[str, Group]) -> int:
    """Data-flow position of a drawn node: its own ``order``, or its first member's."""
    group = groups.get(drawn)
    return data[drawn]["order"] if group is None else group.start


def _quotient(g: nx.DiGraph, rep: dict[str, str]) -> tuple[dict[str, dict[str, None]], dict[str, dict[str, None]]]:
    """Successors and predecessors of each drawn node (insertion-ordered dicts used as sets)."""
    succ: dict[str, dict[str, None]] = {d: {} for d in dict.fromkeys(rep.values())}
    pred: dict[str, dict[str, None]] = {d: {} for d in succ}
    for u, users in g.adjacency():
        ru = rep[u]
        for v in users:
            rv = rep[v]
            if ru != rv:
                succ[ru][rv] = pred[rv][ru] = None
    return succ, pred


def _merge(data: Data, into: str, others: list[str], rep: dict[str, str], groups: dict[str, Group],
           home: dict[str, str | None], kind: str) -> None:
    """Make ``into`` (a new group id) stand for every member of ``others`` (drawn ids)."""
    members: list[str] = []
    scopes: list[str] = []
    starts = []
    home[into] = home[others[0]]
    for o in others:
        home.pop(o, None)
        group = groups.pop(o, None)
        if group is None:
            members.append(o)
            starts.append(data[o]["order"])
        else:
            members += group.members
            scopes += group.scopes
            starts.append(group.start)
    for m in members:
        rep[m] = into
    groups[into] = Group(kind, members, scopes, start=min(starts))


def _roll(data: Data, table: Table, size: dict[str, int], rep: dict[str, str], groups: dict[str, Group],
          home: dict[str, str | None]) -> str | None:
    """Runs of a repeated pattern of sibling boxes become one node with ×k (any other node between them
    breaks a run)."""
    siblings: dict[str | None, list[str]] = {}
    for d in home:
        siblings.setdefault(home[d], []).append(d)
    rolled = 0
    for ids in siblings.values():
        ids.sort(key=lambda i: first(data, i, groups))
        sig = [_signature(table, groups[i].scopes[0], size) if i in groups else (i,) for i in ids]
        for i, p, r in _runs(sig):
            gid = f"r{len(groups)}_{ids[i]}"
            _merge(data, gid, ids[i:i + p * r], rep, groups, home, "roll")
            groups[gid].count, groups[gid].period = r, p
            rolled += 1
    return f"{_count(rolled, 'run')} of repeated blocks drawn once with ×k (roll=False draws each)" if rolled else None


def _runs(sig: list[tuple]) -> list[tuple[int, int, int]]:
    """``(start, period, repeats)`` of each run of a pattern of at most 8 items repeated at least twice."""
    out = []
    i = 0
    while i < len(sig):
        best = (1, 1)
        for p in range(1, min(8, (len(sig) - i) // 2) + 1):
            r = 1
            while sig[i + r * p:i + (r + 1) * p] == sig[i:i + p]:
                r += 1
            if r > 1 and p * r > best[0] * best[1]:
                best = (p, r)
        p, r = best
        if r > 1:
            out.append((i, p, r))
        i += p * r
    return out


def _sizes(data: Data) -> dict[str, int]:
    """Number of graph nodes inside each scope."""
    size: dict[str, int] = {}
    for d in data.values():
        for k in d.get("scopes", ()):
            size[k] = size.get(k, 0) + 1
    return size


def _signature(table: Table, key: str, size: dict[str, int]) -> tuple:
    s = table[key]
    return s["name"], s["extra_repr"], s["input_shapes"], s["output_shapes"], size.get(key, 0)


def _chains(g: nx.DiGraph, data: Data, rep: dict[str, str], groups: dict[str, Group], home: dict[str, str | None],
            max_nodes: int) -> str | None:
    """Chains of ops, each with one user, are folded into one node (with the constants only they use), when
    that makes the graph fit; else nothing is folded here."""
    succ, pred = _quotient(g, rep)
    plain = {d: None for d in succ if d not in groups}
    absorbed: dict[str, str] = {}
    for d in plain:
        if not pred[d] and len(succ[d]) == 1 and data[d]["kind"] == "tensor":
            (user,) = succ[d]
            if user in plain and data[d]["role"] in ("parameter", "constant", "buffer"):
                absorbed[d] = user
    core = {d: None for d in plain if d not in absorbed}
    leaves_of: dict[str, list[str]] = {}
    for a, u in absorbed.items():
        leaves_of.setdefault(u, []).append(a)
    nxt: dict[str, str] = {}  # u -> v when u's one user is v, v's one (non-absorbed) input is u, in one box
    for u in core:
        if len(succ[u]) == 1:
            (v,) = succ[u]
            if v in core and home[u] == home[v] and len(pred[v]) - len(leaves_of.get(v, ())) == 1:
                nxt[u] = v
    linked = set(nxt.values())
    chains = []
    for d in sorted((d for d in core if d not in linked), key=lambda d: data[d]["order"]):
        path = [d]
        while path[-1] in nxt:
            path.append(nxt[path[-1]])
        if len(path) >= 3:
            chains.append(path + [a for u in path for a in leaves_of.get(u, ())])
    if len(succ) - sum(len(c) - 1 for c in chains) > max_nodes:
        return None  # still too large: segments follow, and would hide the chains inside them
    for k, members in enumerate(chains, 1):
        _merge(data, f"c{k}_{members[0]}", members, rep, groups, home, "chain")
    return f"{_count(len(chains), 'chain')} of ops folded into one node each" if chains else None


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' if n != 1 else ''}"


def _segments(g: nx.DiGraph, data: Data, rep: dict[str, str], groups: dict[str, Group],
              home: dict[str, str | None], max_nodes: int) -> str:
    """The last resort: consecutive drawn nodes in data-flow order become one segment each (at most
    ``SEGMENTS``: more boxes than that are no overview, and their many edges slow the layout down)."""
    drawn = sorted(dict.fromkeys(rep.values()), key=lambda d: first(data, d, groups))
    size = math.ceil(len(drawn) / max(min(max_nodes // 2, SEGMENTS), 1))
    for k in range(0, len(drawn), size):
        part = drawn[k:k + size]
        homes = {home[d] for d in part}
        gid = f"seg{k // size}"
        _merge(data, gid, part, rep, groups, home, "segment")
        home[gid] = homes.pop() if len(homes) == 1 else None
    return (f"it is drawn as {math.ceil(len(drawn) / size)} segments of up to {size} drawn nodes each, in "
            "data-flow order")
