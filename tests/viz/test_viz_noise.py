"""Noise-path analysis: the generic rules find BN's, ghost BN's and dropout's noise; none in LayerNorm or eval BN."""

import numpy as np
import pytest

import viz
from tinygrad_bn import Tensor, nn, ops

EPS = 1e-5


def batch(n=16, c=6, seed=0, name="x"):
    return Tensor(np.random.default_rng(seed).standard_normal((n, c)), requires_grad=True, name=name)


def report(*targets, **kw):
    return viz.noise_paths(viz.capture(list(targets), **kw))


def by_kind(r):
    return sorted((e["kind"], e["op"], r.graph.nodes[e["source_op"]]["op"]) for e in r.entries)


def test_bn_sqrt_div_form():
    x = batch()
    m, v = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
    y = (x - m) / (v + EPS).sqrt()
    r = report(y)
    assert by_kind(r) == [("additive", "sub", "mean"), ("multiplicative", "div", "var")]
    g = r.graph
    mult = next(e for e in r.entries if e["kind"] == "multiplicative")
    assert [g.nodes[n]["op"] for n in mult["nodes"] if g.nodes[n]["kind"] == "op"] == ["add", "sqrt", "div"]
    assert mult["edges"][0][0] == mult["source"] and mult["edges"][-1][1] == mult["node"]
    assert mult["source_kind"] == "batch statistic" and mult["operand"] == 1
    assert (mult.kind, mult.op, mult.node, mult.source) == (mult["kind"], "div", mult["node"], mult["source"])
    assert set(r.batch_statistics) == {e["source"] for e in r.entries}
    # the centred and the normalized tensors are signal, the statistic and sqrt(var + eps) are not
    assert g.graph["outputs"][0] in r.signal and mult["source"] not in r.signal
    assert all(n not in r.signal for n in mult["nodes"] if g.nodes[n]["kind"] == "tensor")


def test_bn_pow_mul_form_and_no_keepdims():
    x = batch()
    y = (x - x.mean(axis=0)) * (x.var(axis=0) + EPS) ** -0.5
    r = report(y)
    assert by_kind(r) == [("additive", "sub", "mean"), ("multiplicative", "mul", "var")]
    mult = next(e for e in r.entries if e["kind"] == "multiplicative")
    assert [r.graph.nodes[n]["op"] for n in mult["nodes"] if n.startswith("op")] == ["add", "pow", "mul"]


def test_hand_written_variance_is_its_own_statistic():
    x = batch()
    c = x - x.mean(axis=0, keepdims=True)
    v = (c * c).mean(axis=0, keepdims=True)
    r = report(c / (v + EPS).sqrt())
    assert by_kind(r) == [("additive", "sub", "mean"), ("multiplicative", "div", "mean")]
    assert len({e["source"] for e in r.entries}) == 2


def test_layer_norm_has_no_batch_noise():
    x = batch()
    y = (x - x.mean(axis=1, keepdims=True)) / (x.var(axis=1, keepdims=True) + EPS).sqrt()
    r = report(y)
    assert r.entries == [] and r.batch_statistics == [] and r.random_sources == []
    ln = nn.LayerNorm(6, dtype=np.float64)
    assert report(ln(batch()).sum()).entries == []


@pytest.mark.parametrize("channels", [6, 16])  # 16: running stats as long as the batch, still constants
def test_eval_mode_batchnorm_has_no_noise(channels):
    model = nn.Sequential(nn.Linear(6, channels), nn.BatchNorm1d(channels), nn.ReLU()).to(np.float64)
    x = Tensor(np.random.default_rng(0).standard_normal((16, 6)), name="x")
    model.train()
    assert len(report(model(x).sum()).entries) == 2
    model.eval()
    r = report(model(x).sum())
    assert r.entries == []


def test_batchnorm1d_module_entries_carry_the_module_path():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8)).to(np.float64)
    r = report(model(Tensor(np.random.default_rng(0).standard_normal((16, 6)))).sum())
    assert by_kind(r) == [("additive", "sub", "mean"), ("multiplicative", "div", "var")]
    assert {e["module"] for e in r.entries} == {"1"}


def test_batchnorm2d_reduces_over_batch_and_space():
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3, 5, 5)), requires_grad=True)
    r = report(nn.BatchNorm2d(3, dtype=np.float64)(x).sum())
    assert by_kind(r) == [("additive", "sub", "mean"), ("multiplicative", "div", "var")]
    assert all(r.graph.nodes[e["source_op"]]["attrs"]["axis"] == (0, 2, 3) for e in r.entries)


