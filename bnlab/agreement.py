"""``tinygrad-bn demo --compare OLD``: does this run agree with a previous run's JSON, check by check?

A check agrees in its verdict when its outcome is the same word; its interval agrees when the two 95% intervals
overlap. Checks are matched by experiment and claim; a claim only one run has is listed as new or dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .experiments import Result, jsonable


def previous(old: Path | str, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The previous run's JSON per experiment name, read from folder ``old``.

    Raises:
        SystemExit: ``old`` is not a folder or holds none of the experiments' JSON files (a user's mistake).
    """
    old = Path(old)
    if not old.is_dir():
        raise SystemExit(f"demo: --compare needs the folder of a previous run, {str(old)!r} is not a folder")
    found = {n: json.loads((old / f"{n}.json").read_text()) for n in names if (old / f"{n}.json").is_file()}
    if not found:
        raise SystemExit(f"demo: --compare: {str(old)!r} holds no experiment JSON ({names[0]}.json, ...)")
    return found


def compare(old: dict[str, dict[str, Any]], results: Sequence[Result]) -> list[dict[str, Any]]:
    """One row per check of either run: experiment, claim, both outcomes and intervals, and whether they agree."""
    rows = []
    for r in results:
        before = {c["claim"]: c for c in old.get(r.name, {}).get("checks", [])}
        now = {c.claim: jsonable(vars(c)) for c in r.checks}
        for claim in list(now) + [c for c in before if c not in now]:
            a, b = before.get(claim), now.get(claim)
            row = {"experiment": r.name, "claim": claim, "kind": (b or a).get("kind", "evidence"),
                   "old": _side(a), "new": _side(b)}
            if a and b:
                row["verdict_agrees"] = a["outcome"] == b["outcome"]
                row["interval_agrees"] = a["low"] <= b["high"] and b["low"] <= a["high"]
                row["status"] = "agrees" if row["verdict_agrees"] and row["interval_agrees"] else "differs"
            else:
                row["status"] = "new check" if b else "dropped"
            rows.append(row)
    return rows


def _side(c: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if c is None else {k: c.get(k) for k in ("outcome", "effect", "low", "high", "unit")}


def describe(row: dict[str, Any]) -> str:
    """One line of a comparison row, e.g. ``speed: digits, lr 0.3: ... agrees (supported; [21, 26] vs [20, 25])``."""
    a, b = row["old"], row["new"]
    sides = "; ".join(f"{w} {s['outcome']} [{s['low']:.3g}, {s['high']:.3g}]" for w, s in (("was", a), ("now", b)) if s)
    detail = "" if "verdict_agrees" not in row else (
        f" (verdict {'same' if row['verdict_agrees'] else 'differs'}, intervals "
        f"{'overlap' if row['interval_agrees'] else 'do not overlap'})")
    return f"{row['experiment']}: {row['claim']}: {row['status']}{detail}: {sides}"


def write(out: Path | str, rows: list[dict[str, Any]], old: Path | str) -> Path:
    """Write ``<out>/compare.json``: the previous run's folder and the rows."""
    path = Path(out) / "compare.json"
    path.write_text(json.dumps({"previous": str(old), "checks": rows}, indent=1, allow_nan=False) + "\n")
    return path
