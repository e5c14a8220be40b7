"""viz.capture: one node per tensor and per op, data-flow edges, documented attributes, any depth."""

import networkx as nx
import numpy as np
import pytest

import viz
from tinygrad_bn import Tensor, nn, ops


def small():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((8, 3)), name="x")
    w = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="w")
    h = x @ w
    loss = (h * h).mean()
    return x, w, h, loss


def tensor_node(g, name):
    return next(n for n, d in g.nodes(data=True) if d["kind"] == "tensor" and d["name"] == name)


def test_nodes_edges_and_ids():
    x, w, h, loss = small()
    g = viz.capture(loss)
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    ops_ = [n for n, d in g.nodes(data=True) if d["kind"] == "op"]
    tensors = [n for n, d in g.nodes(data=True) if d["kind"] == "tensor"]
    assert [g.nodes[n]["op"] for n in ops_] == ["matmul", "mul", "mean"]
    assert len(tensors) == 5 and all(n.startswith("t") for n in tensors) and all(n.startswith("op") for n in ops_)
    assert g.graph["outputs"] == [tensors[-1]] and g.nodes[tensors[-1]]["role"] == "output"
    assert g.graph["inputs"] == [tensor_node(g, "x")]
    mul = next(n for n in ops_ if g.nodes[n]["op"] == "mul")
    (src,) = g.predecessors(mul)  # h * h: one edge, both positions listed on the op
    assert g.nodes[mul]["inputs"] == [src, src] and g.edges[src, mul]["index"] == 0
    mm = next(n for n in ops_ if g.nodes[n]["op"] == "matmul")
    assert g.nodes[mm]["inputs"] == [tensor_node(g, "x"), tensor_node(g, "w")]
    assert g.edges[tensor_node(g, "w"), mm]["index"] == 1
    assert list(g.successors(mm)) == [g.nodes[mm]["output"]] == [src]
    assert viz.capture(loss).nodes == g.nodes  # ids are stable


def test_tensor_attributes_roles_and_summaries():
    x, w, h, loss = small()
    g = viz.capture(loss)
    d = g.nodes[tensor_node(g, "x")]
    assert (d["role"], d["shape"], d["dtype"], d["is_leaf"], d["requires_grad"]) == ("input", (8, 3), "float64",
                                                                                       True, False)
    assert d["mean"] == pytest.approx(x.data.mean()) and d["std"] == pytest.approx(x.data.std())
    assert (d["min"], d["max"]) == (pytest.approx(x.data.min()), pytest.approx(x.data.max()))
    assert g.nodes[tensor_node(g, "w")]["role"] == "parameter"
    roles = sorted(d["role"] for _, d in g.nodes(data=True) if d["kind"] == "tensor")
    assert roles == ["input", "intermediate", "intermediate", "output", "parameter"]
    assert all(d["grad_norm"] is None for _, d in g.nodes(data=True) if d["kind"] == "tensor")
    loss.backward(retain_grads=True)
    g = viz.capture(loss)
    dw = g.nodes[tensor_node(g, "w")]
    assert dw["grad_norm"] == pytest.approx(np.linalg.norm(w.grad.data))
    assert dw["grad_mean_abs"] == pytest.approx(np.abs(w.grad.data).mean())
    assert g.nodes[g.graph["outputs"][0]]["grad_norm"] == pytest.approx(1.0)


def test_op_attributes_constants_and_random_ops():
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    y = (x.var(axis=0, keepdims=True, correction=1) + 1e-5) ** -0.5
    mask = ops.bernoulli(p=0.5, shape=(4, 3), dtype=np.float64, generator=np.random.default_rng(0))
    g = viz.capture([y, x * mask])
    ops_ = {d["op"]: d for _, d in g.nodes(data=True) if d["kind"] == "op"}
    assert ops_["var"]["attrs"] == {"axis": (0,), "keepdims": True, "correction": 1}
    assert ops_["pow"]["attrs"] == {"exponent": -0.5}
    assert ops_["bernoulli"]["random"] and ops_["bernoulli"]["inputs"] == [] and not ops_["var"]["random"]
    eps = next(d for _, d in g.nodes(data=True) if d["kind"] == "tensor" and d["shape"] == ())
    assert eps["role"] == "constant" and eps["mean"] == pytest.approx(1e-5)
    assert len(g.graph["outputs"]) == 2


def test_modules_on_ops_and_their_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to(np.float64)
    g = viz.capture(model(Tensor(np.ones((5, 3)) * np.arange(5)[:, None])).sum())
    op_modules = {d["module"] for _, d in g.nodes(data=True) if d["kind"] == "op"}
    assert {"0", "1"} <= op_modules
    params = [d for _, d in g.nodes(data=True) if d["kind"] == "tensor" and d["role"] == "parameter"]
    assert len(params) == 4 and all(d["is_parameter"] for d in params)
    assert sorted(d["module"] for d in params) == ["0", "0", "1", "1"]
    (x,) = (d for _, d in g.nodes(data=True) if d.get("role") == "input")
    assert x["module"] is None


def test_deep_graph_is_walked_without_recursion():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    g = viz.capture(y)
    assert g.number_of_nodes() == 1 + 2 * 5000 + 5000  # x, each mul and its output, each constant


def test_backward_graph_can_be_captured():
    x = Tensor(np.random.default_rng(0).standard_normal((6, 2)), requires_grad=True, name="x")
    (x.tanh() * x).sum().backward(create_graph=True)
    g = viz.capture(x.grad)
    assert {"tanh", "mul"} <= {d["op"] for _, d in g.nodes(data=True) if d["kind"] == "op"}
    assert tensor_node(g, "x") in g


def test_bad_targets():
    with pytest.raises(TypeError, match="capture: expected a Tensor"):
        viz.capture([Tensor(1.0), np.ones(2)])
    with pytest.raises(ValueError, match="capture"):
        viz.capture([])
    x, w, h, loss = small()
    with pytest.raises(ValueError, match="not in the graph"):
        viz.capture(loss, inputs=[Tensor(np.ones((2, 2)))])


def test_capture_and_render_leave_the_garbage_collector_as_they_found_it():
    import gc

    x, _, _, loss = small()
    assert gc.isenabled()
    g = viz.capture(loss)
    viz.to_dot(g)
    assert gc.isenabled()
    with pytest.raises(ValueError, match="not in the graph"):
        viz.capture(loss, inputs=[Tensor(np.ones((2, 2)))])
    assert gc.isenabled()
    gc.disable()
    try:
        viz.capture(loss)
        assert not gc.isenabled()
    finally:
        gc.enable()
