"""tinygrad_bn.jit: a replayed step equals the eager step bit for bit, and what it cannot replay is refused."""

import gc
import weakref

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import JitError, Tensor, nn, optim


def _mlp():
    tg.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16, generator=1), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(16, 16, generator=2), nn.BatchNorm1d(16, momentum=None), nn.LeakyReLU(0.1),
                         nn.Linear(16, 5, generator=3))


def _cnn():
    tg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, generator=1), nn.GhostBatchNorm(4, virtual_batch_size=2),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5, generator=2))


def _batches(shape, n=6, sizes=None):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal(((sizes or [shape[0]] * n)[i], *shape[1:])).astype(np.float32),
             rng.integers(0, 5, (sizes or [shape[0]] * n)[i])) for i in range(n)]


def _state(net):
    return [t.data.copy() for t in [*net.parameters(), *(b for b in net.buffers() if b is not None)]]


def _train(make, batches, use_jit, loss=lambda net, x, y: net(x).cross_entropy(y), modes=None):
    """Losses, gradients and the state after each step of SGD with momentum, eager or through jit."""
    net = make()
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    step = tg.jit(lambda x, y: loss(net, x, y))
    out = []
    for i, (x, y) in enumerate(batches):
        net.train(modes[i] if modes else True)
        opt.zero_grad()
        if use_jit:
            value = step(x, y)
        else:
            value = loss(net, Tensor(x), y)
            value.backward()
        grads = [p.grad.data.copy() for p in net.parameters()]
        opt.step()
        out.append((value.data.copy(), grads, _state(net)))
    return out, step


def _assert_identical(a, b):
    for (la, ga, sa), (lb, gb, sb) in zip(a, b, strict=True):
        assert la.tobytes() == lb.tobytes()
        assert all(x.tobytes() == y.tobytes() for x, y in zip(ga, gb, strict=True))
        assert all(x.tobytes() == y.tobytes() for x, y in zip(sa, sb, strict=True))


@pytest.mark.parametrize("make, shape", [(_mlp, (8, 12)), (_cnn, (4, 2, 6, 6))], ids=["mlp", "cnn"])
def test_replayed_steps_equal_eager_steps_bit_for_bit(make, shape):
    """Losses, gradients, parameters, running statistics and dropout masks over six steps of new batches."""
    batches = _batches(shape)
    eager, _ = _train(make, batches, False)
    replayed, step = _train(make, batches, True)
    _assert_identical(eager, replayed)
    assert [len(plans) for plans in step._plans.values()] == [1]  # calls 1 and 2 recorded, 3 to 6 replayed
    assert step.source.startswith("def replay(args):") and "= b" in step.source  # the compiled forward and backward


def test_a_new_batch_size_or_mode_is_recorded_again_and_still_equals_eager():
    batches = _batches((8, 12), 9, sizes=[8, 8, 8, 8, 5, 5, 5, 8, 8])
    modes = [True] * 7 + [False, False]
    eager, _ = _train(_mlp, batches, False, modes=modes)
    replayed, step = _train(_mlp, batches, True, modes=modes)
    _assert_identical(eager, replayed)
    assert {key[0][0] for key in step._plans} == {(8, 12), (5, 12)}


def test_label_smoothing_and_ignored_labels_are_recomputed_for_each_batch():
    batches = _batches((8, 12))
    for i, (_, y) in enumerate(batches):
        y[i % 8] = -100
    loss = lambda net, x, y: nn.functional.cross_entropy(net(x), y, label_smoothing=0.1)  # noqa: E731
    _assert_identical(_train(_mlp, batches, False, loss)[0], _train(_mlp, batches, True, loss)[0])


def test_a_replay_checks_the_labels_of_each_call():
    net = _mlp()
    step = tg.jit(lambda x, y: net(x).cross_entropy(y))
    (x, y), = _batches((8, 12), 1)
    for _ in range(3):
        step(x, y)
    with pytest.raises(ValueError, match=r"label 7 at position 2 is out of range for 5 classes"):
        step(x, np.where(np.arange(8) == 2, 7, y))
    with pytest.raises(ValueError, match=r"label -100 at position 0 .*recorded this loss on labels without ignore"):
        step(x, np.where(np.arange(8) == 0, -100, y))


