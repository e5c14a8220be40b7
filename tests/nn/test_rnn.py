"""nn.LSTM against torch 2.13 in float64: outputs, final states and the gradients of the input, the initial state
and every parameter, with torch's weights loaded through state_dict; its options, errors and dropout."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from module_parity import assert_same, load_torch_weights
from torch_oracle import needs_torch, torch

from tinygrad_bn import Tensor, nn

pytestmark = needs_torch


def twin(*args, **kw):
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(*args, **kw, dtype=torch.float64)
    return load_torch_weights(nn.LSTM(*args, **kw, dtype=np.float64), theirs), theirs


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@settings(max_examples=20, deadline=None)
@given(length=st.integers(1, 6), n=st.integers(1, 3), input_size=st.integers(1, 4), hidden=st.integers(1, 4),
       layers=st.integers(1, 2), bidirectional=st.booleans(), batch_first=st.booleans(), bias=st.booleans())
def test_lstm_matches_torch(length, n, input_size, hidden, layers, bidirectional, batch_first, bias):
    ours, theirs = twin(input_size, hidden, layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    x = rand(*((n, length, input_size) if batch_first else (length, n, input_size)))
    assert_same(ours, theirs, [x], lambda m, x: m(x), lambda m, x: m(x))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_given_initial_state_matches_torch(bidirectional):
    ours, theirs = twin(3, 4, 2, bidirectional=bidirectional)
    d = 2 if bidirectional else 1
    assert_same(ours, theirs, [rand(5, 2, 3), rand(2 * d, 2, 4, seed=1), rand(2 * d, 2, 4, seed=2)],
                lambda m, x, h, c: m(x, (h, c)), lambda m, x, h, c: m(x, (h, c)))


def test_lstm_unbatched_matches_torch():
    ours, theirs = twin(3, 4, bidirectional=True)
    assert_same(ours, theirs, [rand(6, 3)], lambda m, x: m(x), lambda m, x: m(x))
    assert_same(ours, theirs, [rand(6, 3), rand(2, 4, seed=1), rand(2, 4, seed=2)],
                lambda m, x, h, c: m(x, (h, c)), lambda m, x, h, c: m(x, (h, c)))


def test_lstm_parameters_and_initialization_follow_torch():
    m = nn.LSTM(3, 5, num_layers=2, bidirectional=True, generator=0)
    theirs = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    assert [(k, v.shape) for k, v in m.state_dict().items()] == [(k, tuple(v.shape))
                                                                 for k, v in theirs.state_dict().items()]
    values = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    bound = 1 / np.sqrt(5)
    assert values.dtype == np.float32 and np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
    assert repr(m) == "LSTM(3, 5, num_layers=2, bidirectional=True)"


def test_lstm_dropout_between_layers_random_in_training_identity_in_eval():
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5, dtype=np.float64, generator=0)
    x = Tensor(rand(5, 2, 3))
    assert not np.allclose(m(x)[0].numpy(), m(x)[0].numpy())
    plain = nn.LSTM(3, 4, num_layers=2, dtype=np.float64)
    plain.load_state_dict(m.state_dict())
    m.eval()
    np.testing.assert_array_equal(m(x)[0].numpy(), plain(x)[0].numpy())


def test_lstm_graph_boxes_layers_and_cells():
    m = nn.LSTM(2, 3, bidirectional=True, dtype=np.float64)
    out, _ = m(Tensor(rand(4, 1, 2), requires_grad=True))
    paths = set()
    stack = [out]
    while stack:
        t = stack.pop()
        if t.node is not None:
            paths.update(s.path for s in t.node.scopes)
            stack.extend(i for i in t.node.inputs if i.node is not None)
    assert {"l0", "l0_reverse", "l0.lstm_cell", "l0_reverse.lstm_cell"} <= paths


def test_lstm_errors_name_the_layer():
    with pytest.raises(NotImplementedError, match="LSTM: proj_size=2 is not supported"):
        nn.LSTM(3, 4, proj_size=2)
    m = nn.LSTM(3, 4, dtype=np.float64)
    with pytest.raises(ValueError, match=r"LSTM: expected an input of shape \(L, N, 3\).*got \(2, 3, 4, 3\)"):
        m(Tensor(np.zeros((2, 3, 4, 3))))
    with pytest.raises(ValueError, match=r"LSTM: expected an input .* got \(5, 2, 4\)"):
        m(Tensor(np.zeros((5, 2, 4))))
    with pytest.raises(ValueError, match=r"L > 0, got \(0, 2, 3\)"):
        m(Tensor(np.zeros((0, 2, 3))))
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 and c_0 of shape \(1, 2, 4\), got \(2, 2, 4\)"):
        m(Tensor(np.zeros((5, 2, 3))), (np.zeros((2, 2, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(ValueError, match="LSTM: hx must be a tuple"):
        m(Tensor(np.zeros((5, 2, 3))), np.zeros((1, 2, 4)))