def test_batch_axis_survives_reshape_and_transpose():
    x = batch(n=16, c=4)
    ghost = x.reshape(4, 4, 4)  # (k, N/k, C): both leading axes come from the batch
    assert report(ghost - ghost.mean(axis=1, keepdims=True)).entries[0]["kind"] == "additive"
    assert report(ghost - ghost.mean(axis=0, keepdims=True)).entries[0]["kind"] == "additive"
    assert report(ghost - ghost.mean(axis=2, keepdims=True)).entries == []
    xt = x.T  # (C, N): the batch is now axis 1
    assert report(xt - xt.mean(axis=1, keepdims=True)).entries[0]["kind"] == "additive"
    assert report(xt - xt.mean(axis=0, keepdims=True)).entries == []
    r = report(x - x.reshape(16, 2, 2).mean(axis=(1, 2)).reshape(16, 1))
    assert r.entries == []  # a per-example statistic over features


def test_ghost_batchnorm_module():
    gbn = nn.GhostBatchNorm(5, virtual_batch_size=4, dtype=np.float64)
    r = report(gbn(batch(n=16, c=5)).sum())
    assert by_kind(r) == [("additive", "sub", "mean"), ("multiplicative", "div", "var")]
    stat = r.graph.nodes[r.entries[0]["source"]]
    assert stat["shape"][-1] == 5 and np.prod(stat["shape"]) == 4 * 5  # one statistic per virtual batch and channel
    gbn.eval()
    assert report(gbn(batch(n=16, c=5)).sum()).entries == []


def test_dropout_mask_is_a_random_multiplicative_source():
    x = batch()
    keep = 0.8
    mask = ops.bernoulli(p=keep, shape=x.shape, dtype=x.dtype, generator=np.random.default_rng(0))
    r = report(x * mask / keep)
    (e,) = r.entries
    assert (e["kind"], e["op"], e["source_kind"]) == ("multiplicative", "mul", "random")
    assert r.graph.nodes[e["source_op"]]["op"] == "bernoulli" and r.random_sources == [e["source"]]
    (e2,) = report((mask * x).relu()).entries  # operand order does not matter
    assert (e2["op"], e2["operand"], e2["nodes"]) == ("mul", 0, [e2["source"], e2["node"]])


def test_bn_and_dropout_in_one_network():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3, generator=0),
                          nn.Linear(8, 3), nn.BatchNorm1d(3)).to(np.float64)
    x = Tensor(np.random.default_rng(0).standard_normal((16, 6)), name="x")
    r = report(model(x).cross_entropy(np.arange(16) % 3))
    kinds = sorted((e["module"], e["kind"], e["source_kind"]) for e in r.entries)
    assert kinds == [("1", "additive", "batch statistic"), ("1", "multiplicative", "batch statistic"),
                     ("3", "multiplicative", "random"),
                     ("5", "additive", "batch statistic"), ("5", "multiplicative", "batch statistic")]
    text = r.summary()
    assert "5 noise entry point(s)" in text and "random" in text and str(r) == text
    model.eval()
    assert report(model(x).cross_entropy(np.arange(16) % 3)).entries == []


def test_user_graph_with_its_own_statistics():
    """A hand-written normalizer: centre by the batch median-ish max, scale by a learned weight."""
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((32, 4)), name="x")
    w = Tensor(rng.standard_normal((4, 4)), requires_grad=True, name="w")
    h = x @ w
    scale = h.abs().amax(axis=0, keepdims=True)
    y = (h + 0.5 * h.mean(axis=(0, 1))) / scale * w.sum()  # noise from a full mean and a batch max
    r = report(y.sum())
    assert by_kind(r) == [("additive", "add", "mean"), ("multiplicative", "div", "max")]
    roles = {d["name"]: d["role"] for _, d in r.graph.nodes(data=True) if d.get("name")}
    assert roles == {"x": "input", "w": "parameter"}
    # W itself is not signal: summing it is no batch statistic and multiplying by it adds no noise
    assert len(r.batch_statistics) == 3  # mean, max and the final sum over the batch


def test_noise_combined_with_noise_is_no_entry():
    x = batch()
    m, v = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
    assert report(m * v + m).entries == []


def test_given_inputs_override_the_shape_rule():
    x = Tensor(np.random.default_rng(0).standard_normal((5,)), requires_grad=True, name="x")  # 1-D: not found
    assert report(x - x.mean()).entries == []
    r = report(x - x.mean(), inputs=[x])
    assert by_kind(r) == [("additive", "sub", "mean")]


def test_backward_graph_carries_batch_noise():
    x = batch()
    y = (x - x.mean(axis=0, keepdims=True)) / (x.var(axis=0, keepdims=True) + EPS).sqrt()
    (y * y * y).sum().backward(create_graph=True)
    r = report(x.grad)
    assert r.entries and {e["kind"] for e in r.entries} == {"additive", "multiplicative"}


def test_noise_paths_rejects_other_graphs():
    import networkx as nx
    with pytest.raises(TypeError, match="noise_paths"):
        viz.noise_paths(nx.DiGraph())