def test_values_computed_with_numpy_from_the_inputs_are_refused():
    w = Tensor(np.ones(3), requires_grad=True)
    scaled = tg.jit(lambda x: (x * w * Tensor(x.data.mean())).sum())
    scaled(np.ones(3))
    with pytest.raises(JitError, match=r"a constant of shape \(\) .*input of op 'mul'.* changed between the calls"):
        scaled(np.arange(3.0) + 5)
    sliced = tg.jit(lambda x: x[int(x.data[0] > 0):].sum() * w.sum())
    sliced(np.ones(3))
    with pytest.raises(JitError, match=r"attribute 'index' of op 'getitem' changed"):
        sliced(-np.ones(3))


def test_hooks_a_non_scalar_loss_and_no_grad():
    w = Tensor(np.ones(3), requires_grad=True)
    seen = []

    def hooked(x):
        h = x * w
        h.register_hook(lambda g: (seen.append(g.data.copy()), g * 2)[1])  # run at replay too
        return h.sum()
    step = tg.jit(hooked)
    for k in range(4):
        step(np.full(3, k + 1.0))
    assert [float(g[0]) for g in seen] == [1.0] * 4 and step._plans
    np.testing.assert_array_equal(w.grad.data, 2 * (1 + 2 + 3 + 4) * np.ones(3))
    w.register_hook(lambda g: g)
    with pytest.raises(JitError, match="gradient hook"):
        tg.jit(lambda x: (x * w).sum())(np.ones(3))
    w._hooks, w.grad = (), None
    with pytest.raises(RuntimeError, match=r"one-element loss Tensor, got Tensor of shape \(3,\)"):
        tg.jit(lambda x: x * w)(np.ones(3))
    step = tg.jit(lambda x: (x * w).sum())
    with tg.no_grad():
        assert float(step(np.ones(3)).data) == 3.0 and w.grad is None


def test_gradients_accumulate_like_backward_and_arguments_get_theirs():
    w = Tensor(np.arange(3.0), requires_grad=True)
    step = tg.jit(lambda x: (x * w * w).sum())
    x = Tensor(np.ones(3), requires_grad=True)
    for _ in range(4):
        step(x)
    np.testing.assert_array_equal(w.grad.data, 4 * 2 * np.arange(3.0))
    np.testing.assert_array_equal(x.grad.data, 4 * np.arange(3.0) ** 2)


def test_a_forward_only_jit_replays_inference_under_no_grad_and_training_forwards():
    net = _mlp()
    predict = tg.jit(net, backward=False)
    batches = _batches((8, 12), 5)
    for mode in (False, True):  # eval: running statistics; train: batch statistics, their update and dropout
        net.train(mode)
        tg.manual_seed(1)
        eager = [net(Tensor(x)).data for x, _ in batches]
        before = _state(net)
        tg.manual_seed(1)
        with tg.no_grad():
            replayed = [predict(x).data for x, _ in batches]
        assert all(a.tobytes() == b.tobytes() for a, b in zip(eager, replayed, strict=True))
        if mode:  # the replay moved the running statistics on from where the eager passes left them
            assert any(a.tobytes() != b.tobytes() for a, b in zip(before, _state(net)))
    assert all(p.grad is None for p in net.parameters())


def test_modes_are_checked_per_module_and_each_state_keeps_its_recording():
    net = _mlp()
    calls = []
    step = tg.jit(lambda x, y: calls.append(1) or net(x).cross_entropy(y))
    batches = _batches((8, 12), 12)
    eager_net, results = _mlp(), []
    net[3].generator, eager_net[3].generator = np.random.default_rng(5), np.random.default_rng(5)
    for i, (x, y) in enumerate(batches):
        dropout_only = i in (6, 7, 8)  # only the Dropout in eval: it makes no op then, yet the replay must see it
        for m in (net, eager_net):
            m.train(True)
            m[3].train(not dropout_only)
        loss = step(x, y)
        ref = eager_net(Tensor(x)).cross_entropy(y)
        ref.backward()
        results.append((loss.data.tobytes() == ref.data.tobytes(),
                        all(p.grad.data.tobytes() == q.grad.data.tobytes()
                            for p, q in zip(net.parameters(), eager_net.parameters()))))
    assert all(a and b for a, b in results)
    assert len(calls) == 4  # two recordings with dropout on, two with it off; back on: the first is replayed


