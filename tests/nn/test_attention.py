"""Attention and the transformer encoder against torch 2.13 in float64 (outputs and the gradients of inputs and
every parameter, torch's weights loaded through state_dict), their errors, dropout, and their batch noise."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from module_parity import assert_same, load_torch_weights
from torch_oracle import needs_torch, torch

import viz
from tinygrad_bn import Tensor, nn
from tinygrad_bn.nn import functional as F

pytestmark = needs_torch
f64 = np.float64


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def as_torch(mask):
    return None if mask is None else torch.from_numpy(np.asarray(mask))


# ----- scaled_dot_product_attention ------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), heads=st.integers(1, 3), length=st.integers(1, 5), s=st.integers(1, 5),
       e=st.integers(1, 4), ev=st.integers(1, 4), mask=st.sampled_from([None, "bool", "float", "bool2d"]),
       causal=st.booleans(), scale=st.sampled_from([None, 0.3]), seed=st.integers(0, 99))
def test_sdpa_matches_torch(n, heads, length, s, e, ev, mask, causal, scale, seed):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((n, heads, length, e)), rng.standard_normal((n, heads, s, e)), \
        rng.standard_normal((n, heads, s, ev))
    causal = causal and mask is None  # both: an error in torch and here
    m = {None: None, "bool": rng.random((n, 1, length, s)) > 0.3, "float": rng.standard_normal((length, s)),
         "bool2d": rng.random((length, s)) > 0.5}[mask]  # random boolean masks hide whole rows now and then
    assert_same(None, None, [q, k, v],
                lambda _, *t: F.scaled_dot_product_attention(*t, attn_mask=m, is_causal=causal, scale=scale),
                lambda _, *t: torch.nn.functional.scaled_dot_product_attention(*t, attn_mask=as_torch(m),
                                                                               is_causal=causal, scale=scale))


def test_sdpa_fully_masked_row_is_zero_with_zero_gradient_as_in_torch():
    q, k = rand(1, 3, 4), rand(1, 5, 4, seed=1)
    m = np.ones((3, 5), bool)
    m[1] = False
    assert_same(None, None, [q, k, k], lambda _, *t: F.scaled_dot_product_attention(*t, attn_mask=m),
                lambda _, *t: torch.nn.functional.scaled_dot_product_attention(*t, attn_mask=as_torch(m)))
    out = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(k), attn_mask=m)
    assert not np.any(out.numpy()[0, 1])


def test_sdpa_grouped_query_attention():
    q, k, v = rand(2, 4, 3, 5), rand(2, 2, 6, 5, seed=1), rand(2, 2, 6, 3, seed=2)
    assert_same(None, None, [q, k, v], lambda _, *t: F.scaled_dot_product_attention(*t, enable_gqa=True),
                lambda _, *t: torch.nn.functional.scaled_dot_product_attention(*t, enable_gqa=True))


def test_sdpa_dropout_is_seeded_random_and_rescaled():
    q = Tensor(rand(2, 4, 3))
    plain = F.scaled_dot_product_attention(q, q, q).numpy()
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, generator=1).numpy()
    b = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, generator=1).numpy()
    c = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, generator=2).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, plain)
    w = F.softmax(Tensor(q.numpy() @ q.numpy().transpose(0, 2, 1) / np.sqrt(3)), axis=-1)
    np.testing.assert_allclose(a, F.dropout(w, 0.5, generator=1).numpy() @ q.numpy())  # on the weights


@pytest.mark.parametrize("shapes,match", [
    (((2, 3, 4), (2, 5, 3), (2, 5, 3)), r"expected query \(..., L, E\)"),
    (((2, 3, 4), (2, 5, 4), (2, 6, 3)), "got"),
    (((4,), (5, 4), (5, 4)), "scaled_dot_product_attention"),
    (((2, 3, 4), (3, 5, 4), (3, 5, 4)), "cannot be broadcast"),
])
def test_sdpa_refuses_bad_shapes(shapes, match):
    q, k, v = (Tensor(np.zeros(s)) for s in shapes)
    with pytest.raises(ValueError, match=match):
        F.scaled_dot_product_attention(q, k, v)


def test_sdpa_refuses_bad_masks():
    q = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 3\) does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 3), bool))
    with pytest.raises(TypeError, match="attn_mask must be boolean or have the query's dtype float64"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), np.float32))
    with pytest.raises(RuntimeError, match="attn_mask should not be given with is_causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)


# ----- MultiheadAttention ----------------------------------------------------------------------

def twin_mha(*args, **kw):
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(*args, **kw, dtype=torch.float64)
    return load_torch_weights(nn.MultiheadAttention(*args, **kw, dtype=f64), theirs), theirs


MASKS = {
    "none": (None, None),
    "bool attn": (np.triu(np.ones((4, 6), bool), 2), None),
    "float attn 3d": (rand(2 * 2, 4, 6, seed=3), None),
    "bool padding": (None, np.array([[False] * 5 + [True], [False] * 6])),
    "float padding": (None, rand(2, 6, seed=4)),
    "both": (np.triu(np.ones((4, 6), bool), 3), np.array([[False] * 4 + [True] * 2, [True] + [False] * 5])),
}


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", MASKS, ids=list(MASKS))
@pytest.mark.parametrize("weights", ["none", "average", "per head"])
def test_mha_matches_torch(batch_first, masks, weights):
    ours, theirs = twin_mha(8, 2, batch_first=batch_first)
    attn_mask, padding = MASKS[masks]
    shape = (2, 4, 8) if batch_first else (4, 2, 8)
    kv_shape = (2, 6, 8) if batch_first else (6, 2, 8)
    kw = {"need_weights": weights != "none", "average_attn_weights": weights == "average"}
    assert_same(ours, theirs, [rand(*shape), rand(*kv_shape, seed=1), rand(*kv_shape, seed=2)],
                lambda m, *t: m(*t, attn_mask=attn_mask, key_padding_mask=padding, **kw),
                lambda m, *t: m(*t, attn_mask=as_torch(attn_mask), key_padding_mask=as_torch(padding), **kw))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 3), length=st.integers(1, 4), s=st.integers(1, 4), heads=st.integers(1, 3),
       head_dim=st.integers(1, 3), kdim=st.integers(1, 4), batch_first=st.booleans(), same_dims=st.booleans())
def test_mha_shapes_match_torch(n, length, s, heads, head_dim, kdim, batch_first, same_dims):
    e = heads * head_dim
    kdim = e if same_dims else kdim
    ours, theirs = twin_mha(e, heads, kdim=kdim, vdim=kdim, batch_first=batch_first)
    lay = (lambda a, b, c: (a, b, c)) if not batch_first else (lambda a, b, c: (b, a, c))
    assert_same(ours, theirs, [rand(*lay(length, n, e)), rand(*lay(s, n, kdim), seed=1),
                               rand(*lay(s, n, kdim), seed=2)],
                lambda m, *t: m(*t, average_attn_weights=False), lambda m, *t: m(*t, average_attn_weights=False))


@pytest.mark.parametrize("kw", [{"kdim": 3, "vdim": 5}, {"bias": False}, {"kdim": 3}])
def test_mha_options_match_torch(kw):
    ours, theirs = twin_mha(6, 3, batch_first=True, **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    kdim, vdim = kw.get("kdim", 6), kw.get("vdim", 6)
    assert_same(ours, theirs, [rand(2, 4, 6), rand(2, 5, kdim, seed=1), rand(2, 5, vdim, seed=2)],
                lambda m, *t: m(*t), lambda m, *t: m(*t))


def test_mha_self_attention_causal_and_unbatched():
    ours, theirs = twin_mha(4, 2)
    causal = np.triu(np.full((5, 5), -np.inf), 1)
    x = rand(5, 3, 4)
    assert_same(ours, theirs, [x], lambda m, x: m(x, x, x, attn_mask=causal, is_causal=True, need_weights=False),
                lambda m, x: m(x, x, x, attn_mask=torch.from_numpy(causal), is_causal=True, need_weights=False))
    padding = np.array([False, False, True, False, False])
    assert_same(ours, theirs, [x[:, 0]], lambda m, x: m(x, x, x, key_padding_mask=padding, average_attn_weights=False),
                lambda m, x: m(x, x, x, key_padding_mask=torch.from_numpy(padding), average_attn_weights=False))


def test_mha_initialization_follows_torch():
    m = nn.MultiheadAttention(16, 4, generator=0)
    assert list(m.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert not np.any(m.in_proj_bias.numpy()) and not np.any(m.out_proj.bias.numpy())
    w = m.in_proj_weight.numpy()
    bound = np.sqrt(6 / (16 + 48))  # Xavier on the (3E, E) matrix
    assert w.shape == (48, 16) and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(m.out_proj.weight.numpy()).max() <= 1 / 4  # Linear's U(±1/sqrt(E))
    assert m.in_proj_weight.dtype == np.float32


def test_mha_dropout_random_in_training_identity_in_eval():
    m = nn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True, dtype=f64, generator=0)
    x = Tensor(rand(2, 6, 4))
    a, b = m(x, x, x)[1].numpy(), m(x, x, x)[1].numpy()
    assert not np.allclose(a, b)
    m.eval()
    plain = nn.MultiheadAttention(4, 2, batch_first=True, dtype=f64)
    plain.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(m(x, x, x)[0].numpy(), plain(x, x, x)[0].numpy())


def test_mha_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim \(10\) must be divisible by num_heads \(3\)"):
        nn.MultiheadAttention(10, 3)
    for flag in ("add_bias_kv", "add_zero_attn"):
        with pytest.raises(NotImplementedError, match=f"MultiheadAttention: {flag}=True"):
            nn.MultiheadAttention(4, 2, **{flag: True})
    m = nn.MultiheadAttention(4, 2, dtype=f64)
    x = Tensor(np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match=r"MultiheadAttention: expected query, key and value all 3-D"):
        m(Tensor(np.zeros((1, 3, 2, 4))), x, x)
    with pytest.raises(ValueError, match=r"MultiheadAttention: expected query \(..., 4\)"):
        m(Tensor(np.zeros((3, 2, 5))), x, x)
    with pytest.raises(ValueError, match=r"attn_mask has shape \(2, 3\), expected \(3, 3\) or \(4, 3, 3\)"):
        m(x, x, x, attn_mask=np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match=r"key_padding_mask has shape \(3, 2\), expected \(2, 3\)"):
        m(x, x, x, key_padding_mask=np.zeros((3, 2), bool))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)


# ----- TransformerEncoderLayer and TransformerEncoder ------------------------------------------

def twin_layer(*args, **kw):
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(*args, **kw, dtype=torch.float64)
    if callable(kw.get("activation")):
        kw["activation"] = F.silu
    return load_torch_weights(nn.TransformerEncoderLayer(*args, **kw, dtype=f64), theirs), theirs


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
def test_encoder_layer_matches_torch(norm_first, batch_first, activation):
    act = torch.nn.functional.silu if activation == "callable" else activation
    ours, theirs = twin_layer(8, 2, dim_feedforward=16, dropout=0.0, activation=act, norm_first=norm_first,
                              batch_first=batch_first)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    padding = np.array([[False] * 4 + [True], [False] * 5])
    mask = np.triu(np.ones((5, 5), bool), 1)
    assert_same(ours, theirs, [rand(*((2, 5, 8) if batch_first else (5, 2, 8)))],
                lambda m, x: m(x, src_mask=mask, src_key_padding_mask=padding),
                lambda m, x: m(x, src_mask=as_torch(mask), src_key_padding_mask=as_torch(padding)))


def test_encoder_layer_without_bias_and_eps():
    ours, theirs = twin_layer(6, 3, dim_feedforward=12, dropout=0.0, bias=False, layer_norm_eps=1e-3,
                              batch_first=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_same(ours, theirs, [rand(3, 4, 6)], lambda m, x: m(x), lambda m, x: m(x))
    assert_same(ours, theirs, [rand(4, 6)], lambda m, x: m(x), lambda m, x: m(x))  # unbatched (L, E)


def test_encoder_stack_matches_torch():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=torch.float64)
    theirs = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(8, dtype=torch.float64),
                                         enable_nested_tensor=False)
    with torch.no_grad():  # make the two copies differ
        theirs.layers[1].linear1.weight.mul_(-0.5)
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=f64), 2,
                                 norm=nn.LayerNorm(8, dtype=f64))
    np.testing.assert_array_equal(ours.layers[0].linear1.weight.numpy(), ours.layers[1].linear1.weight.numpy())
    load_torch_weights(ours, theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    causal = np.triu(np.ones((5, 5), bool), 1)
    padding = np.array([[False] * 5, [False] * 3 + [True] * 2])
    assert_same(ours, theirs, [rand(2, 5, 8)],
                lambda m, x: m(x, mask=causal, src_key_padding_mask=padding, is_causal=True),
                lambda m, x: m(x, mask=torch.from_numpy(causal), src_key_padding_mask=torch.from_numpy(padding),
                               is_causal=True))


def test_encoder_layer_dropout_random_in_training_identity_in_eval():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True, dtype=f64, generator=0)
    x = Tensor(rand(2, 5, 8))
    assert not np.allclose(layer(x).numpy(), layer(x).numpy())
    plain = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=f64)
    plain.load_state_dict(layer.state_dict())
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), plain(x).numpy())


def test_encoder_copies_draw_their_own_seeded_dropout_masks():
    def run(seed):
        layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.5, batch_first=True, dtype=f64, generator=seed)
        encoder = nn.TransformerEncoder(layer, 2)
        x = Tensor(rand(2, 3, 4))
        return [copy.self_attn(x, x, x)[1].numpy() for copy in encoder.layers]

    first, second = run(0)
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(run(0), run(0))  # reproducible


def test_encoder_layer_refuses_unknown_activation():
    with pytest.raises(ValueError, match="TransformerEncoderLayer: activation should be 'relu' or 'gelu'"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")


# ----- batch noise -----------------------------------------------------------------------------

class TokenBatchNorm(nn.Module):
    """BatchNorm1d over the tokens of (N, L, E): statistics over the batch and the sequence, per feature."""

    def __init__(self, e):
        super().__init__()
        self.bn = nn.BatchNorm1d(e, dtype=f64)

    def forward(self, x):
        return self.bn(x.transpose(1, 2)).transpose(1, 2)


def noise(layer):
    x = Tensor(rand(4, 5, 8), name="x")
    return viz.noise_paths(viz.capture(layer, input=x, target=lambda y: (y * y).mean()))


def test_layer_norm_block_has_no_batch_noise_and_batch_norm_block_has():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=f64)
    report = noise(layer)
    assert report.entries == [] and not report.warnings
    (loss,) = report.batch_statistics  # the loss's mean over the batch, outside the layer
    assert report.graph.nodes[next(iter(report.graph.predecessors(loss)))]["module"] is None
    layer.norm1, layer.norm2 = TokenBatchNorm(8), TokenBatchNorm(8)
    report = noise(layer)
    found = sorted((e["module"], e["kind"]) for e in report.entries)
    assert found == [("norm1.bn", "additive"), ("norm1.bn", "multiplicative"),
                     ("norm2.bn", "additive"), ("norm2.bn", "multiplicative")]


def test_attention_dropout_is_a_random_source():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True, dtype=f64, generator=0)
    report = noise(layer)
    assert {e["source_kind"] for e in report.entries} == {"random"}
    assert {e["module"] for e in report.entries} == {"self_attn", "dropout", "dropout1", "dropout2"}


def test_jit_replays_an_encoder_and_lstm_step_bit_for_bit():
    import tinygrad_bn

    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=f64)
    lstm = nn.LSTM(8, 4, batch_first=True, dtype=f64)
    params = [*layer.parameters(), *lstm.parameters()]
    padding = np.zeros((3, 5), bool)

    def loss(x, y):
        return (lstm(layer(x, src_key_padding_mask=padding))[0] - y).pow(2).mean()

    step = tinygrad_bn.jit(loss)
    for i in range(4):  # calls 1 and 2 record, then replays
        padding[i % 3, 4] = True  # a mask that changes between calls; in the last call a row is fully masked
        if i == 3:
            padding[0] = True
        x, y = Tensor(rand(3, 5, 8, seed=i)), Tensor(rand(3, 5, 4, seed=10 + i))
        for p in params:
            p.grad = None
        got = step(x, y).item()
        replayed = [p.grad.numpy().copy() for p in params]
        for p in params:
            p.grad = None
        eager = loss(x, y)
        eager.backward()
        assert got == eager.item()
        for a, p in zip(replayed, params):
            np.testing.assert_array_equal(a, p.grad.numpy())
