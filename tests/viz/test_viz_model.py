"""viz.capture(model, input=..., target=...): every op recorded, the model left exactly as it was."""

import inspect

import numpy as np
import pytest

import viz
from tinygrad_bn import Tensor, nn, ops
from viz.batch_axes import RULES


def _bn_first(seed=0):
    return nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, 4, generator=seed), nn.ReLU(),
                         nn.Dropout(0.5, generator=seed), nn.Linear(4, 3, generator=seed))


def _x(n=16, c=6, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal((n, c)).astype(np.float32), name="x")


def test_bn_first_on_a_raw_input_shows_its_batch_noise():
    g = viz.capture(_bn_first(), input=_x(), target=np.arange(16) % 3)
    report = viz.noise_paths(g)
    got = {(e.op, e.kind, e.module) for e in report.entries if e.source_kind == "batch statistic"}
    assert {("sub", "additive", "0"), ("div", "multiplicative", "0")} <= got
    assert any(e.source_kind == "random" and e.module == "3" for e in report.entries)
    assert not report.warnings
    assert g.nodes[g.graph["inputs"][0]]["role"] == "input"


def test_a_graph_captured_without_record_warns_that_batch_statistics_are_missing():
    model = _bn_first()
    out = model(_x())
    report = viz.noise_paths(viz.capture(out))
    assert not [e for e in report.entries if e.source_kind == "batch statistic"]
    assert len(report.warnings) == 1 and "BatchNorm1d" in report.warnings[0] and "'0'" in report.warnings[0]
    assert "viz.capture(model, input=x)" in report.summary() and "warning:" in report.summary()
    model.eval()
    assert not viz.noise_paths(viz.capture(model(_x()))).warnings  # eval mode: running statistics, no warning


def test_drawing_leaves_the_model_exactly_as_it_was():
    model = _bn_first()
    model(_x(seed=1)).cross_entropy(np.arange(16) % 3).backward()  # mid-training: stats moved, grads set
    model.eval()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    grads = {k: p.grad for k, p in model.named_parameters()}
    rng_state = model[3].generator.bit_generator.state
    for mode in ("train", "eval"):
        g = viz.capture(model, input=_x(), target=np.arange(16) % 3, mode=mode)
        assert any(d.get("grad_norm") for _, d in g.nodes(data=True))
    assert not any(m.training for m in model.modules())
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert int(model[0].num_batches_tracked.data) == 1
    assert all(p.grad is grads[k] for k, p in model.named_parameters())
    assert model[3].generator.bit_generator.state == rng_state
    with pytest.raises(ValueError, match="mode must be"):
        viz.capture(model, input=_x(), mode="test")
    with pytest.raises(TypeError, match="needs input="):
        viz.capture(model)


def test_targets_labels_arrays_and_callables():
    model = nn.Sequential(nn.Linear(6, 3, generator=0))
    x = _x()
    by_labels = viz.capture(model, input=x, target=np.arange(16) % 3)
    by_array = viz.capture(model, input=x, target=np.zeros((16, 3), np.float32))
    by_fn = viz.capture(model, input=x, target=lambda out: (out * out).sum())
    names = [[s["name"] for s in g.graph["scopes"].values()] for g in (by_labels, by_array, by_fn)]
    assert "cross_entropy" in names[0] and "mse" in names[1] and names[2] == ["Sequential", "Linear"]
    assert viz.capture(model, input=x).graph["outputs"]  # no target: the forward graph only


def test_the_log_softmax_shift_is_a_constant_and_scopes_are_graph_attributes():
    logits = Tensor(np.random.default_rng(0).standard_normal((8, 3)), requires_grad=True, name="logits")
    g = viz.capture(logits.cross_entropy(np.arange(8) % 3))
    shift = [d for _, d in g.nodes(data=True) if d.get("name") == "max (constant shift)"]
    assert shift and all(d["role"] == "constant" for d in shift)
    assert [g.nodes[n]["name"] for n in g.graph["inputs"]] == ["logits"]
    scopes = g.graph["scopes"]
    assert {s["path"] for s in scopes.values()} == {"cross_entropy", "cross_entropy.log_softmax"}
    inner = next(k for k, s in scopes.items() if s["name"] == "log_softmax")
    assert scopes[inner]["parent"] == next(k for k, s in scopes.items() if s["name"] == "cross_entropy")
    assert scopes[inner]["input_shapes"] == ((8, 3),) and scopes[inner]["output_shapes"] == ((8, 3),)


