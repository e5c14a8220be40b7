"""Module tree, parameters, modes, module paths on graph nodes, Linear and the activations."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

from tinygrad_bn import Tensor, nn
from tinygrad_bn.autograd import toposort


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        return self.bn(self.fc(x)).relu()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.block(x)) * 2.0


def _nodes(t):
    """Every op node behind t (the engine's own walk of the graph)."""
    return [u.node for u in toposort([t]) if u.node is not None]


def test_tree_and_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["block.fc.weight", "block.fc.bias", "block.bn.weight",
                                                     "block.bn.bias", "head.weight", "head.bias"]
    assert all(p.is_parameter and p.requires_grad and isinstance(p, Tensor) for p in net.parameters())
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [type(m).__name__ for m in net.children()] == ["Block", "Linear"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.bn", "head"]
    assert [n for n, _ in net.named_buffers()] == ["block.bn.running_mean", "block.bn.running_var",
                                                  "block.bn.num_batches_tracked"]
    assert list(net.state_dict()) == ["block.fc.weight", "block.fc.bias", "block.bn.weight", "block.bn.bias",
                                      "block.bn.running_mean", "block.bn.running_var",
                                      "block.bn.num_batches_tracked", "head.weight", "head.bias"]
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)  # a shared module's parameters are listed once
    assert len(list(seq.parameters())) == 2 and len(seq) == 3 and seq[2] is shared and list(seq)[1] is seq[1]
    assert "Linear(in_features=4, out_features=3, bias=True)" in repr(net)


def test_train_eval_and_zero_grad():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(Tensor(np.random.default_rng(0).standard_normal((5, 4)), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_module_paths_are_recorded_on_nodes():
    net = Net()
    x = Tensor(np.random.default_rng(1).standard_normal((5, 4)), requires_grad=True, dtype=np.float32)
    out = net(x)
    loss = (out * out).mean()
    by_module = {}
    for n in _nodes(loss):
        by_module.setdefault(n.module, set()).add(n.op)
    assert by_module[None] == {"mul", "mean"}  # the loss, outside any module
    assert by_module[""] == {"mul"}  # Net.forward's own "* 2.0"
    assert by_module["block"] == {"relu"}
    assert by_module["block.fc"] == {"matmul", "transpose", "add"}
    assert {"mean", "var", "sub", "div", "sqrt"} <= by_module["block.bn"]
    assert by_module["head"] == {"matmul", "transpose", "add"}
    # paths are relative to the outermost module called
    assert {n.module for n in _nodes(net.block(x))} == {"", "fc", "bn"}
    seq = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Sigmoid())
    assert {n.module for n in _nodes(seq(x))} == {"0", "1", "2"}


def test_parameter_and_buffers():
    p = nn.Parameter(np.ones(3))
    assert p.requires_grad and p.is_parameter and p.dtype == np.float64
    assert nn.Parameter([1, 2]).dtype == np.float32
    assert not Tensor(1.0).is_parameter
    with pytest.raises(RuntimeError, match="call super"):
        class Bad(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(np.ones(2))
        Bad()
    m = nn.Module()
    with pytest.raises(ValueError, match="must not require grad"):
        m.register_buffer("b", Tensor(np.ones(2), requires_grad=True))
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        m(Tensor(1.0))


@needs_torch
def test_linear_init_shape_and_torch_parity():
    lin = nn.Linear(50, 40, generator=0)
    bound = 1 / np.sqrt(50)
    assert lin.weight.shape == (40, 50) and lin.bias.shape == (40,) and lin.weight.dtype == np.float32
    for t in (lin.weight, lin.bias):
        assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.9 * bound
    assert abs(lin.weight.data.std() - bound / np.sqrt(3)) < 0.01  # uniform on [-b, b]
    np.testing.assert_array_equal(nn.Linear(50, 40, generator=0).weight.data, lin.weight.data)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]

    rng = np.random.default_rng(2)
    lin = nn.Linear(4, 3, dtype=np.float64)
    tl = torch.nn.Linear(4, 3, dtype=torch.float64)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(lin.weight.data))
        tl.bias.copy_(torch.from_numpy(lin.bias.data))
    x = rng.standard_normal((6, 4))
    gy = rng.standard_normal((6, 3))
    (lin(Tensor(x)) * gy).sum().backward()
    (tl(torch.from_numpy(x)) * torch.from_numpy(gy)).sum().backward()
    np.testing.assert_allclose(lin.weight.grad.data, tl.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad.data, tl.bias.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"Linear: expected an input whose last axis has 4 features, got shape \(6, 5"):
        lin(Tensor(np.ones((6, 5))))


@needs_torch
@pytest.mark.parametrize("name", ["ReLU", "Tanh", "Sigmoid"])
def test_activations_match_torch(name):
    x = np.random.default_rng(3).standard_normal((5, 4)) * 3
    out = getattr(nn, name)()(Tensor(x)).data
    np.testing.assert_allclose(out, getattr(torch.nn, name)()(torch.from_numpy(x)).numpy(), rtol=1e-12)


@needs_torch
def test_layer_norm_matches_torch_and_uses_no_batch_statistics():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 3, 5)) * 2 + 1
    ln = nn.LayerNorm((3, 5), dtype=np.float64)
    ln.weight.data[:] = rng.standard_normal((3, 5))
    tl = torch.nn.LayerNorm((3, 5), dtype=torch.float64)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(ln.weight.data))
    xt = Tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    gy = rng.standard_normal(x.shape)
    y = ln(xt)
    (y * gy).sum().backward()
    (tl(tx) * torch.from_numpy(gy)).sum().backward()
    np.testing.assert_allclose(y.data, tl(tx).detach().numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-8, atol=1e-12)
    assert all(0 not in n.attrs["axis"] for n in _nodes(y) if n.op in ("mean", "var"))
    with pytest.raises(ValueError, match=r"layer_norm: input of shape \(6, 3, 5\) does not end with"):
        nn.LayerNorm(4, dtype=np.float64)(Tensor(x))


def test_to_casts_parameters_and_float_buffers_only():
    net = Net().to(np.float64)
    assert all(p.dtype == np.float64 for p in net.parameters())
    bn = net.block.bn
    assert bn.running_var.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    assert net(Tensor(np.ones((3, 4)))).dtype == np.float64