def test_a_recording_keeps_no_intermediate_tensor_alive():
    refs = []
    w = Tensor(np.ones(3), requires_grad=True)

    def fn(x):
        h = x * w
        refs.append(weakref.ref(h))
        return h.sum()
    step = tg.jit(fn)
    for _ in range(4):
        step(np.ones(3))
    gc.collect()
    assert len(refs) == 2 and all(r() is None for r in refs)


def _zoo_conv():
    tg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2, generator=1), nn.GroupNorm(2, 4), nn.GELU(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 5, generator=2))


def _zoo_seq():
    tg.manual_seed(0)
    return nn.Sequential(nn.Conv1d(2, 4, 3, padding="same", generator=1),
                         nn.InstanceNorm1d(4, affine=True, track_running_stats=True), nn.LeakyReLU(0.2),
                         nn.Flatten(), nn.Dropout(0.1), nn.Linear(4 * 6, 5, generator=2))


class _Bag(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.norm = nn.Embedding(7, 6, generator=1), nn.LayerNorm(6)
        self.head = nn.Linear(6, 5, generator=2)

    def forward(self, tokens):
        return self.head(self.norm(self.embed(tokens)).tanh().mean(dim=1))


@pytest.mark.parametrize("make, batch", [
    (_zoo_conv, lambda rng: rng.standard_normal((4, 2, 8, 8)).astype(np.float32)),
    (_zoo_seq, lambda rng: rng.standard_normal((4, 2, 6)).astype(np.float32)),
    (_Bag, lambda rng: rng.integers(0, 7, (4, 3)))], ids=["conv-groupnorm-avgpool", "conv1d-instancenorm", "embedding"])
def test_more_layers_replay_bit_for_bit(make, batch):
    rng = np.random.default_rng(0)
    batches = [(batch(rng), rng.integers(0, 5, 4)) for _ in range(5)]
    _assert_identical(_train(make, batches, False)[0], _train(make, batches, True)[0])


def test_a_replay_checks_embedding_indices():
    bag = _Bag()
    step = tg.jit(lambda t, y: bag(t).cross_entropy(y))
    for _ in range(3):
        step(np.ones((4, 3), np.int64), np.zeros(4, np.int64))
    with pytest.raises(IndexError, match=r"embedding: index -1 at flat position 5 is out of range for 7 rows"):
        step(np.where(np.arange(12).reshape(4, 3) == 5, -1, 1), np.zeros(4, np.int64))


def test_an_eval_replay_reads_the_running_statistics_of_each_call():
    """Train, evaluate, train on, evaluate again: the second evaluation sees the new running statistics."""
    net, ref = _mlp(), _mlp()
    step, predict = tg.jit(lambda x, y: net(x).cross_entropy(y)), tg.jit(net, backward=False)
    opt, ref_opt = optim.SGD(net.parameters(), lr=0.1), optim.SGD(ref.parameters(), lr=0.1)
    batches = _batches((8, 12), 4)
    for rnd in range(3):
        for m in (net, ref):
            m.train()
            m[3].generator = np.random.default_rng(rnd)
        for x, y in batches:
            opt.zero_grad(), ref_opt.zero_grad()
            step(x, y)
            ref(Tensor(x)).cross_entropy(y).backward()
            opt.step(), ref_opt.step()
        net.eval(), ref.eval()
        for x, _ in batches:
            assert predict(x).data.tobytes() == ref(Tensor(x)).data.tobytes()


def test_comparisons_and_masks_are_recomputed_for_each_call():
    w = Tensor(np.ones(3), requires_grad=True)
    masked = lambda x: tg.where(x > 0.5, x * w, x * w * 0.1).sum() + tg.where(x, w, 0.0).sum()  # noqa: E731
    step = tg.jit(masked)
    for v in (np.ones(3), np.ones(3), np.zeros(3), np.array([0.0, 1.0, 1.0])):
        assert step(v).data.tobytes() == masked(Tensor(v)).data.tobytes()


def test_a_backward_or_an_optimizer_step_inside_the_function_is_refused():
    net = _mlp()
    opt = optim.SGD(net.parameters(), lr=0.1)
    (x, y), = _batches((8, 12), 1)

    def trains_itself(x, y):
        loss = net(x).cross_entropy(y)
        loss.backward()
        opt.step()
        return loss
    for backward in (True, False):
        with pytest.raises(JitError, match=r"ran a backward pass .*keep backward, zero_grad and the optimizer's step"):
            tg.jit(trains_itself, backward=backward)(x, y)

    def steps(x, y):
        opt.step()
        return net(x).cross_entropy(y)
    with pytest.raises(JitError, match="ran an optimizer step"):
        tg.jit(steps)(x, y)
    w = Tensor(np.ones(3), requires_grad=True)
    penalty = tg.jit(lambda x: (tg.grad((x * w * w).sum(), [w], create_graph=True)[0] ** 2).sum())
    values = [penalty(np.arange(3.0) + i).data.item() for i in range(4)]  # grad with create_graph is recorded
    assert values == [float(((2 * (np.arange(3.0) + i)) ** 2).sum()) for i in range(4)]


def test_a_forward_only_jit_inside_another_recording_is_recorded_into_it():
    body = nn.Sequential(nn.Linear(12, 16, generator=1), nn.BatchNorm1d(16), nn.ReLU())
    head = nn.Linear(16, 5, generator=2)
    features = tg.jit(body, backward=False)
    step = tg.jit(lambda x, y: head(features(x)).cross_entropy(y))
    for x, _ in _batches((8, 12), 2):  # the inner jit has replayed once it has two recordings
        with tg.no_grad():
            for _ in range(3):
                features(x)
    grads = []
    for x, y in _batches((8, 12), 4):
        for p in (*body.parameters(), *head.parameters()):
            p.grad = None
        step(x, y)
        grads.append(body[0].weight.grad)
    assert all(g is not None and np.abs(g.data).sum() > 0 for g in grads)  # the gradient reached the first layer


def test_random_draws_happen_in_the_order_they_ran_eagerly():
    """Two dropout masks from one generator, on branches the loss meets in the other order."""
    w = Tensor(np.ones(6), requires_grad=True)

    def two_masks(x, gen):
        a = nn.functional.dropout(x * w, 0.5, True, gen)
        b = nn.functional.dropout(x * w, 0.5, True, gen)
        return (b * 3.0 + a).sum()
    gen_eager, gen_jit = np.random.default_rng(3), np.random.default_rng(3)
    step = tg.jit(lambda x: two_masks(x, gen_jit))
    for i in range(5):
        x = np.arange(6.0) + i
        assert step(x).data.tobytes() == two_masks(Tensor(x), gen_eager).data.tobytes()


def test_arguments_are_leaves_of_the_replay():
    w = Tensor(np.ones(3), requires_grad=True)
    step = tg.jit(lambda x: (x * w).sum())
    with tg.record():
        traced = [Tensor(np.full(3, float(i))) * 2.0 for i in range(4)]  # arguments with a node, no gradient
    assert all(t.node is not None for t in traced)
    assert [float(step(t).data) for t in traced] == [0.0, 6.0, 12.0, 18.0]
    with pytest.raises(JitError, match=r"argument 0 \(shape \(3,\)\) has a graph that needs a gradient"):
        step(w * 2.0)


def test_a_jit_with_a_backward_inside_another_is_refused():
    w = Tensor(np.ones(3), requires_grad=True)
    inner = tg.jit(lambda x: (x * w).sum())
    for _ in range(3):
        inner(np.ones(3))  # recorded and replayable
    with pytest.raises(JitError, match="a jit with a backward, was called inside another jit's function"):
        tg.jit(lambda x: inner(x) * 2.0)(np.ones(3))


# ----- the jit never replays a stale step (issue: hardening, round three) ------------------------------

def _small_mlp(seed=0):
    return nn.Sequential(nn.Linear(3, 4, generator=seed), nn.ReLU(), nn.Linear(4, 2, generator=seed + 1))


def test_the_same_tensor_twice_is_another_signature_than_two_tensors():
    step = tg.jit(lambda a, b: (a * b).sum(), backward=False)
    t = Tensor(np.full(3, 2.0))
    for _ in range(3):
        assert step(t, t).item() == 12.0
    a, b = Tensor(np.ones(3)), Tensor(np.full(3, 5.0))
    for _ in range(3):
        assert step(a, b).item() == 15.0  # recorded as step(t, t), a replay would compute b * b = 75


def _trained(model, step, x, y, calls):
    for _ in range(calls):
        model.zero_grad()
        step(x, y)


def test_freezing_or_unfreezing_a_parameter_after_recording_is_seen():
    model = _small_mlp()
    x, y = Tensor(np.random.default_rng(0).standard_normal((5, 3)), dtype=np.float32), np.arange(5) % 2
    step = tg.jit(lambda x, y: model(x).cross_entropy(y))
    _trained(model, step, x, y, 3)
    model[0].weight.requires_grad_(False)
    _trained(model, step, x, y, 3)
    assert model[0].weight.grad is None and model[2].weight.grad is not None
    model[0].weight.requires_grad_(True)
    _trained(model, step, x, y, 3)
    eager = _small_mlp()
    eager.load_state_dict(model.state_dict())
    eager(x).cross_entropy(y).backward()
    np.testing.assert_array_equal(model[0].weight.grad.data, eager[0].weight.grad.data)


def test_a_hook_registered_after_recording_is_not_skipped():
    model = _small_mlp()
    x, y = Tensor(np.ones((4, 3), np.float32)), np.arange(4) % 2
    step = tg.jit(lambda x, y: model(x).cross_entropy(y))
    _trained(model, step, x, y, 3)
    model[0].weight.register_hook(lambda g: g * 2)
    with pytest.raises(JitError, match="hook"):
        step(x, y)


def test_a_parameter_rebound_to_another_shape_or_dtype_records_again():
    model = nn.Sequential(nn.Linear(3, 2, generator=0))
    x = Tensor(np.ones((4, 3), np.float32))
    step = tg.jit(lambda x: model(x).sum())
    for _ in range(3):
        step(x)
    model[0].weight.data = np.ones((2, 3))  # float64 now, as eager would see it
    with pytest.raises(TypeError, match="dtype|float"):
        step(x)  # eager's own dtype error, not a stale replay


def test_to_float64_after_recording_gives_the_eager_dtype_error():
    model = _small_mlp()
    x = Tensor(np.ones((4, 3), np.float32))
    step = tg.jit(lambda x: model(x).sum())
    for _ in range(3):
        step(x)
    model.to(np.float64)
    with pytest.raises(TypeError, match="float32|dtype"):
        step(x)


def test_a_number_read_from_the_closure_is_re_read_with_a_warning():
    w = Tensor(np.ones(3), requires_grad=True)
    scale = 2.0
    step = tg.jit(lambda x: (x * w * scale).sum())
    x = Tensor(np.ones(3))
    for _ in range(3):
        assert step(x).item() == 6.0
    scale = 5.0
    with pytest.warns(UserWarning, match="scale from 2.0 to 5.0"):
        assert step(x).item() == 15.0
    assert step(x).item() == 15.0 and step(x).item() == 15.0


def test_an_error_in_a_replay_names_the_jit_and_the_op():
    table = nn.Embedding(4, 2, generator=0)

    def lookup(i):
        return table(i).sum()
    step = tg.jit(lookup)
    for _ in range(3):
        step(Tensor(np.array([0, 1, 2])))
    with pytest.raises(IndexError, match=r"embedding.*jit\(.*lookup\)"):
        step(Tensor(np.array([0, 1, 9])))


def test_backward_on_a_forward_only_jit_output_says_it_has_no_graph():
    model = _small_mlp()
    predict = tg.jit(model, backward=False)
    x = Tensor(np.ones((2, 3), np.float32))
    for _ in range(3):
        out = predict(x)
    with pytest.raises(RuntimeError, match="backward=False"):
        out.sum().backward()
