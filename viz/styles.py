"""Colours and label text of the picture: colour-blind-safe noise colours, a grey gradient heat, escaping.

The noise kinds take three Okabe–Ito colours (distinguishable with the common colour-vision
deficiencies); the gradient heat is a sequential grey scale (light = small), which shares no hue
with them. Text reaches Graphviz as a plain (non-HTML) label in which nothing is markup: ``&`` is
written as ``&amp;`` so entity text like ``&amp;`` or ``&#65;`` is shown as typed, and control
characters, which XML cannot hold, are shown as their Unicode control pictures (U+2400 + code).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .noise import NoiseReport

NOISE = {  # key: (colour, light fill, legend words)
    "additive": ("#e69f00", "#f8e2b0", "additive noise (batch mean)"),
    "multiplicative": ("#0072b2", "#b3d4e8", "multiplicative noise (batch std)"),
    "dropout": ("#009e73", "#b3e2d5", "dropout mask (random source)"),
}
ROLE_FILL = {"input": "#fff7bc", "parameter": "#ffffff", "constant": "#ffffff", "intermediate": "#ffffff",
             "output": "#fff7bc"}
HEAT_LIGHT, HEAT_DARK = (0.97, 0.97, 0.97), (0.42, 0.42, 0.42)  # greys: light = small gradient, dark = large
HEAT_DECADES = 6  # the heat scale spans at most this many powers of ten below the largest gradient norm
PEN = "2.5"
WARN = "#b30000"


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


def font_for(fill: str) -> str:
    """Black text on light fills, white on dark ones."""
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return "#ffffff" if 0.299 * r + 0.587 * g + 0.114 * b < 110 else "#000000"


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


def scope_title(s: dict[str, Any]) -> str:
    """``1 · BatchNorm1d(16, eps=1e-05, …) · (32, 16) → (32, 16)`` for a scope of ``g.graph["scopes"]``."""
    name = s["name"] or "module"
    if s["kind"] == "module":
        parts = [s["path"]] if s["path"] else []
        parts += [f"{name}({short(s['extra_repr'])})", shapes(s["input_shapes"])]
    else:  # a function: its first argument is the data (the rest are often parameters or buffers)
        parts = [name, shapes(s["input_shapes"][:1])]
    return " · ".join(parts[:-1]) + f" · {parts[-1]} → {shapes(s['output_shapes'])}"
