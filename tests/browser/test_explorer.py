"""The explorer page in a real browser (Playwright on Debian's Chromium): offline, fitted, collapsing,
inspecting, searching, noise paths, the timeline and the notebook view. Each check saves a screenshot
in the test's temporary folder."""

from __future__ import annotations

import numpy as np
import pytest

import viz
from tinygrad_bn import Tensor, manual_seed, nn, optim


def bn_loss(seed: int = 0, model: nn.Module | None = None) -> tuple[Tensor, nn.Module]:
    manual_seed(seed)
    model = model or nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(3, 2))
    x = Tensor(np.random.default_rng(seed).normal(size=(8, 4)).astype(np.float32), name="x")
    loss = model(x).cross_entropy(np.arange(8) % 2)
    loss.backward(retain_grads=True)
    return loss, model


def nodes(page) -> list[str]:
    return page.eval_on_selector_all(".pane > svg g.node", "gs => gs.map(g => g.id.slice(2))")


def rect(page, selector: str) -> dict[str, float]:
    return page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); "
                                           "return {l: r.left, t: r.top, r: r.right, b: r.bottom}; }")


def layout_done(page) -> None:
    page.wait_for_function("document.querySelector('.tgbn-x').dataset.ready === '1'")


@pytest.fixture(scope="module")
def graph():
    loss, _ = bn_loss()
    return viz.capture(loss)


@pytest.fixture(scope="module")
def opened(graph, offline_module, tmp_path_factory):
    """The explorer of ``graph``, loaded once; each test leaves it as it found it (expanded, nothing lit)."""
    path = tmp_path_factory.mktemp("explore") / "graph.html"
    data = viz.explore(graph, path, depth=None).data  # every node: the checks below look inside the modules
    return offline_module.open(path), data


def test_opens_offline_fitted_without_errors(offline_module, opened, tmp_path):
    page, data = opened
    page.click("button.refit")
    assert len(nodes(page)) == len(data["nodes"])
    pane = rect(page, ".pane")
    assert pane["r"] <= 1400 and pane["b"] <= 900
    for box in page.eval_on_selector_all(".pane > svg g.node, .pane > svg g.cluster",
                                         "gs => gs.map(g => { const r = g.getBoundingClientRect(); "
                                         "return {l: r.left, t: r.top, r: r.right, b: r.bottom}; })"):
        assert box["l"] >= pane["l"] - 0.5 and box["r"] <= pane["r"] + 0.5
        assert box["t"] >= pane["t"] - 0.5 and box["b"] <= pane["b"] + 0.5
    page.screenshot(path=tmp_path / "fitted.png")
    offline_module.check()


def test_clicking_a_module_collapses_it_and_clicking_again_expands_it(opened, tmp_path):
    page, data = opened
    before = nodes(page)
    bn = next(k for k, s in data["scopes"].items() if s["path"] == "1")
    page.click(f"#c-{bn} > text")
    layout_done(page)
    collapsed = nodes(page)
    assert len(collapsed) < len(before) and bn in collapsed
    page.screenshot(path=tmp_path / "collapsed.png")
    page.click(f"#n-{bn}")
    layout_done(page)
    assert sorted(nodes(page)) == sorted(before)
    page.click("button.collapse")  # collapse to depth 0: one node per top-level module
    layout_done(page)
    assert len(nodes(page)) < len(collapsed)
    page.click("button.expand")
    layout_done(page)
    assert sorted(nodes(page)) == sorted(before)


def test_side_panel_shows_a_tensors_grad_norm(opened, graph, tmp_path):
    page, _ = opened
    t = next(n for n, d in graph.nodes(data=True) if d["kind"] == "tensor" and d["role"] == "parameter"
             and d["module"] == "1" and d["name"] == "weight")
    page.click("button.refit")
    page.click(f"#n-{t}")
    shown = page.text_content(".panel [data-field=grad_norm]")
    assert float(shown) == pytest.approx(graph.nodes[t]["grad_norm"], rel=5e-3)
    assert page.text_content(".panel h3").startswith("weight")
    assert page.locator(".panel figure.histogram").count() == (2 if graph.nodes[t].get("hist") else 0)
    page.screenshot(path=tmp_path / "panel.png")


def test_search_centres_a_named_node(offline, graph, tmp_path):
    viz.explore(graph, tmp_path / "deep.html", depth=0)
    page = offline.open(tmp_path / "deep.html")
    x = next(n for n, d in graph.nodes(data=True) if d["name"] == "x")
    sqrt = next(n for n, d in graph.nodes(data=True) if d.get("op") == "sqrt")
    shown = len(nodes(page))
    assert sqrt not in nodes(page)  # inside the collapsed BatchNorm1d
    for query, found in (("x", x), ("sqrt", sqrt)):
        page.fill("input.search", query)
        page.press("input.search", "Enter")
        page.wait_for_function(f"document.querySelector('.panel').dataset.node === '{found}'")
        node, pane = rect(page, f"#n-{found}"), rect(page, ".pane")
        assert (node["l"] + node["r"]) / 2 == pytest.approx((pane["l"] + pane["r"]) / 2, abs=2)
        assert (node["t"] + node["b"]) / 2 == pytest.approx((pane["t"] + pane["b"]) / 2, abs=2)
        page.screenshot(path=tmp_path / f"search-{query}.png")
    assert len(nodes(page)) > shown