def test_every_node_has_a_data_flow_order():
    g = viz.capture(_bn_first(), input=_x())
    orders = [d["order"] for _, d in g.nodes(data=True)]
    assert len(set(orders)) == len(orders) and all(g.nodes[u]["order"] < g.nodes[v]["order"] for u, v in g.edges)


def test_tensor_nodes_carry_value_and_gradient_histograms():
    g = viz.capture(_bn_first(), input=_x(), target=np.arange(16) % 3)
    x = g.nodes[g.graph["inputs"][0]]
    assert len(x["hist"]["counts"]) == viz.stats.BINS and sum(x["hist"]["counts"]) == 16 * 6
    assert len(x["hist"]["edges"]) == len(x["hist"]["counts"]) + 1 and x["grad_hist"] is None
    weight = next(d for _, d in g.nodes(data=True) if d.get("is_parameter"))
    assert sum(weight["grad_hist"]["counts"]) == np.prod(weight["shape"])


def test_every_primitive_has_a_batch_axis_rule():
    primitives = {f.op_name for _, f in inspect.getmembers(ops) if hasattr(f, "op_name")}
    assert {"add", "matmul", "bernoulli", "getitem"} <= primitives
    assert sorted(primitives - set(RULES)) == []


def test_an_op_without_a_rule_warns_and_guesses():
    g = viz.capture(_bn_first(), input=_x())
    relu = next(n for n, d in g.nodes(data=True) if d.get("op") == "relu")
    g.nodes[relu]["op"] = "mystery"
    with pytest.warns(UserWarning, match="no batch-axis rule for op 'mystery'"):
        viz.noise_paths(g)


def test_index_rules_follow_numpy():
    x = np.zeros((5, 4, 3))
    cases = [(np.s_[:, 0], {0}), (np.s_[None, ..., 1], {1}), (np.s_[np.arange(5), np.array([0, 1, 2, 0, 1])], {0}),
             (np.s_[:, [0, 1]], {0}), (np.s_[[0, 1], :, [0, 1]], {0}), (np.s_[x[:, 0, 0] == 0], {0})]
    for index, want in cases:
        out = x[index].shape
        assert RULES["getitem"]({"index": index}, [x.shape], out, [frozenset({0})], [True])[0] == want, index


def test_noise_report_reprs():
    report = viz.noise_paths(viz.capture(_bn_first(), input=_x()))
    assert repr(report) == report.summary() == str(report)
    html = report._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == len(report.entries) + 1 and "additive" in html


def test_render_draws_a_model_from_an_input():
    out = viz.render(_bn_first(), input=_x(), target=np.arange(16) % 3, engine="dot")
    assert "additive" in out.svg and "multiplicative" in out.svg and "no batch noise" not in out.svg


def test_per_sample_norms_add_no_batch_noise_and_bn2d_after_a_conv_does():
    x = Tensor(np.random.default_rng(0).standard_normal((4, 4, 5, 5)).astype(np.float32))
    for norm in (nn.GroupNorm(2, 4), nn.InstanceNorm2d(4)):
        report = viz.noise_paths(viz.capture(nn.Sequential(norm), input=x))
        assert not report.entries and not report.warnings, norm
    conv_bn = nn.Sequential(nn.Conv2d(4, 3, 3, padding=1), nn.BatchNorm2d(3))
    kinds = {(e.op, e.kind) for e in viz.noise_paths(viz.capture(conv_bn, input=x)).entries}
    assert {("sub", "additive"), ("div", "multiplicative")} <= kinds
