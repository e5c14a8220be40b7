"""A module side by side with its torch twin: torch's weights copied in through ``load_state_dict``, then the
outputs and the gradients of every input and parameter compared in float64."""

import numpy as np
import torch

from tinygrad_bn import Tensor

TOL = {"rtol": 1e-6, "atol": 1e-9}


def load_torch_weights(ours, theirs):
    """Copy ``theirs``' state_dict (torch) into ``ours`` (the keys must be equal) and return ``ours``."""
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(dict(ours.named_parameters())) == [k for k, _ in theirs.named_parameters()]
    ours.load_state_dict(state)
    return ours


def _flat(out):
    if isinstance(out, tuple | list):
        return [t for o in out for t in _flat(o)]
    return [out]


def assert_same(ours, theirs, inputs, run_ours, run_theirs, seed=0):
    """Run ``run_ours(ours, *tensors)`` and ``run_theirs(theirs, *tensors)`` on the float64 arrays ``inputs``;
    compare every output (nested tuples; None must match None; ``ours``/``theirs`` may be None for a function),
    then back-propagate one random weighting of the outputs through both and compare the gradients of the
    inputs and of every parameter, by name.

    Returns:
        The largest absolute difference seen (outputs and gradients).
    """
    ti = [torch.tensor(a, requires_grad=True) for a in inputs]
    oi = [Tensor(a, requires_grad=True) for a in inputs]
    to, oo = _flat(run_theirs(theirs, *ti)), _flat(run_ours(ours, *oi))
    assert len(to) == len(oo)
    worst, rng = 0.0, np.random.default_rng(seed)
    t_loss, o_loss = 0, 0
    for t, o in zip(to, oo):
        assert (t is None) == (o is None)
        if t is None:
            continue
        want = t.detach().numpy()
        assert o.shape == want.shape and o.dtype == want.dtype
        np.testing.assert_allclose(o.numpy(), want, **TOL)
        worst = max(worst, float(np.max(np.abs(o.numpy() - want), initial=0)))
        w = rng.standard_normal(want.shape)
        t_loss, o_loss = t_loss + (t * torch.from_numpy(w)).sum(), o_loss + (o * w).sum()
    t_loss.backward()
    o_loss.backward()
    pairs = [(o.grad, t.grad, f"input {i}") for i, (o, t) in enumerate(zip(oi, ti))]
    if ours is not None:
        theirs_params = dict(theirs.named_parameters())
        pairs += [(p.grad, theirs_params[k].grad, k) for k, p in ours.named_parameters()]
    for got, want, what in pairs:
        if want is None:
            assert got is None or not np.any(got.numpy()), what
            continue
        np.testing.assert_allclose(got.numpy(), want.numpy(), **TOL, err_msg=what)
        worst = max(worst, float(np.max(np.abs(got.numpy() - want.numpy()), initial=0)))
    return worst
