"""BatchNorm1d/2d and GhostBatchNorm: PyTorch parity in float64, semantics, errors, graph shape."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

from tinygrad_bn import Tensor, nn, no_grad
from tinygrad_bn.autograd import toposort
from tinygrad_bn.nn import functional as F

RTOL, ATOL = 1e-8, 1e-12
CASES = [((16, 5), nn.BatchNorm1d, "BatchNorm1d"), ((8, 5, 7), nn.BatchNorm1d, "BatchNorm1d"),
         ((6, 5, 3, 4), nn.BatchNorm2d, "BatchNorm2d")]


def _pair(cls, tname, rng, **kw):
    ours = cls(5, dtype=np.float64, **kw)
    theirs = getattr(torch.nn, tname)(5, dtype=torch.float64, **kw)
    if ours.affine:  # non-trivial affine parameters, the same in both
        w, b = rng.standard_normal(5), rng.standard_normal(5)
        ours.weight.data[:], ours.bias.data[:] = w, b
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(w))
            theirs.bias.copy_(torch.from_numpy(b))
    return ours, theirs


def _close(a, b):
    np.testing.assert_allclose(a, b.detach().numpy() if isinstance(b, torch.Tensor) else b, rtol=RTOL, atol=ATOL)


@needs_torch
@pytest.mark.parametrize("shape,cls,tname", CASES)
@pytest.mark.parametrize("kw", [dict(momentum=0.1), dict(momentum=0.3), dict(momentum=None), dict(affine=False),
                                dict(track_running_stats=False), dict(momentum=None, affine=False)],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_matches_torch_over_training_steps_then_eval(shape, cls, tname, kw):
    rng = np.random.default_rng(0)
    ours, theirs = _pair(cls, tname, rng, **kw)
    for _ in range(4):
        offset = 3 * rng.standard_normal(shape[1]).reshape((1, shape[1]) + (1,) * (len(shape) - 2))
        x = rng.standard_normal(shape) * 2.5 + offset
        gy = rng.standard_normal(shape)
        xt = Tensor(x, requires_grad=True)
        y = ours(xt)
        (y * gy).sum().backward()
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        (ty * torch.from_numpy(gy)).sum().backward()
        _close(y.data, ty)
        _close(xt.grad.data, tx.grad)
    if ours.affine:  # gradients accumulated over the steps
        _close(ours.weight.grad.data, theirs.weight.grad)
        _close(ours.bias.grad.data, theirs.bias.grad)
    if ours.track_running_stats:
        _close(ours.running_mean.data, theirs.running_mean)
        _close(ours.running_var.data, theirs.running_var)
        assert ours.num_batches_tracked.dtype == np.int64
        assert ours.num_batches_tracked.shape == ()
        assert int(ours.num_batches_tracked.data) == theirs.num_batches_tracked.item() == 4
    else:
        assert ours.running_mean is None and "running_mean" not in ours.state_dict()
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape) + 3.0
    xt = Tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    gy = rng.standard_normal(shape)
    (ours(xt) * gy).sum().backward()
    (theirs(tx) * torch.from_numpy(gy)).sum().backward()
    _close(ours(Tensor(x)).data, theirs(torch.from_numpy(x)))
    _close(xt.grad.data, tx.grad)
    if ours.track_running_stats:  # eval never moves the running statistics
        _close(ours.running_mean.data, theirs.running_mean)
        assert int(ours.num_batches_tracked.data) == 4


def test_defaults_buffers_and_state_dict():
    bn = nn.BatchNorm2d(3)
    assert (bn.eps, bn.momentum, bn.affine, bn.track_running_stats) == (1e-5, 0.1, True, True)
    np.testing.assert_array_equal(bn.weight.data, np.ones(3))
    np.testing.assert_array_equal(bn.bias.data, np.zeros(3))
    np.testing.assert_array_equal(bn.running_mean.data, np.zeros(3))
    np.testing.assert_array_equal(bn.running_var.data, np.ones(3))
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]
    assert not any(b.requires_grad for b in bn.buffers())


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (1, 4)), (nn.BatchNorm1d, (1, 4, 1)),
                                       (nn.BatchNorm2d, (1, 4, 1, 1))])
def test_one_value_per_channel_in_training_is_torchs_error(cls, shape):
    bn = cls(4)
    with pytest.raises(ValueError, match=r"^batch_norm: Expected more than 1 value per channel when training, got "
                                         r"input size"):
        bn(Tensor(np.ones(shape, np.float32)))
    assert int(bn.num_batches_tracked.data) == 0  # nothing was updated
    bn.eval()
    assert bn(Tensor(np.ones(shape, np.float32))).shape == shape  # running statistics: fine
    off = cls(4, track_running_stats=False).eval()  # batch statistics in eval too
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        off(Tensor(np.ones(shape, np.float32)))


def test_shape_errors_name_the_layer_and_shape():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input \(got 4D input of shape"):
        nn.BatchNorm1d(3)(Tensor(np.ones((2, 3, 4, 5), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 2D"):
        nn.BatchNorm2d(3)(Tensor(np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 3 channels on axis 1, got input of shape \(4, 5\)"):
        nn.BatchNorm1d(3)(Tensor(np.ones((4, 5), np.float32)))
    with pytest.raises(ValueError, match=r"batch_norm: weight has shape \(2,\) but the input of shape \(4, 3\)"):
        F.batch_norm(Tensor(np.ones((4, 3))), None, None, Tensor(np.ones(2)))


def test_functional_batch_norm_is_the_module_computation():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 4, 3))
    bn = nn.BatchNorm1d(4, momentum=0.2, dtype=np.float64)
    bn.weight.data[:] = rng.standard_normal(4)
    rm, rv = Tensor(np.zeros(4)), Tensor(np.ones(4))
    y = F.batch_norm(Tensor(x), rm, rv, bn.weight, bn.bias, training=True, momentum=0.2)
    np.testing.assert_array_equal(y.data, bn(Tensor(x)).data)
    np.testing.assert_array_equal(rm.data, bn.running_mean.data)
    np.testing.assert_array_equal(rv.data, bn.running_var.data)
    bn.eval()
    np.testing.assert_array_equal(F.batch_norm(Tensor(x), rm, rv, bn.weight, bn.bias).data, bn(Tensor(x)).data)


def _ops(t):
    """Every op node behind t (the engine's own walk of the graph)."""
    return [u.node for u in toposort([t]) if u.node is not None]


def test_graph_is_made_of_primitives_with_visible_normalization():
    x = Tensor(np.random.default_rng(2).standard_normal((8, 3)), requires_grad=True, name="x")
    y = nn.BatchNorm1d(3, dtype=np.float64)(x)
    nodes = _ops(y)
    assert {n.op for n in nodes} == {"mean", "var", "sub", "add", "sqrt", "div", "mul"}
    sub = next(n for n in nodes if n.op == "sub")
    assert sub.inputs[0] is x and sub.inputs[1].node.op == "mean" and sub.inputs[1].node.attrs["axis"] == (0,)
    div = next(n for n in nodes if n.op == "div")
    assert div.inputs[0].node is sub and div.inputs[1].node.op == "sqrt"
    add_eps = div.inputs[1].node.inputs[0].node
    assert add_eps.op == "add" and add_eps.inputs[0].node.op == "var"
    assert add_eps.inputs[0].node.attrs["correction"] == 0
    assert all(n.module == "" for n in nodes)
    with no_grad():
        assert nn.BatchNorm1d(3, dtype=np.float64)(x).node is None


def test_running_stats_are_updated_outside_the_graph():
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    y = bn(Tensor(np.random.default_rng(3).standard_normal((8, 3)), requires_grad=True))
    assert all(b.node is None and not b.requires_grad for b in bn.buffers())
    assert all(n.inputs[i] is not bn.running_mean for n in _ops(y) for i in range(len(n.inputs)))


# ----- GhostBatchNorm -----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(12, 3), (12, 3, 5), (12, 3, 2, 2)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_ghost_bn_equals_bn_applied_chunk_by_chunk(shape, momentum):
    rng = np.random.default_rng(4)
    ghost = nn.GhostBatchNorm(3, virtual_batch_size=4, momentum=momentum, dtype=np.float64)
    ref = (nn.BatchNorm1d if len(shape) < 4 else nn.BatchNorm2d)(3, momentum=momentum, dtype=np.float64)
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    for m in (ghost, ref):
        m.weight.data[:], m.bias.data[:] = w, b
    for _ in range(2):
        x = rng.standard_normal(shape) * 2 + 1
        gy = rng.standard_normal(shape)
        xg = Tensor(x, requires_grad=True)
        y = ghost(xg)
        (y * gy).sum().backward()
        chunks = [Tensor(x[i:i + 4], requires_grad=True) for i in range(0, 12, 4)]
        outs = [ref(c) for c in chunks]
        for o, i in zip(outs, range(0, 12, 4)):
            (o * gy[i:i + 4]).sum().backward()
        np.testing.assert_allclose(y.data, np.concatenate([o.data for o in outs]), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(xg.grad.data, np.concatenate([c.grad.data for c in chunks]), rtol=1e-12,
                                   atol=1e-14)
    np.testing.assert_allclose(ghost.weight.grad.data, ref.weight.grad.data, rtol=1e-12)
    np.testing.assert_allclose(ghost.bias.grad.data, ref.bias.grad.data, rtol=1e-12)
    np.testing.assert_allclose(ghost.running_mean.data, ref.running_mean.data, rtol=1e-12)
    np.testing.assert_allclose(ghost.running_var.data, ref.running_var.data, rtol=1e-12)
    assert int(ghost.num_batches_tracked.data) == int(ref.num_batches_tracked.data) == 6
    ghost.eval()
    ref.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ghost(Tensor(x)).data, ref(Tensor(x)).data, rtol=1e-12)


def test_ghost_bn_with_one_virtual_batch_is_bn():
    x = np.random.default_rng(5).standard_normal((8, 3))
    ghost = nn.GhostBatchNorm(3, 8, dtype=np.float64)
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    np.testing.assert_allclose(ghost(Tensor(x)).data, bn(Tensor(x)).data, rtol=1e-12)
    np.testing.assert_allclose(ghost.running_var.data, bn.running_var.data, rtol=1e-12)


def test_ghost_bn_errors():
    ghost = nn.GhostBatchNorm(3, virtual_batch_size=4)
    with pytest.raises(ValueError, match=r"GhostBatchNorm: batch size 10 \(input shape \(10, 3\)\) is not a multiple "
                                         r"of virtual_batch_size 4"):
        ghost(Tensor(np.ones((10, 3), np.float32)))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        nn.GhostBatchNorm(3, virtual_batch_size=1)(Tensor(np.ones((4, 3), np.float32)))
    with pytest.raises(ValueError, match="virtual_batch_size must be positive"):
        nn.GhostBatchNorm(3, 0)
    ghost.eval()  # running statistics: any batch size
    assert ghost(Tensor(np.ones((10, 3), np.float32))).shape == (10, 3)
