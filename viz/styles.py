"""Colours, node styles and label text of the picture: colour-blind-safe noise colours, a grey heat, escaping.

The noise kinds take three Okabe–Ito colours (distinguishable with the common colour-vision
deficiencies) for lines, with light tints of them for fills; the gradient heat is a sequential
grey scale on a log axis (light = small), which shares no hue with them. Every fill is light
enough that the one dark text colour meets WCAG AA contrast (4.5:1, see :func:`contrast`).

Text reaches Graphviz as a plain (non-HTML) label in which nothing is markup: ``&`` is written
as ``&amp;`` so entity text like ``&amp;`` or ``&#65;`` is shown as typed, and control characters,
which XML cannot hold, are shown as their Unicode control pictures (U+2400 + code).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fold import Group
    from .noise import NoiseReport

NOISE = {  # key: (colour, light fill, legend words)
    "additive": ("#e69f00", "#f8e2b0", "additive noise (batch mean)"),
    "multiplicative": ("#0072b2", "#b3d4e8", "multiplicative noise (batch std)"),
    "dropout": ("#009e73", "#b3e2d5", "dropout mask (random source)"),
}
ROLE_FILL = {"input": "#fff7bc", "parameter": "#ffffff", "constant": "#ffffff", "buffer": "#ffffff",
             "intermediate": "#ffffff", "output": "#fff7bc"}
HEAT_LIGHT, HEAT_DARK = (0.97, 0.97, 0.97), (0.6, 0.6, 0.6)  # greys: light = small gradient, dark = large
HEAT_DECADES = 6  # the heat scale spans at most this many powers of ten below the largest gradient norm
PEN = "2.5"
WARN = "#b30000"
TEXT = "#222222"
OP_FILL, BOX_FILL, LINE = "#eeeeee", "#f7f7f7", "#666666"


def heat_scale(norms: list[float]) -> tuple[float, float] | None:
    """(log10 low, log10 high) of the finite positive gradient norms, at most ``HEAT_DECADES`` apart."""
    logs = [math.log10(n) for n in norms if n and n > 0 and math.isfinite(n)]
    return (max(min(logs), max(logs) - HEAT_DECADES), max(logs)) if logs else None


def heat(norm: float | None, scale: tuple[float, float]) -> str:
    """The grey of gradient norm ``norm`` on ``scale`` (a zero gradient is the lightest)."""
    lo, hi = scale
    x = math.log10(norm) if norm and norm > 0 else -math.inf
    t = 0.5 if hi == lo and math.isfinite(x) else min(max((x - lo) / (hi - lo or 1.0), 0.0), 1.0)
    return "#" + "".join(f"{round(255 * (a + (b - a) * t)):02x}" for a, b in zip(HEAT_LIGHT, HEAT_DARK))


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21; AA asks 4.5 for text)."""
    def lum(c: str) -> float:
        lin = [(v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4)
               for v in (int(c[i:i + 2], 16) / 255 for i in (1, 3, 5))]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def node_style(d: dict[str, Any], mark: str | None, entry: str | None, scale: tuple[float, float] | None,
               show_values: bool | None) -> dict[str, Any]:
    """Label ``rows`` and Graphviz attributes of one op or tensor node ``d`` of a captured graph: ``mark`` is
    the noise colour key of the path it is on, ``entry`` that of the noise entering at it, ``scale`` the heat's;
    value statistics on every tensor (``show_values`` True), on all but intermediates (None) or on none."""
    if d["kind"] == "op":
        attrs = op_attrs(d["attrs"])
        rows = [d["op"], *(" ".join(attrs[k:k + 2]) for k in range(0, len(attrs), 2))]
        style = dict(shape="ellipse", style="filled", fillcolor=NOISE[entry][1] if entry else OP_FILL, color=LINE,
                     margin="0.05,0.02")
    else:
        rows = [tensor_head(d)]
        if (show_values or (show_values is None and d["role"] != "intermediate")) and d["mean"] is not None:
            rows.append(f"mean {d['mean']:.3g}  std {d['std']:.3g}  [{d['min']:.3g}, {d['max']:.3g}]")
        fill = ROLE_FILL[d["role"]]
        if scale and d["grad_norm"] is not None:
            rows.append(f"grad norm {d['grad_norm']:.3g}" + (f"  mean |g| {d['grad_mean_abs']:.3g}" if show_values
                                                             else ""))
            fill = heat(d["grad_norm"], scale)
        style = dict(shape="box", style="rounded,filled", fillcolor=fill, color=LINE)
    if mark:
        style.update(color=NOISE[mark][0], penwidth=PEN)
    if d.get("nonfinite"):
        rows.append(f"non-finite {d['nonfinite']}")
        style.update(color=WARN, penwidth=PEN)
    return dict(rows=rows, **style)


def box_style(kinds: list[str], norm: float | None, scale: tuple[float, float] | None) -> dict[str, Any]:
    """Graphviz attributes of a node standing for many: filled by the heat of its largest gradient ``norm``,
    with one stripe per noise kind inside (``kinds``) and the first kind's border."""
    fill = heat(norm, scale) if scale and norm is not None else BOX_FILL
    style: dict[str, Any] = dict(shape="box", style="filled", fillcolor=fill, color=LINE)
    if kinds:  # stripes of 6% of the width each, at the right; the wider margin keeps the text off them
        stripes = [f"{NOISE[k][1]};0.06" for k in kinds]
        style.update(style="striped", color=NOISE[kinds[0]][0], penwidth=PEN,
                     margin=f"{0.1 + 0.15 * len(kinds):.2f},0.05",
                     fillcolor=":".join([f"{fill};{1 - 0.06 * len(kinds):.2f}", *stripes]))
    return style


