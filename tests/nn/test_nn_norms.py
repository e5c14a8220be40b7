"""GroupNorm and InstanceNorm: PyTorch parity in float64 (outputs, gradients, running statistics over steps),
errors, and the noise analysis telling per-sample normalizers from batch normalization without special cases."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import viz
from tinygrad_bn import ShapeError, Tensor, nn


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _parity(ours, theirs, shape, steps=3, eval_steps=1):
    """Train-mode steps then eval-mode steps: outputs, input/parameter gradients and buffers agree."""
    rng = np.random.default_rng(5)
    if getattr(theirs, "weight", None) is not None:
        with torch.no_grad():
            for p, tp in zip(ours.parameters(), theirs.parameters(), strict=True):
                tp.copy_(torch.from_numpy(rng.standard_normal(p.shape)))
                p.data[...] = tp.numpy()
    for step in range(steps + eval_steps):
        if step == steps:
            ours.eval(), theirs.eval()
        x = _rand(shape, step) * 2 + 1
        xt, tx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, ty = ours(xt), theirs(tx)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-9, atol=1e-11)
        w = _rand(y.shape, 10 + step)
        (y * Tensor(w)).sum().backward()
        (ty * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-9, atol=1e-11)
        for p, tp in zip(ours.parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-9, atol=1e-11)
        for (name, b), (_, tb) in zip(ours.named_buffers(), theirs.named_buffers(), strict=True):
            np.testing.assert_allclose(b.data, tb.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


@needs_torch
@pytest.mark.parametrize("groups,affine,shape", [(1, True, (4, 6, 3, 2)), (3, True, (4, 6, 5)),
                                                 (6, False, (3, 6, 2, 2)), (2, True, (2, 6))])
def test_group_norm_matches_torch(groups, affine, shape):
    _parity(nn.GroupNorm(groups, 6, affine=affine, dtype=np.float64),
            torch.nn.GroupNorm(groups, 6, affine=affine, dtype=torch.float64), shape)


@needs_torch
@pytest.mark.parametrize("kw", [dict(), dict(affine=True), dict(track_running_stats=True),
                                dict(affine=True, track_running_stats=True, momentum=0.3),
                                dict(track_running_stats=True, momentum=None)], ids=str)
@pytest.mark.parametrize("dims", [1, 2])
def test_instance_norm_matches_torch(kw, dims):
    cls, shape = ("InstanceNorm1d", (4, 3, 7)) if dims == 1 else ("InstanceNorm2d", (4, 3, 5, 2))
    _parity(getattr(nn, cls)(3, dtype=np.float64, **kw), getattr(torch.nn, cls)(3, dtype=torch.float64, **kw), shape,
            eval_steps=2)


def test_norm_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match="GroupNorm: num_groups=4 must be positive and divide num_channels=6"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ShapeError, match=r"GroupNorm: expected an input \(N, 6, ...\), got shape \(2, 4, 3\)"):
        nn.GroupNorm(3, 6)(Tensor(np.zeros((2, 4, 3), np.float32)))
    with pytest.raises(ValueError, match=r"InstanceNorm2d: expected 4D input \(got 3D input of shape \(2, 3, 4\)\)"):
        nn.InstanceNorm2d(3)(Tensor(np.zeros((2, 3, 4), np.float32)))
    with pytest.raises(ValueError, match=r"instance_norm: Expected more than 1 value per channel .*\(2, 3, 1\)"):
        nn.InstanceNorm1d(3)(Tensor(np.zeros((2, 3, 1), np.float32)))


@pytest.mark.parametrize("layer,noisy", [
    (lambda: nn.BatchNorm2d(4), True), (lambda: nn.GhostBatchNorm(4, 3), True), (lambda: nn.GroupNorm(2, 4), False),
    (lambda: nn.GroupNorm(1, 4), False),
    (lambda: nn.InstanceNorm2d(4, affine=True), False), (lambda: nn.LayerNorm((4, 3, 3)), False),
    (lambda: nn.InstanceNorm2d(4, track_running_stats=True).eval(), False), (lambda: nn.BatchNorm2d(4).eval(), False),
])
def test_noise_analysis_finds_batch_noise_only_in_batch_norm(layer, noisy):
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, groups=2), layer(), nn.ReLU())
    x = Tensor(_rand((9, 2, 3, 3)).astype(np.float32), requires_grad=True)  # batch 9 = 3x3 positions: axes by rule
    report = viz.noise_paths(viz.capture(model(x).sum(), inputs=[x]))
    assert {e.kind for e in report.entries} == ({"additive", "multiplicative"} if noisy else set()), report.summary()
    assert all(e.module == "1" for e in report.entries)
