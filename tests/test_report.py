"""report.html: every figure inline, every number of every experiment, and it renders in headless Chromium."""

import base64
import html
import json
import re
import shutil
import subprocess

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

from test_experiments import quick_demo  # noqa: E402

from bnlab import stats  # noqa: E402
from bnlab.experiments import EXPERIMENTS  # noqa: E402
from bnlab.report import fmt, scalars  # noqa: E402

GRAPHS = {"bn_graph", "noise_graph"}  # drawn by viz as SVG only; every matplotlib plot also has a PNG


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out, printed = quick_demo(tmp_path_factory.getbasetemp())
    results = {name: json.loads((out / f"{name}.json").read_text()) for name in EXPERIMENTS}
    return out, (out / "report.html").read_text(encoding="utf-8"), results


def _figures(results):
    return [f for r in results.values() for f in r["figures"]] + [{"stem": "bn_graph"}]


def test_every_figure_is_inline(demo):
    out, page, results = demo
    figures = _figures(results)
    assert len(figures) >= 12
    for f in figures:
        svg = out / f"{f['stem']}.svg"
        assert svg.read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
        assert base64.b64encode(svg.read_bytes()).decode() in page, f["stem"]
        assert f'id="{f["stem"]}"' in page
        if f["stem"] not in GRAPHS:
            assert (out / f"{f['stem']}.png").read_bytes().startswith(b"\x89PNG")
    assert page.count("<img ") == len(figures)
    assert 'src="data:image/svg+xml;base64,' in page and 'src="http' not in page and 'src="/' not in page


def test_every_caption_verdict_and_number_is_in_the_report(demo):
    _, page, results = demo
    for name, r in results.items():
        assert f'<section id="{name}">' in page
        assert html.escape(r["finding"]) in page and html.escape(r["rule"]) in page
        assert f'<span class="verdict {r["verdict"].replace(" ", "-")}">{r["verdict"]}</span>' in page
        for f in r["figures"]:
            assert html.escape(f["caption"]) in page
        for c in r["checks"]:  # each check: its claim, a dot-and-whisker of its interval, its outcome
            check = stats.Check(**c)
            assert html.escape(check.claim) in page
            assert f'aria-label="{html.escape(check.short())}"' in page
        rows = list(scalars(r["numbers"]))
        assert len(rows) >= 10
        for key, value in rows:
            assert f"<code>{html.escape(key)}</code></td><td>{html.escape(fmt(value))}</td>" in page, key


def test_whisker_draws_the_interval_and_zero():
    from bnlab.report import whisker

    svg = whisker(stats.exact(0.5, claim="c", unit="u"), width=108)
    assert svg.count("<line") == 2 and "<circle" in svg and 'stroke-dasharray="3,2"' in svg
    # the axis spans zero and the value with 8% padding: zero near the left end, the dot near the right
    assert 'x1="10.9"' in svg and 'cx="97.1"' in svg
    band = whisker(stats.mean_effect([0.01, 0.02, 0.03], claim="c", unit="u", direction="within", margin=0.1))
    assert "<rect" in band


def test_demo_prints_where_the_report_is(demo, tmp_path_factory):
    out, _, _ = demo
    _, printed = quick_demo(tmp_path_factory.getbasetemp())
    assert f"Report: {(out / 'report.html').resolve()}" in printed
    for name in EXPERIMENTS:
        assert re.search(rf"{name}: (supported|contradicted|not detected|mixed) ", printed)


def test_report_renders_in_headless_chromium(demo, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (CI installs Debian's chromium)")
    out, page, results = demo
    probe = (
        "<script>window.addEventListener('load', () => { const imgs = [...document.images]; "
        "document.title = 'images=' + imgs.length + ' broken=' + "
        "imgs.filter(i => !i.complete || i.naturalWidth === 0).length; });</script>"
    )
    copy = tmp_path / "report.html"
    copy.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=180
    ).stdout
    found = re.search(r"<title>images=(\d+) broken=(\d+)</title>", dom)
    assert found, dom[:500]
    assert int(found.group(1)) == len(_figures(results)) and int(found.group(2)) == 0
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1200,2000", copy.as_uri()],
        capture_output=True,
        timeout=180,
    )
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
