"""Module hooks side by side with PyTorch: order, arguments, replacement of input/output/grad_input, removal;
hooks inside the jit (run at replay, or refused naming the module)."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

from tinygrad_bn import Tensor, jit, manual_seed, nn, no_grad
from tinygrad_bn.tape import JitError


def pair(seed=0):
    """The same Linear-BN-ReLU-Linear network in tinygrad_bn (float64) and torch, and one batch."""
    rng = np.random.default_rng(seed)
    ours = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2)).to(np.float64)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(),
                                 torch.nn.Linear(3, 2)).double()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        p.data[...] = rng.normal(size=p.shape)
        q.data.copy_(torch.from_numpy(p.data.copy()))
    x = rng.normal(size=(5, 4))
    return ours, theirs, x


def run(model, x, lib):
    if lib == "torch":
        xt = torch.tensor(x, requires_grad=True)
        model(xt).square().sum().backward()
        return xt
    xt = Tensor(x, requires_grad=True)
    (model(xt) ** 2).sum().backward()
    return xt


def arr(v):
    if v is None:
        return None
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v.data)


def install(model, log, lib):
    """Every kind of hook on every module, logging (kind, module index, the arrays it was given)."""
    names = {id(m): n or "root" for n, m in model.named_modules()}
    handles = []
    for m in model.modules():
        n = names[id(m)]
        handles += [
            m.register_forward_pre_hook(lambda mod, a, n=n: log.append(("pre", n, [arr(v) for v in a]))),
            m.register_forward_hook(lambda mod, a, out, n=n: log.append(("fwd", n, [arr(v) for v in a] + [arr(out)]))),
            m.register_full_backward_pre_hook(lambda mod, go, n=n: log.append(("bpre", n, [arr(v) for v in go]))),
            m.register_full_backward_hook(
                lambda mod, gi, go, n=n: log.append(("bwd", n, [arr(v) for v in gi] + [arr(v) for v in go]))),
        ]
    return handles


def same_log(a, b):
    assert [(k, n) for k, n, _ in a] == [(k, n) for k, n, _ in b]
    for (k, n, xs), (_, _, ys) in zip(a, b):
        assert len(xs) == len(ys), (k, n)
        for u, v in zip(xs, ys):
            assert (u is None) == (v is None), (k, n)
            if u is not None:
                np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12, err_msg=f"{k} {n}")


@needs_torch
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_every_hook_in_torchs_order_with_torchs_tensors(input_grad):
    ours, theirs, x = pair()
    logs = {"ours": [], "torch": []}
    install(ours, logs["ours"], "ours")
    install(theirs, logs["torch"], "torch")
    if input_grad:
        run(ours, x, "ours")
        run(theirs, x, "torch")
    else:
        (ours(Tensor(x)) ** 2).sum().backward()
        theirs(torch.tensor(x)).square().sum().backward()
    same_log(logs["ours"], logs["torch"])
    kinds = [k for k, _, _ in logs["ours"]]
    assert kinds.count("bwd") == 5 and kinds.index("bpre") < kinds.index("bwd")
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
def test_replacements_of_input_output_and_grad_input_as_torch():
    ours, theirs, x = pair(1)
    results = {}
    for lib, model in (("ours", ours), ("torch", theirs)):
        model[0].register_forward_pre_hook(lambda m, a: a[0] * 2)  # one value: made a 1-tuple
        model[1].register_forward_hook(lambda m, a, out: out + 1)
        model[3].register_full_backward_hook(lambda m, gi, go: (gi[0] * 3,))
        model[1].register_full_backward_pre_hook(lambda m, go: (go[0] * 0.5,))
        xt = run(model, x, lib)
        out = model(torch.tensor(x) if lib == "torch" else Tensor(x))
        results[lib] = [arr(out), arr(xt.grad)] + [arr(p.grad) for p in model.parameters()]
    for a, b in zip(results["ours"], results["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@needs_torch
def test_with_kwargs_prepend_and_always_call_as_torch():
    for lib in ("ours", "torch"):
        lin = nn.Linear(2, 2) if lib == "ours" else torch.nn.Linear(2, 2)
        calls = []
        lin.register_forward_hook(lambda m, a, kw, out: calls.append(("kw", sorted(kw))), with_kwargs=True)
        lin.register_forward_hook(lambda m, a, out: calls.append(("first",)), prepend=True)
        lin.register_forward_pre_hook(lambda m, a, kw: (a, kw), with_kwargs=True)
        lin.register_forward_hook(lambda m, a, out: calls.append(("always", out)), always_call=True)
        x = np.ones((1, 2), np.float32)
        lin(torch.tensor(x) if lib == "torch" else Tensor(x))
        assert [c[0] for c in calls] == ["first", "kw", "always"], lib
        with pytest.raises(Exception):  # noqa: B017 - a wrong shape: both raise their own error
            lin(torch.ones(1, 3) if lib == "torch" else Tensor(np.ones((1, 3), np.float32)))
        assert calls[-1] == ("always", None), lib


@needs_torch
def test_removal_and_the_handles_with_block():
    ours, theirs, x = pair()
    for lib, model in (("ours", ours), ("torch", theirs)):
        calls = []
        h = model[1].register_forward_hook(lambda m, a, out: calls.append(1))
        with model[1].register_full_backward_hook(lambda m, gi, go: calls.append(2)):
            run(model, x, lib)
        run(model, x, lib)
        h.remove()
        h.remove()  # twice is harmless
        run(model, x, lib)
        assert calls == [1, 2, 1], lib
    assert ours[1]._hooks is None  # back on the fast path


def test_a_module_with_two_inputs_gets_both_gradients_at_once():
    class Bilinear(nn.Module):
        def forward(self, a, k, b):
            return (a * b * k).sum()

    m = Bilinear()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: (seen.append((gi[1], go)), (gi[0] * 2, None, gi[2]))[1])
    a = Tensor(np.arange(3.0), requires_grad=True)
    b = Tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    m(a, 3.0, b).backward()
    assert seen[0][0] is None and float(seen[0][1][0].data) == 1.0
    np.testing.assert_allclose(a.grad.data, 2 * 3 * b.data.sum(0))
    np.testing.assert_allclose(b.grad.data, 3 * np.broadcast_to(a.data, (2, 3)))


def test_a_wrong_replacement_names_the_module_and_shapes():
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda m, gi, go: (Tensor(np.ones((7,), np.float32)),))
    with pytest.raises(ValueError, match=r"Linear.*shape \(7,\).*\(4, 3\)"):
        lin(Tensor(np.ones((4, 3), np.float32), requires_grad=True)).sum().backward()
    lin2 = nn.Linear(3, 2)
    lin2.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="returned 2 gradients, expected 1"):
        lin2(Tensor(np.ones((4, 3), np.float32), requires_grad=True)).sum().backward()


def test_no_backward_hook_fires_under_no_grad():
    lin = nn.Linear(3, 2)
    calls = []
    lin.register_full_backward_hook(lambda *a: calls.append(a))
    with no_grad():
        out = lin(Tensor(np.ones((4, 3), np.float32)))
    assert out.node is None and not calls


# ----- inside the jit -----------------------------------------------------------------------------------------------

def bn_mlp(seed=0):
    rng = np.random.default_rng(seed)
    manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    batches = [(rng.normal(size=(16, 6)).astype(np.float32), rng.integers(0, 3, 16)) for _ in range(5)]
    return model, batches


def test_hooks_run_at_replay_with_the_replayed_values():
    logs = {}
    for use_jit in (False, True):
        model, batches = bn_mlp()
        log = logs[use_jit] = []
        bn = model[1]
        bn.register_forward_pre_hook(lambda m, a: log.append(("pre", a[0].data.copy(), m.running_mean.data.copy())))
        bn.register_forward_hook(lambda m, a, out: log.append(("fwd", out.data.copy())))
        bn.register_full_backward_hook(lambda m, gi, go: log.append(("bwd", gi[0].data.copy(), go[0].data.copy())))
        bn.register_full_backward_pre_hook(lambda m, go: (go[0] * 0.5,))  # a replacement of grad_output replays
        step = jit(lambda x, y: model(x).cross_entropy(y))
        for x, y in batches:
            model.zero_grad()
            if use_jit:
                step(x, y)
            else:
                model(Tensor(x)).cross_entropy(y).backward()
        assert step._plans or not use_jit  # the last calls were replays
    assert [e[0] for e in logs[True]] == [e[0] for e in logs[False]] == ["pre", "fwd", "bwd"] * 5
    for a, b in zip(logs[True], logs[False]):
        for u, v in zip(a[1:], b[1:]):
            np.testing.assert_array_equal(u, v)


def test_registering_a_hook_makes_the_jit_record_again():
    model, batches = bn_mlp()
    step = jit(lambda x, y: model(x).cross_entropy(y))
    for x, y in batches[:3]:
        step(x, y)
    calls = []
    h = model[1].register_forward_hook(lambda m, a, out: calls.append(1))
    step(*batches[3])
    assert calls == [1]
    h.remove()
    step(*batches[4])
    assert calls == [1]


def test_the_jit_refuses_a_replacing_forward_hook_naming_the_module():
    model, batches = bn_mlp()
    model[1].register_forward_hook(lambda m, a, out: out * 2)
    step = jit(lambda x, y: model(x).cross_entropy(y))
    with pytest.raises(JitError, match="forward hook .* of module BatchNorm1d returned a replacement output"):
        step(*batches[0])
    model2, _ = bn_mlp()
    model2[0].register_forward_pre_hook(lambda m, a: (a[0] + 1,))
    with pytest.raises(JitError, match="forward pre-hook .* of module Linear returned a replacement input"):
        jit(lambda x, y: model2(x).cross_entropy(y))(*batches[0])
