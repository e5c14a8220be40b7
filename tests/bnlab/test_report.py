"""report.html: every figure inline, every number of every experiment, and it opens in a browser with its explorers."""

import base64
import html
import json
import re

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")

from quick_demo import quick_demo  # noqa: E402

from bnlab import stats  # noqa: E402
from bnlab.experiments import EXPERIMENTS  # noqa: E402
from bnlab.provenance import describe  # noqa: E402
from bnlab.report import fmt, scalars  # noqa: E402

GRAPHS = {"bn_graph", "noise_graph"}  # drawn by viz as SVG only; every matplotlib plot also has a PNG


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out, printed = quick_demo(tmp_path_factory.getbasetemp())
    results = {name: json.loads((out / f"{name}.json").read_text()) for name in EXPERIMENTS}
    return out, (out / "report.html").read_text(encoding="utf-8"), results


def _figures(results):
    return [f for r in results.values() for f in r["figures"]]  # the BN graph is an explorer, not an image


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
    assert {"small-batch", "init-gradients", "smoothness"} <= set(results)
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


def test_a_diverged_run_shows_as_diverged_not_as_an_accuracy(demo):
    _, page, results = demo
    runs = results["speed"]["numbers"]["runs"]["no BN, raw inputs"]["3.0"]
    i = next(i for i, r in enumerate(runs) if r["diverged"])  # no BN on unstandardized inputs at lr 3 diverges
    row = f"<code>runs.no BN, raw inputs.3.0[{i}].{{}}</code></td><td>{{}}</td>"
    assert row.format("diverged", "yes") in page and row.format("final_test_acc", "diverged") in page


def test_whisker_draws_the_interval_and_zero():
    from bnlab.report import whisker

    svg = whisker(stats.exact(0.5, claim="c", unit="u"), width=108)
    assert svg.count("<line") == 2 and "<circle" in svg and 'stroke-dasharray="3,2"' in svg
    # the axis spans zero and the value with 8% padding: zero near the left end, the dot near the right
    assert 'x1="10.9"' in svg and 'cx="97.1"' in svg
    band = whisker(stats.mean_effect([0.01, 0.02, 0.03], claim="c", unit="u", direction="within", margin=0.1,
                                     reason="r"))
    assert "<rect" in band


def test_demo_prints_where_the_report_is(demo, tmp_path_factory):
    out, _, _ = demo
    _, printed = quick_demo(tmp_path_factory.getbasetemp())
    assert f"Report: {(out / 'report.html').resolve()}" in printed
    for name in EXPERIMENTS:
        assert re.search(rf"{name}: (supported|contradicted|not detected|mixed) ", printed)


def test_provenance_is_in_every_json_and_in_the_report(demo):
    _, page, results = demo
    for name, r in results.items():
        p = r["provenance"]
        assert p["python"] and p["numpy"] and p["platform"] and p["cpu_count"] >= 1 and p["jobs"] >= 1, name
        assert p["seeds"] == [0, 1, 2] and p["wall_seconds"] > 0 and p["blas_threads_per_run"] == 1
        assert p["blas"] and all(b["internal_api"] and b["num_threads"] >= 1 for b in p["blas"])
        assert "git_commit" in p and "tinygrad_bn" in p
        assert html.escape(describe(p)) in page
    assert f"numpy {results['noise']['provenance']['numpy']}" in page.split("<table>")[0]  # the page's header


def test_sanity_checks_are_shown_apart_with_holm_p_beside_evidence(demo):
    _, page, results = demo
    for name, r in results.items():
        section = page.split(f'<section id="{name}">')[1].split("</section>")[0]
        evidence, _, rest = section.partition("Sanity checks:")
        for c in r["checks"]:
            where = evidence if c["kind"] == "evidence" else rest
            assert html.escape(c["claim"]) in where, (name, c["claim"])
            if c["kind"] == "evidence" and c["p"] is not None:
                assert c["p_holm"] >= c["p"] and f"<td>{c['p_holm']:.2g}</td>" in where
            if c["margin"] is not None:
                assert c["reason"] and html.escape(c["reason"]) in where
