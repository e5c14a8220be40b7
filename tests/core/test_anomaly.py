"""detect_anomaly: the first nan/inf in the forward or the backward pass raises naming the op, its module,
the input shapes, the pass and where the op was created; off by default; a diverging training run says where."""

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import AnomalyError, Tensor, detect_anomaly, nn, where


def test_forward_nan_names_the_op_shapes_pass_and_creation_line():
    x = Tensor(np.array([1.0, -1.0, 2.0]), requires_grad=True)
    with detect_anomaly(), pytest.raises(AnomalyError) as info:
        y = x * 2
        y.sqrt()  # the offending line
    e = info.value
    assert (e.op, e.module, e.phase, e.input_shapes) == ("sqrt", None, "forward", [(3,)])
    message = str(e)
    assert "op 'sqrt'" in message and "nan (first at index (1,))" in message and "forward pass" in message
    assert "input shapes (3,)" in message and "y.sqrt()  # the offending line" in message
    assert "test_anomaly.py" in e.stack


def test_backward_nan_from_sqrt_at_zero_under_a_masked_branch():
    x = Tensor(np.array([1.0, 0.0, 4.0]), requires_grad=True)
    y = where(x > 0, x.sqrt(), 0.0).sum()  # forward finite; sqrt's vjp gives 0 / 0 at x = 0
    y.backward()
    assert np.isnan(x.grad.data[1])  # silent without detection (as in PyTorch)
    x.grad = None
    with detect_anomaly():
        y = where(x > 0, x.sqrt(), 0.0).sum()
        with pytest.raises(AnomalyError) as info:
            y.backward()
    e = info.value
    assert (e.op, e.phase) == ("sqrt", "backward")
    assert "gradient of its input 0 (shape (3,))" in str(e) and "where(x > 0, x.sqrt(), 0.0).sum()" in str(e)


def test_in_a_module_the_module_path_is_named_and_the_decorator_and_switch_work():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[2].weight.data[0, 0] = np.nan

    @detect_anomaly()
    def step():
        return model(Tensor(np.ones((5, 3), dtype=np.float32)))

    with pytest.raises(AnomalyError) as info:
        step()
    assert info.value.module == "2" and "in module '2'" in str(info.value)
    assert "input 0 already held a non-finite value" in str(info.value)
    assert not tg.is_anomaly_enabled()
    tg.set_detect_anomaly(True)
    try:
        assert tg.is_anomaly_enabled()
        with detect_anomaly(check_nan=False):
            model(Tensor(np.ones((5, 3), dtype=np.float32)))  # off inside: no error
        with pytest.raises(AnomalyError):
            model(Tensor(np.ones((5, 3), dtype=np.float32)))
    finally:
        tg.set_detect_anomaly(False)


def test_off_by_default_nothing_is_recorded():
    x = Tensor(np.array([-1.0]), requires_grad=True)
    y = x.log()
    assert np.isnan(y.data).all() and getattr(y.node, "stack", None) is None


def test_a_diverging_training_run_says_where_it_diverged():
    from bnlab import training
    split = training.load("digits", 0)
    model = training.mlp([64, 16, 10], seed=0)
    model[0].weight.data[:] = np.inf
    history = training.train(model, split, steps=5, batch_size=32, lr=0.1, seed=0, progress=False)
    assert history.diverged
    assert history.divergence.startswith("diverged at step 1 (first non-finite value at op ")
    assert "in module '0'" in history.divergence and "parameter '0.weight'" in history.divergence
    assert np.isinf(model[0].weight.data).all()  # the replay restored the state it found
