"""report.html in a browser: every image loads, its explorers open (the BN graph on the BN module) and so do its
comparisons (BatchNorm vs LayerNorm, train vs eval mode) with their headlines."""

import json

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

from quick_demo import quick_demo  # noqa: E402

from bnlab.experiments import EXPERIMENTS  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out, _ = quick_demo(tmp_path_factory.getbasetemp())
    results = {name: json.loads((out / f"{name}.json").read_text()) for name in EXPERIMENTS}
    return out, (out / "report.html").read_text(encoding="utf-8"), results


def _figures(results):
    return [f for r in results.values() for f in r["figures"]]


def test_report_opens_with_the_explorers_and_no_broken_image(demo, offline):
    out, page, results = demo
    assert page.count('class="tgbn-x"') == 2 and page.count('class="tgbn-cmp"') == 2 and 'class="scroll"' not in page
    browser_page = offline.open(out / "report.html")
    browser_page.wait_for_function("[...document.querySelectorAll('.tgbn-cmp')].every(e => e.dataset.ready === '1')")
    headlines = browser_page.eval_on_selector_all(".tgbn-cmp .headline", "hs => hs.map(h => h.textContent)")
    assert headlines == [
        "BatchNorm: additive, dropout and multiplicative noise in 2 modules; LayerNorm: dropout noise in 1 module",
        "train mode: additive and multiplicative noise in 2 modules; eval mode: none"]
    images = browser_page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
    assert len(images) == len(_figures(results)) and all(images)
    graph, timeline = browser_page.query_selector_all("figure > .tgbn-x")
    focus = graph.evaluate("e => e.explorer.data.options.focus")
    size = "e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; }"
    box, pane = (browser_page.eval_on_selector(sel, size) for sel in (f"#bn_graph #c-{focus}", "#bn_graph .pane"))
    assert max(box[0] / pane[0], box[1] / pane[1]) > 0.8  # opens on the BN module
    assert timeline.query_selector("input.timeline") is not None
    graph.scroll_into_view_if_needed()
    browser_page.screenshot(path=out / "report-explorer.png")
    browser_page.query_selector("#test_time_graph").scroll_into_view_if_needed()
    browser_page.screenshot(path=out / "report-compare.png")
    offline.check()