def group_style(data: dict[str, dict[str, Any]], table: dict[str, dict[str, Any]], group: Group, marks: dict[Any, str],
                heat: tuple[float, float] | None) -> dict[str, Any]:
    """Label ``rows`` and Graphviz attributes of a drawn node standing for a ``group`` of nodes (see
    :class:`viz.fold.Group`): its title, shapes, the noise kinds entering inside it and its largest gradient norm."""
    members = group.members
    kinds = Counter(data[n]["kind"] for n in members)
    if group.kind == "scope":
        rows = scope_rows(table[group.scopes[0]])
    elif group.kind == "roll":
        pattern = group.scopes[:group.period]
        first, last = table[pattern[0]], table[pattern[-1]]
        heads = [f"{s['name']}({short(s['extra_repr'], 20)})" if s["extra_repr"] else s["name"]
                 for s in (table[k] for k in pattern)]
        rows = [f"×{group.count}: " + " → ".join(heads),
                f"from {first['path'] or first['name']}, each {shapes(first['input_shapes'][:1])} → "
                f"{shapes(last['output_shapes'])}",
                f"{kinds['op']} ops, {kinds['tensor']} tensors in all"]
    elif group.kind == "chain":
        rows = [f"{kinds['op']} ops folded: {_op_list(members, data)}"]
    else:
        rows = [f"segment of {kinds['op']} ops, {kinds['tensor']} tensors", _op_list(members, data)]
    inside = sorted({marks[(n, "entry")] for n in members if (n, "entry") in marks})
    if inside:
        rows.append("noise inside: " + ", ".join(inside))
    norms = [data[n]["grad_norm"] for n in members if data[n].get("grad_norm") is not None]
    if heat and norms:
        rows.append(f"max grad norm {max(norms):.3g}")
    return dict(rows=rows, **box_style(inside, max(norms) if norms else None, heat))


def _op_list(members: list[str], data: dict[str, dict[str, Any]], limit: int = 6) -> str:
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


def tensor_head(d: dict[str, Any]) -> str:
    """``name · role`` of a tensor node, ``shape dtype`` after it (an unnamed intermediate: the shape only)."""
    where = f"{d['shape']} {d['dtype']}"
    if not d["name"]:
        return where if d["role"] == "intermediate" else f"{d['role']} {where}"
    return f"{d['name']} ({d['role']}) {where}"


_LITERAL = {**{c: chr(0x2400 + c) for c in range(0x20)}, 0x7F: "\u2421", ord("&"): "&amp;"}


def text(s: object) -> str:
    """``s`` as label text Graphviz shows literally (see the module docstring)."""
    return str(s).translate(_LITERAL)


def label(rows: list[object]) -> str:
    """A multi-line plain label (rows joined by DOT line breaks), never an HTML label."""
    import graphviz
    return graphviz.nohtml("\\n".join(graphviz.escape(text(r)) for r in rows))


def shapes(items: tuple | list | None) -> str:
    """``(32, 16)`` for one shape, ``(32, 16), (16,)`` for several, ``?`` when unknown."""
    if items is None:
        return "?"
    return ", ".join(str(tuple(s)) for s in items) or "()"


def short(s: str, limit: int = 30) -> str:
    """``s`` cut at a comma boundary to about ``limit`` characters, with an ellipsis."""
    if len(s) <= limit:
        return s
    cut = s.rfind(",", 0, limit)
    return (s[:cut] if cut > 0 else s[:limit]) + ", …"


def noise_marks(report: NoiseReport) -> dict[Any, str]:
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


def op_attrs(attrs: dict[str, Any]) -> list[str]:
    """Short ``key=value`` lines for the plain attributes of an op (numbers, bools, strings, small tuples)."""
    out = []
    for k, v in attrs.items():
        if isinstance(v, bool | int | float | str) or (
                isinstance(v, tuple) and len(v) <= 6 and all(isinstance(x, int | float) for x in v)):
            out.append(f"{k}={v}")
    return out


def scope_rows(s: dict[str, Any]) -> list[str]:
    """``["1 · BatchNorm1d(32, eps=1e-05, …)", "(32, 16) → (32, 16)"]``: a collapsed scope's head rows."""
    head = " · ".join(dict.fromkeys(p for p in (s["path"], s["name"] or "module") if p))
    if s["extra_repr"]:
        head += f"({short(s['extra_repr'], 20)})"
    return [head, f"{shapes(s['input_shapes'][:1] if s['kind'] == 'function' else s['input_shapes'])} → "
                   f"{shapes(s['output_shapes'])}"]


def scope_title(s: dict[str, Any]) -> str:
    """``1 · BatchNorm1d(16, eps=1e-05, …) · (32, 16) → (32, 16)`` for a scope of ``g.graph["scopes"]``."""
    name = s["name"] or "module"
    if s["kind"] == "module":
        parts = [s["path"]] if s["path"] else []
        parts += [f"{name}({short(s['extra_repr'])})", shapes(s["input_shapes"])]
    else:  # a function: its first argument is the data (the rest are often parameters or buffers)
        parts = [name, shapes(s["input_shapes"][:1])]
    return " · ".join(parts[:-1]) + f" · {parts[-1]} → {shapes(s['output_shapes'])}"
