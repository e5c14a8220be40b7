"""What the picture draws for each node of a captured graph: itself, or one node standing for many.

Four reductions, applied in turn until a graph fits ``max_nodes`` (only the first when ``depth`` is
given): scopes (module calls, function scopes) nested deeper than ``depth`` collapse into one node
each; runs of identical consecutive sibling calls (the same pattern of classes, descriptions and
shapes repeated) are drawn once with "×k"; chains of ops with one input and one user (their
constants folded in) become one node listing the ops, when that is enough to fit; as a last resort,
consecutive nodes in data-flow order are drawn as segments (listing their ops). Each drawn node sits
in the box of one scope (``home``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

Data = dict[str, dict[str, Any]]  # node -> its attributes


@dataclass
class Group:
    """A drawn node that stands for ``members`` (graph nodes): a collapsed ``scope``, a ``roll`` of
    ``count`` repeated blocks of ``scopes``, a folded ``chain`` or a ``segment``; ``start`` is the smallest
    ``order`` among the members (its place in data-flow order)."""

    kind: str
    members: list[str]
    scopes: list[str] = field(default_factory=list)
    count: int = 1
    start: int = 0


@dataclass
class Plan:
    """``rep``: graph node -> drawn id; ``groups``: drawn ids that stand for several nodes; ``home``:
    drawn id -> key of the scope whose box holds it (None: outside every box); ``message``: what was
    reduced and how to expand it (None when nothing was)."""

    rep: dict[str, str]
    groups: dict[str, Group]
    home: dict[str, str | None]
    message: str | None


MAX_NODES = 300
"""The default most nodes a static picture shows before folding collapses scopes (``viz.render``)."""

def plan(g: nx.DiGraph, depth: int | None, max_nodes: int | None) -> Plan:
    """Decide what is drawn (see the module docstring)."""
    table = g.graph.get("scopes", {})
    n = g.number_of_nodes()
    auto = depth is None and max_nodes is not None and n > max_nodes
    if auto:
        depth = _fitting_depth(g, table, max_nodes)
    rep, groups = _collapse(g, table, depth)
    data = dict(g.nodes(data=True))  # plain dict lookups: a NodeView costs ~1 µs per access
    home = {d: _home(data, table, d, groups) for d in dict.fromkeys(rep.values())}
    notes: list[str] = []
    if depth is not None and groups:
        notes.append(f"scopes nested deeper than depth {depth} are collapsed (pass depth={depth + 1} to open "
                     "one more level)")
    if auto:
        for step in (_roll, _chains, _segments):
            if len(set(rep.values())) <= max_nodes:
                break
            note = step(g, data, table, rep, groups, home, max_nodes)
            if note:
                notes.append(note)
    message = None
    if auto:
        message = (f"{n:,} nodes is over max_nodes={max_nodes}, so " + "; ".join(notes or ["nothing could be folded"])
                   + ". max_nodes=None draws every node (slow above a few thousand).")
    return Plan(rep, groups, home, message)


def level(table: dict[str, dict[str, Any]], key: str) -> int:
    """Nesting level of a scope: the number of parts of its path (``""``: 0, ``"1"``: 1, ``"1.bn"``: 2)."""
    path = table[key]["path"]
    return len(path.split(".")) if path else 0


def _collapse(g: nx.DiGraph, table: dict[str, dict[str, Any]],
              depth: int | None) -> tuple[dict[str, str], dict[str, Group]]:
    rep: dict[str, str] = {}
    groups: dict[str, Group] = {}
    levels = {k: level(table, k) for k in table}
    for n, d in g.nodes(data=True):
        key = None
        if depth is not None:
            key = next((k for k in d.get("scopes", ()) if levels[k] > depth), None)
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


def _fitting_depth(g: nx.DiGraph, table: dict[str, dict[str, Any]], max_nodes: int) -> int | None:
    """The deepest depth whose collapse fits ``max_nodes`` (0 if none does; None without scopes)."""
    if not table:
        return None
    for d in range(max(level(table, k) for k in table) - 1, 0, -1):
        if len(set(_collapse(g, table, d)[0].values())) <= max_nodes:
            return d
    return 0


def _home(data: Data, table: dict[str, dict[str, Any]], drawn: str, groups: dict[str, Group]) -> str | None:
    group = groups.get(drawn)
    if group is None:
        keys = data[drawn].get("scopes", ())
        return keys[-1] if keys else None
    return table[group.scopes[0]]["parent"]


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


def _roll(g: nx.DiGraph, data: Data, table: dict[str, dict[str, Any]], rep: dict[str, str], groups: dict[str, Group],
          home: dict[str, str | None], max_nodes: int) -> str | None:
    """Runs of a repeated pattern of sibling scope groups become one node with ×k."""
    siblings: dict[str | None, list[str]] = {}
    for gid, grp in groups.items():
        if grp.kind == "scope":
            siblings.setdefault(home[gid], []).append(gid)
    rolled = 0
    for ids in siblings.values():
        ids.sort(key=lambda i: first(data, i, groups))
        sig = [_signature(table[groups[i].scopes[0]]) for i in ids]
        i = 0
        while i < len(ids):
            best = (1, 1)
            for p in range(1, min(8, (len(ids) - i) // 2) + 1):
                r = 1
                while sig[i + r * p:i + (r + 1) * p] == sig[i:i + p]:
                    r += 1
                if r > 1 and p * r > best[0] * best[1]:
                    best = (p, r)
            p, r = best
            if r > 1:
                gid = f"r{len(groups)}_{ids[i]}"
                _merge(data, gid, ids[i:i + p * r], rep, groups, home, "roll")
                groups[gid].count = r
                groups[gid].scopes = groups[gid].scopes[:p]
                rolled += 1
            i += p * r
    return f"{_count(rolled, 'run')} of repeated blocks drawn once with ×k" if rolled else None


def _signature(s: dict[str, Any]) -> tuple:
    return s["name"], s["extra_repr"], s["input_shapes"], s["output_shapes"]


def _chains(g: nx.DiGraph, data: Data, table: dict[str, dict[str, Any]], rep: dict[str, str],
            groups: dict[str, Group], home: dict[str, str | None], max_nodes: int) -> str | None:
    """Chains of ops, each with one user, are folded into one node (with the constants only they use), when
    that makes the graph fit; else nothing is folded here."""
    succ, pred = _quotient(g, rep)
    plain = {d: None for d in succ if d not in groups}
    absorbed: dict[str, str] = {}
    for d in plain:
        if not pred[d] and len(succ[d]) == 1 and data[d]["kind"] == "tensor":
            (user,) = succ[d]
            if user in plain and data[d]["role"] in ("parameter", "constant"):
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


def _segments(g: nx.DiGraph, data: Data, table: dict[str, dict[str, Any]], rep: dict[str, str],
              groups: dict[str, Group], home: dict[str, str | None], max_nodes: int) -> str:
    """The last resort: consecutive drawn nodes in data-flow order become one segment each."""
    drawn = sorted(dict.fromkeys(rep.values()), key=lambda d: first(data, d, groups))
    size = math.ceil(len(drawn) / max(max_nodes // 2, 1))
    for k in range(0, len(drawn), size):
        part = drawn[k:k + size]
        homes = {home[d] for d in part}
        gid = f"seg{k // size}"
        _merge(data, gid, part, rep, groups, home, "segment")
        home[gid] = homes.pop() if len(homes) == 1 else None
    return (f"it is drawn as {math.ceil(len(drawn) / size)} segments of up to {size} drawn nodes each, in "
            "data-flow order")
