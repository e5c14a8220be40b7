"""Conv1d/Conv2d (and the conv2d primitive), pooling and Flatten: PyTorch parity in float64, gradcheck, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import viz
from tinygrad_bn import ShapeError, Tensor, gradcheck, nn, ops
from tinygrad_bn.gradcheck import gradgradcheck
from tinygrad_bn.nn import functional as F
from tinygrad_bn.ops import im2col
from tinygrad_bn.testing import compare_with_torch


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _parity(ours, theirs, x, steps=1):
    """Same outputs, input gradients and parameter gradients as the torch module (float64), copying its weights."""
    with torch.no_grad():
        for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
            assert p.shape == tuple(tp.shape)
            p.data[...] = tp.numpy()
    for step in range(steps):
        xt, tx = Tensor(x + step, requires_grad=True), torch.tensor(x + step, requires_grad=True)
        y, ty = ours(xt), theirs(tx)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        w = _rand(y.shape, 1 + step)
        (y * Tensor(w)).sum().backward()
        (ty * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
        for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-10, atol=1e-11, err_msg=name)


CONV2D = [dict(), dict(stride=2), dict(padding=1), dict(padding=(2, 0), stride=(1, 2)), dict(dilation=2, padding=2),
          dict(groups=2), dict(padding="same"), dict(padding="same", dilation=(1, 2)), dict(padding="valid"),
          dict(bias=False, groups=4)]


@needs_torch
@pytest.mark.parametrize("kw", CONV2D, ids=str)
@pytest.mark.parametrize("kernel", [3, (2, 3)])
def test_conv2d_matches_torch(kw, kernel):
    ours = nn.Conv2d(4, 8, kernel, dtype=np.float64, **kw)
    theirs = torch.nn.Conv2d(4, 8, kernel, dtype=torch.float64, **kw)
    _parity(ours, theirs, _rand((3, 4, 7, 6)), steps=2)


@needs_torch
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(dilation=2, groups=2), dict(padding="same")],
                         ids=str)
def test_conv1d_matches_torch(kw):
    ours = nn.Conv1d(4, 6, 4, dtype=np.float64, **kw)
    theirs = torch.nn.Conv1d(4, 6, 4, dtype=torch.float64, **kw)
    _parity(ours, theirs, _rand((2, 4, 11)))


@needs_torch
def test_default_init_has_torchs_layout_and_bounds():
    c = nn.Conv2d(6, 4, (3, 2), groups=2, generator=0)
    t = torch.nn.Conv2d(6, 4, (3, 2), groups=2)
    assert c.weight.shape == tuple(t.weight.shape) and c.bias.shape == tuple(t.bias.shape)
    bound = 1 / np.sqrt(3 * 3 * 2)  # fan_in = in/groups * kh * kw
    for p in (c.weight, c.bias):
        assert p.dtype == np.float32 and np.abs(p.data).max() <= bound and np.abs(p.data).max() > bound / 2
    assert np.abs(t.weight.detach().numpy()).max() <= bound


@needs_torch
@pytest.mark.parametrize("layer,kw", [
    ("MaxPool2d", dict(kernel_size=2)), ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("MaxPool2d", dict(kernel_size=(2, 3), stride=1, dilation=2)), ("AvgPool2d", dict(kernel_size=2)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("AvgPool2d", dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ("AdaptiveAvgPool2d", dict(output_size=1)), ("AdaptiveAvgPool2d", dict(output_size=(4, 3))),
    ("AdaptiveAvgPool2d", dict(output_size=(None, 2))), ("Flatten", dict()), ("Flatten", dict(start_dim=2)),
], ids=str)
def test_pooling_and_flatten_match_torch(layer, kw):
    x = np.random.default_rng(3).permutation(np.linspace(-3, 3, 2 * 3 * 8 * 6)).reshape(2, 3, 8, 6)  # no ties
    _parity(getattr(nn, layer)(**kw), getattr(torch.nn, layer)(**kw), x)


@needs_torch
def test_functional_forms_match_torch():
    x, w, b = _rand((2, 4, 6, 6)), _rand((6, 2, 3, 3), 1), _rand(6, 2)
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    tf = torch.nn.functional
    pairs = [(F.conv2d(Tensor(x), Tensor(w), Tensor(b), 2, 1, 1, 2), tf.conv2d(tx, tw, tb, 2, 1, 1, 2)),
             (F.max_pool2d(Tensor(x), 3, 2, 1), tf.max_pool2d(tx, 3, 2, 1)),
             (F.avg_pool2d(Tensor(x), 2), tf.avg_pool2d(tx, 2)),
             (F.adaptive_avg_pool2d(Tensor(x), 3), tf.adaptive_avg_pool2d(tx, 3))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-10, atol=1e-12)


@st.composite
def convs(draw):
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hw = tuple(draw(st.integers(max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]), 5)) for i in (0, 1))
    return (draw(st.integers(1, 2)), cin, *hw), (cout, cin // groups, *k), dict(stride=s, padding=p, dilation=d,
                                                                              groups=groups)


@settings(max_examples=15, deadline=None)
@given(case=convs(), seed=st.integers(0, 1000))
def test_conv2d_gradcheck(case, seed):
    xs, ws, kw = case
    x, w, b = (Tensor(_rand(s, seed + i), requires_grad=True) for i, s in enumerate((xs, ws, ws[:1])))
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b])


def test_pooling_gradcheck():
    x = Tensor(np.random.default_rng(0).permutation(np.linspace(-2, 2, 2 * 2 * 5 * 5)).reshape(2, 2, 5, 5),
               requires_grad=True)
    gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1), [x])
    gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False), [x])


def test_conv_and_pool_errors_name_the_layer_and_shapes():
    x = Tensor(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ShapeError, match=r"Conv2d: expected an input with 4 channels .*\(2, 3, 4, 4\)"):
        nn.Conv2d(4, 2, 3)(x)
    with pytest.raises(ShapeError, match=r"Conv2d: kernel \(5, 5\) .* larger than the input \(2, 3, 4, 4\)"):
        nn.Conv2d(3, 2, 5)(x)
    with pytest.raises(ValueError, match="Conv2d: groups=2 must divide in_channels=3"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ShapeError, match=r"conv2d: groups=2 must divide .*input channels \(3"):
        F.conv2d(x, Tensor(np.zeros((4, 1, 1, 1))), groups=2)
    with pytest.raises(ValueError, match="Conv2d: padding='same' needs stride 1"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ShapeError, match=r"Conv1d: expected a 3D input .*\(2, 3, 4, 4\)"):
        nn.Conv1d(3, 2, 3)(x)
    with pytest.raises(ShapeError, match=r"max_pool2d: kernel \(5, 5\) .* larger than the input \(2, 3, 4, 4\)"):
        nn.MaxPool2d(5)(x)
    with pytest.raises(ValueError, match=r"MaxPool2d: padding \(2, 2\) must be at most half the kernel"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(ShapeError, match=r"adaptive_avg_pool2d: output size \(3, 3\) must divide .*\(4, 4\)"):
        nn.AdaptiveAvgPool2d(3)(x)


def test_batchnorm2d_after_conv2d_has_its_noise_entries():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64), nn.BatchNorm2d(3, dtype=np.float64),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 2 * 2, 2, dtype=np.float64))
    x = Tensor(_rand((5, 2, 4, 4)), requires_grad=True)  # recorded (until viz.capture records raw inputs)
    g = viz.capture(model(x).sum(), inputs=[x])
    report = viz.noise_paths(g)
    kinds = {(e.op, e.kind, e.module) for e in report.entries}
    assert kinds == {("sub", "additive", "1"), ("div", "multiplicative", "1")}, report.summary()
    assert all(g.nodes[e.source_op]["module"] == "1" for e in report.entries)


@st.composite
def conv_cases(draw):
    """A (x, weight, attrs) case for the conv2d primitive: symmetric padding, any stride, dilation, groups."""
    xs, ws, kw = draw(convs())
    kw["padding"] = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    hw = tuple(max(n, kw["dilation"][i] * (ws[2 + i] - 1) + 1) for i, n in enumerate(xs[2:]))
    return (*xs[:2], *hw), ws, kw


@needs_torch
@settings(max_examples=20, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 1000))
def test_conv2d_primitive_gradcheck_and_torch_parity(case, seed):
    xs, ws, kw = case
    x, w = _rand(xs, seed), _rand(ws, seed + 1)
    gradcheck(lambda a, b: ops.conv2d(a, b, **kw), [Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)])
    compare_with_torch(lambda a, b: ops.conv2d(a, b, **kw),
                       lambda a, b: torch.nn.functional.conv2d(a, b, None, kw["stride"], kw["padding"],
                                                               kw["dilation"], kw["groups"]), [x, w], rtol=1e-10,
                       atol=1e-12)


@needs_torch
@pytest.mark.parametrize("per_batch", [1, 2, 5])
@pytest.mark.parametrize("kw", [dict(padding=(1, 1)), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)],
                         ids=str)
def test_conv2d_primitive_in_batches_of_samples_matches_torch(monkeypatch, per_batch, kw):
    """The forward and vjp work a few samples at a time (uneven last batch included): same numbers as torch."""
    x, w = _rand((5, 4, 6, 5)), _rand((6, 4 // kw.get("groups", 1), 3, 2), 1)
    oh, ow = im2col.windows("conv2d", x.shape, (3, 2), kw.get("dilation", (1, 1)), kw["padding"],
                          kw.get("stride", (1, 1)))
    sample = 4 * 3 * 2 * oh * ow * 8  # bytes of one sample's columns
    monkeypatch.setattr(im2col, "BATCH_BYTES", per_batch * sample)
    assert len(im2col.batches(5, sample)) == -(-5 // per_batch)
    compare_with_torch(lambda a, b: ops.conv2d(a, b, **kw),
                       lambda a, b: torch.nn.functional.conv2d(a, b, None, kw.get("stride", 1), kw["padding"],
                                                               kw.get("dilation", 1), kw.get("groups", 1)), [x, w],
                       rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)], ids=str)
def test_conv2d_primitive_second_order(kw):
    x, w = Tensor(_rand((2, 2, 5, 4)), requires_grad=True), Tensor(_rand((2, 2 // kw.get("groups", 1), 2, 2), 1),
                                                                   requires_grad=True)
    gradgradcheck(lambda a, b: ops.conv2d(a, b, **kw), [x, w])


@needs_torch
def test_conv_and_pool_of_an_empty_batch_match_torch():
    x, w = np.zeros((0, 3, 5, 5)), _rand((4, 3, 3, 3))
    compare_with_torch(lambda a, b: F.conv2d(a, b, padding=1),
                       lambda a, b: torch.nn.functional.conv2d(a, b, padding=1), [x, w])
    compare_with_torch(lambda a: F.max_pool2d(a, 2), lambda a: torch.nn.functional.max_pool2d(a, 2), [x])


def test_conv2d_primitive_names_shapes_that_do_not_fit():
    with pytest.raises(ShapeError, match=r"conv2d: input \(1, 3, 4, 4\) .* weight \(2, 2, 3, 3\) .* groups=1"):
        ops.conv2d(Tensor(np.zeros((1, 3, 4, 4))), Tensor(np.zeros((2, 2, 3, 3))))
    with pytest.raises(ShapeError, match=r"conv2d: kernel \(5, 5\) .* larger than the input \(4, 4\)"):
        ops.conv2d(Tensor(np.zeros((1, 3, 4, 4))), Tensor(np.zeros((2, 3, 5, 5))))


def test_conv2d_batch_axis_rule():
    """The batch axis of the input is the output's; the weight has none; contracting a batch axis is a statistic."""
    from viz.batch_axes import RULES
    shapes, out = [(4, 3, 5, 5), (2, 3, 3, 3)], (4, 2, 3, 3)
    assert RULES["conv2d"]({}, shapes, out, [frozenset({0}), frozenset()], [True, False]) == ({0}, False)
    assert RULES["conv2d"]({}, shapes, out, [frozenset({1}), frozenset()], [True, False])[1]
    assert RULES["conv2d"]({}, shapes, out, [frozenset(), frozenset({0})], [False, True]) == ({1}, False)


