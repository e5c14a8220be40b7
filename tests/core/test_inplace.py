"""In-place ops (add_, sub_, mul_, div_, clamp_, fill_, zero_, copy_) follow PyTorch's autograd rules, checked
side by side with torch: values and gradients, the leaf refusal, and the version counter's error."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import tinygrad_bn as tg
from tinygrad_bn import JitError, Tensor

STEPS = {
    "add_": lambda t, o: t.add_(o, alpha=0.5),
    "sub_": lambda t, o: t.sub_(o),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o.abs() + 1 if isinstance(o, Tensor) else o.abs() + 1),
    "clamp_": lambda t, o: t.clamp_(-0.5, 0.7),
    "copy_": lambda t, o: t.copy_(o),
    "fill_": lambda t, o: t.fill_(0.25),
    "zero_": lambda t, o: t.zero_(),
}


@needs_torch
@settings(max_examples=20, deadline=None)
@given(names=st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=4), seed=st.integers(0, 1000))
def test_chains_of_in_place_ops_on_an_intermediate_equal_torch(names, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    ours = [Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)]
    theirs = [torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)]
    outs = []
    for x, w in (ours, theirs):
        y = x * 1.5 + w  # an intermediate, changed in place by each step
        for name in names:
            STEPS[name](y, w)
        (y * y).sum().backward()
        outs.append((y, x.grad, w.grad))
    (y, gx, gw), (ty, tgx, tgw) = outs
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    for g, tg_ in ((gx, tgx), (gw, tgw)):
        np.testing.assert_allclose(0 if g is None else g.data, 0 if tg_ is None else tg_.numpy(), rtol=1e-10,
                                   atol=1e-12)


def test_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    w = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="add_: a leaf Variable that requires grad .* in-place"):
        w.add_(1)
    with tg.no_grad():
        w.mul_(3).sub_(1)  # an optimizer's update
    np.testing.assert_array_equal(w.data, [2.0, 2.0, 2.0])
    assert w.requires_grad and w.node is None and w._version == 2


def test_a_value_saved_for_backward_changed_in_place_raises_at_backward_naming_the_op():
    x = Tensor(np.arange(1.0, 4.0), requires_grad=True)
    h = x * 2
    y = (h * h).sum()
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation: its input 0 .* op 'mul' is at version 1; "
                                           "expected version 0"):
        y.backward()
    if torch is not None:  # torch raises too
        tx = torch.arange(1.0, 4.0, requires_grad=True)
        th = tx * 2
        ty = (th * th).sum()
        th.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            ty.backward()


def test_shapes_and_dtypes_that_do_not_fit_in_place_are_refused():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(tg.ShapeError, match=r"add_: the result has shape \(4, 2, 3\)"):
        x.add_(np.ones((4, 2, 3)))
    i = Tensor(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="mul_: the result type float64 cannot be cast to .* int64"):
        i.mul_(0.5)


def test_a_jit_refuses_an_in_place_op_by_name():
    w = Tensor(np.ones(3), requires_grad=True)

    def loss(x):
        h = x * w
        h.mul_(2)
        return h.sum()
    with pytest.raises(JitError, match=r"in-place op \(mul_\)"):
        tg.jit(loss)(Tensor(np.ones(3)))
