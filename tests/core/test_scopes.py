"""Record mode and scopes: every op recorded inside ``record()``, function and module scopes on nodes."""

import numpy as np
import pytest

from tinygrad_bn import Tensor, nn, no_grad, record, scope


def _ops(root: Tensor) -> list:
    """Every recorded node behind ``root`` (walks inputs whether or not they require grad)."""
    out, stack, seen = [], [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen or t.node is None:
            continue
        seen.add(id(t))
        out.append(t.node)
        stack.extend(t.node.inputs)
    return out


def test_record_keeps_every_op_but_a_vjp_only_where_a_gradient_is_needed():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    w = Tensor(np.ones(3), requires_grad=True)
    assert (x.mean(axis=0)).node is None
    with record():
        m = x.mean(axis=0)
        y = (x - m) * w
        with no_grad():  # nothing else about grad mode changes
            assert (x * 2).node is None
    assert m.node.op == "mean" and m.node.vjp is None and not m.requires_grad
    assert y.node.vjp is not None and y.requires_grad and y.node.inputs[0].node.op == "sub"
    with record():
        y.sum().backward()  # the backward pass itself records nothing
    assert w.grad.node is None
    np.testing.assert_allclose(w.grad.data, (x.data - x.data.mean(0)).sum(0))
    assert (x.mean(axis=0)).node is None  # the mode ends with the block


def test_record_is_a_decorator_too():
    @record()
    def f(x):
        return x.sum()
    assert f(Tensor(np.ones(3))).node.op == "sum"


def test_function_scopes_nest_and_share_one_stack_per_call():
    x = Tensor(np.ones((2, 3)), requires_grad=True)

    @scope("attention")
    def attention(a):
        with scope("inner") as s:
            b = a * 2
            c = b + 1
        assert s.path == "attention.inner" and s.kind == "function"
        return c, b

    c, b = attention(x)
    assert c.node.scopes is b.node.scopes  # one immutable tuple shared by the ops of a call
    outer, inner = c.node.scopes
    assert (outer.path, outer.kind, outer.name, inner.path) == ("attention", "function", "attention",
                                                                 "attention.inner")
    assert outer.inputs == (x,) and outer.input_shapes == ((2, 3),) and outer.output_shapes == ((2, 3), (2, 3))
    assert c.node.module is None and (x * 1).node.scopes == ()
    again, _ = attention(x)
    assert again.node.scopes[0] is not outer  # each call is its own scope
    with pytest.raises(TypeError, match="non-empty string"):
        scope("")


def test_module_calls_push_a_module_scope_with_class_description_and_shapes():
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Dropout(0.5)).to(np.float64)
    x = Tensor(np.random.default_rng(0).standard_normal((8, 4)), requires_grad=True)
    y = net(x)
    by_path = {}
    for node in _ops(y):
        for s in node.scopes:
            by_path[s.path] = s
    seq, bn = by_path[""], by_path["1"]
    assert (seq.kind, seq.name, seq.input_shapes, seq.output_shapes) == ("module", "Sequential", ((8, 4),), ((8, 3),))
    assert (bn.name, bn.training, bn.input_shapes, bn.output_shapes) == ("BatchNorm1d", True, ((8, 3),), ((8, 3),))
    assert bn.extra_repr == net[1].extra_repr() and by_path["0"].extra_repr.startswith("in_features=4")
    assert by_path["1.batch_norm"].kind == "function" and by_path["2.dropout"].kind == "function"
    mean = next(n for n in _ops(y) if n.op == "mean")
    assert [s.path for s in mean.scopes] == ["", "1", "1.batch_norm"] and mean.module == "1"


def test_library_composites_open_function_scopes():
    logits = Tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
    loss = logits.cross_entropy(np.array([0, 1, 2, 0]))
    assert [s.path for s in loss.node.scopes] == ["cross_entropy"]
    inner = {tuple(s.path for s in n.scopes) for n in _ops(loss)}
    assert ("cross_entropy", "cross_entropy.log_softmax") in inner
    for f, name in [(lambda t: t.softmax(), "softmax"), (lambda t: t.mse(np.zeros((4, 3))), "mse"),
                    (lambda t: nn.functional.layer_norm(t, 3), "layer_norm"),
                    (lambda t: nn.functional.dropout(t, 0.5), "dropout")]:
        assert f(logits).node.scopes[-1].name == name


def test_module_paths_follow_changes_to_the_tree_and_copies():
    """The root caches its path table; adding, replacing or removing a child, or a deep copy, rebuilds it."""
    import copy

    def paths(model: nn.Module) -> set:
        x = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
        return {n.module for n in _ops(model(x)) if n.module}

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 3), nn.ReLU())

        def forward(self, x: Tensor) -> Tensor:
            x = self.body(x)
            return self.head(x) if "head" in self._modules else x

    net = Net()
    assert paths(net) == {"body.0", "body.1"}
    net.head = nn.Linear(3, 2)
    assert paths(net) == {"body.0", "body.1", "head"}
    setattr(net.body, "1", nn.Tanh())
    assert paths(net) == {"body.0", "body.1", "head"}
    inner = net.body[0]
    del net.head
    assert paths(net) == {"body.0", "body.1"}
    twin = copy.deepcopy(net)
    assert paths(twin) == {"body.0", "body.1"} and twin.body[0] is not inner
    scope = _ops(inner(Tensor(np.ones((2, 3), np.float32), requires_grad=True)))[0].scopes[-1]
    assert scope.name == "Linear" and scope.extra_repr == "in_features=3, out_features=3, bias=True"