@st.composite
def pool_cases(draw):
    """A (shape, attrs) case for the max_pool2d primitive: padding at most half the kernel, as PyTorch allows,
    and no window entirely in the padding (its maximum would be -inf)."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = tuple(draw(st.integers(0, k[i] // 2)) for i in (0, 1))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    hw = tuple(draw(st.integers(d[i] * (k[i] - 1) + 1, 6)) for i in (0, 1))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *hw), dict(kernel_size=k, stride=s, padding=p, dilation=d)


@needs_torch
@settings(max_examples=20, deadline=None)
@given(case=pool_cases(), seed=st.integers(0, 1000))
def test_max_pool2d_primitive_gradcheck_and_torch_parity(case, seed):
    shape, kw = case
    x = np.random.default_rng(seed).permutation(np.linspace(-2, 2, int(np.prod(shape)))).reshape(shape)  # no ties
    gradcheck(lambda t: ops.max_pool2d(t, **kw), [Tensor(x, requires_grad=True)])
    compare_with_torch(lambda t: ops.max_pool2d(t, **kw), lambda t: torch.nn.functional.max_pool2d(
        t, kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"]), [x], rtol=1e-12, atol=0)


def test_max_pool2d_primitive_second_order_and_ties():
    x = Tensor(np.random.default_rng(0).permutation(np.linspace(-2, 2, 2 * 5 * 4)).reshape(1, 2, 5, 4),
               requires_grad=True)
    gradgradcheck(lambda t: ops.max_pool2d(t, kernel_size=(3, 2), stride=(2, 1), padding=(1, 1)) ** 2, [x])
    tied = Tensor(np.array([[[[1.0, 1.0], [0.0, 1.0]]]]), requires_grad=True)
    ops.max_pool2d(tied, kernel_size=(2, 2), stride=(2, 2)).sum().backward()
    np.testing.assert_allclose(tied.grad.data, [[[[1 / 3, 1 / 3], [0, 1 / 3]]]])  # ties share, like ops.max


@st.composite
def ceil_cases(draw):
    """Pooling attributes with ceil_mode, where the last window often hangs over the padded input."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    hw = tuple(draw(st.integers(max(1, k[i] - 2 * p[i]), 7)) for i in (0, 1))
    return (2, 2, *hw), dict(kernel_size=k, stride=s, padding=p)