def test_clicking_a_noise_entry_highlights_exactly_its_path(opened, graph, tmp_path):
    page, data = opened
    report = viz.noise_paths(graph)
    assert len(report.entries) == len(data["entries"]) == 3
    for k, e in enumerate(report.entries):
        page.click(f"button[data-entry='{k}']")
        lit = page.eval_on_selector_all(".pane > svg g.node.hl", "gs => gs.map(g => g.id.slice(2))")
        assert set(lit) == {*e["nodes"], e["source_op"]}
        assert page.locator(".pane > svg g.node.dim").count() == len(data["nodes"]) - len(lit)
        pane = rect(page, ".pane")
        for n in lit:  # the view moves onto the path
            box = rect(page, f"#n-{n}")
            assert pane["l"] - 0.5 <= box["l"] and box["r"] <= pane["r"] + 0.5
            assert pane["t"] - 0.5 <= box["t"] and box["b"] <= pane["b"] + 0.5
        page.screenshot(path=tmp_path / f"entry{k}.png")
        page.click(f"button[data-entry='{k}']")
        assert page.locator(".pane > svg g.node.hl").count() == 0


def test_toggles_switch_noise_colours_and_heat(opened, graph):
    page, data = opened
    entry = data["entries"][0]["node"]
    fill = f"#n-{entry} ellipse"
    assert page.get_attribute(fill, "fill") == data["colours"][data["entries"][0]["colour"]][1]
    page.click("input.noiseOn")
    assert page.get_attribute(fill, "fill") == "#eeeeee"
    hot = next(iter(data["steps"][0]["heat"]))
    assert page.get_attribute(f"#n-{hot} path", "fill") == data["steps"][0]["heat"][hot]
    page.click("input.heatOn")
    assert page.get_attribute(f"#n-{hot} path", "fill") == data["role_fill"][graph.nodes[hot]["role"]]
    page.click("input.noiseOn")
    page.click("input.heatOn")
    assert page.get_attribute(fill, "fill") == data["colours"][data["entries"][0]["colour"]][1]


def test_timeline_slider_changes_a_nodes_displayed_value(offline, tmp_path):
    loss, model = bn_loss()
    opt = optim.SGD(model.parameters(), lr=0.5)
    timeline = viz.Timeline()
    for step in range(3):
        if step:
            opt.step()
            opt.zero_grad()
            loss, _ = bn_loss(step, model)
        timeline.snapshot(loss, label=f"step {step * 10}")
    ex = viz.explore(timeline, tmp_path / "timeline.html", depth=None)
    page = offline.open(tmp_path / "timeline.html")
    g0, g2 = timeline.graphs[0], timeline.graphs[2]
    w = next(n for n, d in g0.nodes(data=True) if d["module"] == "0" and d["name"] == "weight")
    row = f"#n-{w} text:nth-of-type(2)"
    first = page.text_content(row)
    assert float(first.split()[1]) == pytest.approx(g0.nodes[w]["mean"], rel=5e-3)
    page.click(f"#n-{w}")
    layout = page.get_attribute(f"#n-{w} path", "d")
    page.eval_on_selector("input.timeline", "s => { s.value = 2; s.dispatchEvent(new Event('input')); }")
    last = page.text_content(row)
    assert last != first and float(last.split()[1]) == pytest.approx(g2.nodes[w]["mean"], rel=5e-3)
    assert page.text_content(".panel [data-field=step]") == "step 20"
    assert float(page.text_content(".panel [data-field=grad_norm]")) == pytest.approx(g2.nodes[w]["grad_norm"],
                                                                                        rel=5e-3)
    assert page.get_attribute(f"#n-{w} path", "d") == layout  # the structure holds still
    assert ex.data["steps"][2]["label"] == "step 20"
    page.screenshot(path=tmp_path / "timeline.png")


NOTEBOOK_CELL = """\
import numpy as np
import viz
from tinygrad_bn import Tensor, nn
net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
x = Tensor(np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32), name="x")
loss = net(x).cross_entropy(np.arange(8) % 2)
loss.backward(retain_grads=True)
viz.render(loss)"""


def test_executed_notebook_shows_the_explorer_inline_at_cell_width(offline, tmp_path):
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CELL)])
    ExecutePreprocessor(timeout=180).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    (result,) = nb.cells[0].outputs
    assert {"text/html", "image/svg+xml"} <= set(result["data"])  # the SVG stays for front ends without HTML
    # nbconvert's lab template would load MathJax and require.js from a CDN: not ours, and this test is offline
    exporter = HTMLExporter(mathjax_url="data:text/javascript,", require_js_url="data:text/javascript,")
    (tmp_path / "notebook.html").write_text(exporter.from_notebook_node(nb)[0], encoding="utf-8")
    offline.open(tmp_path / "notebook.html", ready=None)
    page = offline.page
    frame = page.wait_for_selector(".jp-OutputArea-output iframe").content_frame()
    frame.wait_for_selector(".tgbn-x[data-ready='1']", timeout=30_000)
    iframe = rect(page, ".jp-OutputArea-output iframe")
    cell = rect(page, ".jp-OutputArea-output")
    inner = page.eval_on_selector(".jp-OutputArea-output", "e => { const s = getComputedStyle(e); return "
                                  "e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }")
    assert iframe["l"] >= cell["l"] - 0.5 and iframe["r"] <= cell["r"] + 0.5
    assert iframe["r"] - iframe["l"] == pytest.approx(inner, abs=1)  # the output area's whole width
    heights = frame.eval_on_selector_all(".pane > svg g.node text",
                                         "ts => ts.map(t => t.getBoundingClientRect().height)")
    assert sorted(heights)[len(heights) // 2] >= 10  # readable in the cell, as in a page
    page.screenshot(path=tmp_path / "notebook.png")
