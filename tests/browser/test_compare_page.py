"""The compare page in a real browser (Playwright on Debian's Chromium, 1400 x 900): the headline, boxes and
noise entries in one graph only marked, zoom and opening synchronised, a row of the differences table
centring both views, no request outside the file. Each check saves a screenshot in the test's folder."""

from __future__ import annotations

import numpy as np
import pytest

import viz
from tinygrad_bn import nn

X = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
Y = np.arange(16) % 3
READY = ".tgbn-cmp[data-ready='1']"


def mlp(norm: type) -> nn.Sequential:
    return nn.Sequential(nn.Linear(8, 16, generator=0), norm(16), nn.ReLU(), nn.Linear(16, 3, generator=1))


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    path = tmp_path_factory.mktemp("compare") / "bn_vs_ln.html"
    c = viz.compare(mlp(nn.BatchNorm1d), mlp(nn.LayerNorm), path, input=X, target=Y, labels=("BatchNorm", "LayerNorm"))
    return c, path


@pytest.fixture
def page(offline, comparison, tmp_path):
    p = offline.open(comparison[1], ready=READY)
    yield p
    p.screenshot(path=str(tmp_path / "compare.png"))


def scale(page, side: int) -> float:
    """Screen pixels per point of view ``side``."""
    return page.evaluate(f"""(() => {{ const ex = document.querySelector('.tgbn-cmp').compare.x[{side}];
        return ex.scaleFor(ex.view[2], ex.view[3]); }})()""")


def drawn(page, side: int) -> list[str]:
    return page.evaluate(f"[...document.querySelectorAll('.tgbn-cmp .view')[{side}].querySelectorAll('g.node')]"
                         ".map(g => g.id.slice(2))")


def test_headline_and_marks(page, comparison):
    c, _ = comparison
    assert page.inner_text(".tgbn-cmp .headline") == "BatchNorm: additive and multiplicative noise in 1 module; " \
                                                     "LayerNorm: none"
    views = page.locator(".tgbn-cmp .view")
    assert views.nth(0).locator(".label").inner_text() == "BatchNorm"
    # BatchNorm's box is open at the first view (its noise is drawn op by op): its frame is marked; LayerNorm's
    # box is collapsed: the box is marked
    assert views.nth(0).locator("g.cluster.only#c-s2").count() == 1
    assert views.nth(1).locator("g.node.only#n-s2").count() == 1
    assert views.nth(1).locator(".pane > svg g.only").count() == 1  # nothing else of LayerNorm's graph is only there
    glow = views.nth(0).locator(".pane > svg g.noise-only").evaluate_all("gs => gs.map(g => g.id.slice(2))")
    assert sorted(glow) == sorted(e.node for e in c.diff.noise_only_a)
    assert views.nth(1).locator("g.noise-only").count() == 0
    # the ratio legend and the table
    assert page.locator(".tgbn-cmp .cmp-ramp .bar-ramp").count() == 1
    assert page.locator(".tgbn-cmp tr.row").count() == min(len(c.diff.differences), 40)


def test_zoom_is_synchronised(page):
    before = scale(page, 0), scale(page, 1)
    assert before[0] == pytest.approx(before[1], rel=0.02)  # the first view: the same screen scale
    box = page.locator(".tgbn-cmp .view").nth(0).locator(".pane").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 400)  # zoom out in BatchNorm's view
    page.wait_for_timeout(200)
    after = scale(page, 0), scale(page, 1)
    assert after[0] < before[0] * 0.8
    assert after[1] == pytest.approx(after[0], rel=0.02)
    box = page.locator(".tgbn-cmp .view").nth(1).locator(".pane").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)  # and zoom in in LayerNorm's: BatchNorm's follows
    page.wait_for_timeout(200)
    assert scale(page, 0) == pytest.approx(scale(page, 1), rel=0.02) and scale(page, 1) > after[1]


def test_opening_a_box_opens_its_match(page):
    assert "s1" in drawn(page, 0) and "s1" in drawn(page, 1)  # 0 · Linear, collapsed in both
    page.locator(".tgbn-cmp .view").nth(0).locator("g.node#n-s1").click()
    page.wait_for_function("[...document.querySelectorAll('.tgbn-cmp .tgbn-x')].every(e => e.dataset.ready === '1') "
                           "&& document.querySelectorAll('.tgbn-cmp g.cluster#c-s1').length === 2")
    assert "s1" not in drawn(page, 0) and "s1" not in drawn(page, 1)


def test_a_row_centres_both_views(page, comparison):
    c, _ = comparison
    k, row = next((k, r) for k, r in enumerate(c.data["rows"]) if r["a"] and r["b"])  # a ratio: in both graphs
    page.locator(".tgbn-cmp tr.row").nth(k).click()
    page.wait_for_timeout(800)
    for side, key in enumerate((row["a"], row["b"])):
        view = page.locator(".tgbn-cmp .view").nth(side)
        pane = view.locator(".pane").bounding_box()
        found = view.locator("g.found").bounding_box()
        assert found is not None, f"side {side}: nothing outlined"
        cx, cy = found["x"] + found["width"] / 2, found["y"] + found["height"] / 2
        assert abs(cx - (pane["x"] + pane["width"] / 2)) < 5 and abs(cy - (pane["y"] + pane["height"] / 2)) < 5
        assert view.locator(".panel").get_attribute("data-node") == key
    assert page.locator(".tgbn-cmp tr.row.on").count() == 1


def test_a_row_only_in_one_graph(page, comparison):
    c, _ = comparison
    k = next(k for k, r in enumerate(c.data["rows"]) if r["what"] == "module" and r["a"] is None)
    page.locator(".tgbn-cmp tr.row").nth(k).click()
    page.wait_for_timeout(500)
    assert page.locator(".tgbn-cmp .view").nth(1).locator(".panel h3").inner_text().startswith("1 · LayerNorm")


def test_wide_graphs_go_one_above_the_other(offline, tmp_path):
    from tinygrad_bn import Tensor

    def wide(scale: float) -> list:
        rng = np.random.default_rng(0)
        return [(Tensor(rng.standard_normal((4, 3)) * scale, name=f"a{k}", requires_grad=True)
                 * Tensor(rng.standard_normal((4, 3)), name=f"b{k}")).sum() for k in range(10)]

    path = viz.compare(wide(1.0), wide(3.0), tmp_path / "wide.html").save(tmp_path / "wide.html")
    page = offline.open(path, ready=READY)
    assert page.evaluate("document.querySelector('.tgbn-cmp').classList.contains('stacked')")
    top, bottom = (page.locator(".tgbn-cmp .view").nth(k).bounding_box() for k in (0, 1))
    assert bottom["y"] >= top["y"] + top["height"] - 1 and abs(bottom["x"] - top["x"]) < 1
    assert scale(page, 0) == pytest.approx(scale(page, 1), rel=0.02)
    rows = page.locator(".tgbn-cmp tr.row td:nth-child(2)").all_inner_texts()
    assert len(rows) == 20 and all(r.startswith("std 3× larger in B than in A") for r in rows)  # a_k and a_k * b_k
    page.screenshot(path=str(tmp_path / "wide.png"))
