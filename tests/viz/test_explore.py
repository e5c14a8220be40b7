"""viz.explore without a browser: what the page is handed, what the file holds, and the errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import viz
from bnlab.cli import main
from tinygrad_bn import Tensor, nn
from viz.explore import STATIC


def _loss(seed: int = 0, name: str = "x") -> Tensor:
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(3, 2))
    x = Tensor(np.random.default_rng(seed).normal(size=(8, 4)).astype(np.float32), name=name)
    loss = net(x).cross_entropy(np.arange(8) % 2)
    loss.backward(retain_grads=True)
    return loss


def _data(page: str) -> dict:
    blob = re.search(r'<script type="application/json" id="tgbn-\w+-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(blob)


def test_page_is_self_contained_and_carries_the_vendored_library(tmp_path):
    path = tmp_path / "g.html"
    ex = viz.explore(_loss(), path)
    page = path.read_text(encoding="utf-8")
    assert page == ex.page()
    assert (STATIC / "graphviz.js").read_text(encoding="utf-8") in page
    assert (STATIC / "explorer.js").read_text(encoding="utf-8") in page
    assert not re.search(r'\b(src|href)\s*=\s*["\']?(https?:|//)', page)  # nothing is fetched
    assert _data(page) == json.loads(json.dumps(ex.data))
    version = (STATIC / "graphviz.VERSION").read_text()
    assert version.startswith("@hpcc-js/wasm-graphviz ") and (STATIC / "graphviz.LICENSE").stat().st_size > 1000


def test_data_holds_statistics_noise_paths_and_scopes():
    loss = _loss()
    g = viz.capture(loss)
    d = viz.explore(g).data
    assert set(d["nodes"]) == set(g.nodes) and len(d["edges"]) == g.number_of_edges()
    report = viz.noise_paths(g)
    assert [(e["kind"], e["op"]) for e in d["entries"]] == [(e.kind, e.op) for e in report.entries]
    assert [set(e["path"]) for e in d["entries"]] == [{*e.nodes, e.source_op} for e in report.entries]
    for e in d["entries"]:  # in data-flow order: each op before the tensor it makes
        assert [g.nodes[n]["order"] for n in e["path"]] == sorted(g.nodes[n]["order"] for n in e["path"])
    assert {s["path"] for s in d["scopes"].values()} >= {"0", "1", "2", "3", "4"}
    (step,) = d["steps"]
    t = next(n for n, a in g.nodes(data=True) if a["kind"] == "tensor" and a["grad_norm"])
    assert step["values"][t] == pytest.approx([g.nodes[t][k] for k in ("mean", "std", "min", "max", "grad_norm",
                                                                        "grad_mean_abs")], rel=1e-5)
    assert step["heat"][t].startswith("#")


def test_names_cannot_break_out_of_the_page():
    evil = "</script><script>alert(1)</script>&"
    page = viz.explore(_loss(name=evil)).page()
    assert evil not in page
    assert evil in json.dumps(_data(page))


def test_timeline_keeps_one_structure_and_per_step_values():
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    timeline = viz.Timeline()
    for step in range(2):
        x = Tensor(np.random.default_rng(step).normal(size=(8, 4)).astype(np.float32))
        loss = net(x).cross_entropy(np.arange(8) % 2)
        loss.backward(retain_grads=True)
        timeline.snapshot(loss)
        for p in net.parameters():
            p.data -= 0.5 * p.grad.data
            p.grad = None
    d = viz.explore(timeline).data
    assert [s["label"] for s in d["steps"]] == ["step 0", "step 1"]
    w = next(n for n, a in timeline.graphs[0].nodes(data=True) if a["name"] == "weight" and a["module"] == "0")
    assert d["steps"][0]["values"][w] != d["steps"][1]["values"][w]
    assert viz.explore(timeline.graphs, labels=["a", "b"]).data["steps"][1]["label"] == "b"
    other = nn.Sequential(nn.Linear(4, 2))(Tensor(np.ones((8, 4), np.float32))).sum()
    with pytest.raises(ValueError, match="step 2's graph .* differs in structure"):
        timeline.snapshot(other)
    with pytest.raises(ValueError, match="differs in structure"):
        viz.explore([timeline.graphs[0], viz.capture(other)])


def test_bad_arguments_say_what_is_wrong():
    loss = _loss()
    with pytest.raises(ValueError, match="focus 'nope' is neither a scope path"):
        viz.explore(loss, focus="nope")
    with pytest.raises(ValueError, match="depth must be .auto., None or an integer >= 0"):
        viz.explore(loss, depth=-1)
    with pytest.raises(ValueError, match="no snapshots"):
        viz.explore(viz.Timeline())
    with pytest.raises(ValueError, match="3 labels for 1 steps"):
        viz.explore(loss, labels=["a", "b", "c"])
    assert viz.explore(loss, focus="1").data["options"]["focus"].startswith("s")
    assert '"max_nodes":null' in viz.explore(loss, max_nodes=None).page()


def test_cli_writes_the_explorer_for_an_html_output(tmp_path, capsys):
    out = tmp_path / "graph.html"
    assert main(["render", "-o", str(out)]) == 0
    assert "interactive explorer" in capsys.readouterr().out
    d = _data(out.read_text(encoding="utf-8"))
    assert len(d["entries"]) == 3 and any(n["kind"] == "op" for n in d["nodes"].values())


def test_a_200_node_page_stays_under_3_mb():
    from bench.render_graphs import bn_mlp

    ex = viz.explore(bn_mlp(6))
    assert 190 <= len(ex.data["nodes"]) <= 260
    assert len(ex.page().encode("utf-8")) < 3 * 2**20


def test_a_model_with_input_and_target_is_explored_and_snapshotted():
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    y = np.arange(8) % 2
    d = viz.explore(net, input=x, target=y).data
    assert len(d["entries"]) == 2 and any(v[4] for v in d["steps"][0]["values"].values())
    timeline = viz.Timeline(net)
    for _ in range(2):
        timeline.snapshot(input=x, target=y)
        for p in net.parameters():
            p.data -= 0.5
    steps = viz.explore(timeline).data["steps"]
    w = next(n for n, a in timeline.graphs[0].nodes(data=True) if a["name"] == "weight" and a["module"] == "0")
    assert steps[1]["values"][w][0] == pytest.approx(steps[0]["values"][w][0] - 0.5, abs=1e-5)
    with pytest.raises(TypeError, match="pass the loss tensor, or input="):
        viz.Timeline().snapshot(input=x)
    with pytest.raises(TypeError, match="input= and target= are for a model"):
        viz.explore(_loss(), input=x)