@needs_torch
@settings(max_examples=25, deadline=None)
@given(case=ceil_cases(), count_include_pad=st.booleans(), seed=st.integers(0, 1000))
def test_ceil_mode_pooling_matches_torch(case, count_include_pad, seed):
    shape, kw = case
    x = _rand(shape, seed)
    compare_with_torch(lambda t: F.max_pool2d(t, **kw, ceil_mode=True),
                       lambda t: torch.nn.functional.max_pool2d(t, **kw, ceil_mode=True), [x])
    compare_with_torch(lambda t: F.avg_pool2d(t, **kw, ceil_mode=True, count_include_pad=count_include_pad),
                       lambda t: torch.nn.functional.avg_pool2d(t, **kw, ceil_mode=True,
                                                                count_include_pad=count_include_pad), [x])
    gradcheck(lambda t: F.avg_pool2d(t, **kw, ceil_mode=True, count_include_pad=count_include_pad),
              [Tensor(x, requires_grad=True)])


@needs_torch
def test_pooling_layers_take_pytorchs_positional_arguments():
    x = _rand((1, 2, 5, 5))
    ours = [nn.MaxPool2d(2, 2, 0, 1, False, True), nn.AvgPool2d(3, 2, 1, True, False)]
    theirs = [torch.nn.MaxPool2d(2, 2, 0, 1, False, True), torch.nn.AvgPool2d(3, 2, 1, True, False)]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a(Tensor(x)).data, b(torch.from_numpy(x)).numpy(), rtol=1e-12)
    assert "ceil_mode=True" in repr(ours[0])
    with pytest.raises(NotImplementedError, match="MaxPool2d: return_indices=True is not supported"):
        nn.MaxPool2d(2, return_indices=True)
