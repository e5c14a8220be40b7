"""Conv and pool layers check their arguments at construction by PyTorch's rules; Flatten's dims and embedding
indices are checked like PyTorch's. Each bad case is one PyTorch also refuses (at construction or first call)."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

from tinygrad_bn import Tensor, nn
from tinygrad_bn.nn import functional as F

X = np.random.default_rng(0).standard_normal((2, 4, 8, 8))

# (layer, arguments, the words our error must hold)
BAD = [
    ("Conv2d", dict(kernel_size=0), "kernel_size"),
    ("Conv2d", dict(kernel_size=-1), "kernel_size"),
    ("Conv2d", dict(kernel_size=2.0), "kernel_size"),
    ("Conv2d", dict(kernel_size=(3, 0)), "kernel_size"),
    ("Conv2d", dict(kernel_size=3, stride=0), "stride"),
    ("Conv2d", dict(kernel_size=3, stride=-1), "stride"),
    ("Conv2d", dict(kernel_size=3, stride=1.5), "stride"),
    ("Conv2d", dict(kernel_size=3, padding=-1), "padding"),
    ("Conv2d", dict(kernel_size=3, padding=1.0), "padding"),
    ("Conv2d", dict(kernel_size=3, padding="full"), "padding"),
    ("Conv2d", dict(kernel_size=3, padding="same", stride=2), "padding='same'"),
    ("Conv2d", dict(kernel_size=3, dilation=0), "dilation"),
    ("Conv2d", dict(kernel_size=3, dilation=-1), "dilation"),
    ("Conv2d", dict(kernel_size=3, groups=0), "groups"),
    ("Conv2d", dict(kernel_size=3, groups=1.5), "groups"),
    ("Conv1d", dict(kernel_size=0), "kernel_size"),
    ("Conv1d", dict(kernel_size=3, stride=0), "stride"),
    ("Conv1d", dict(kernel_size=3, dilation=0), "dilation"),
    ("MaxPool2d", dict(kernel_size=0), "kernel_size"),
    ("MaxPool2d", dict(kernel_size=2.0), "kernel_size"),
    ("MaxPool2d", dict(kernel_size=3, stride=0), "stride"),
    ("MaxPool2d", dict(kernel_size=3, stride=-1), "stride"),
    ("MaxPool2d", dict(kernel_size=3, stride=1.5), "stride"),
    ("MaxPool2d", dict(kernel_size=3, padding=-1), "padding"),
    ("MaxPool2d", dict(kernel_size=3, padding=2), "padding"),
    ("MaxPool2d", dict(kernel_size=3, padding=2, dilation=2), "padding"),
    ("MaxPool2d", dict(kernel_size=3, dilation=0), "dilation"),
    ("AvgPool2d", dict(kernel_size=0), "kernel_size"),
    ("AvgPool2d", dict(kernel_size=(2, 2.5)), "kernel_size"),
    ("AvgPool2d", dict(kernel_size=3, stride=0), "stride"),
    ("AvgPool2d", dict(kernel_size=3, stride=-2), "stride"),
    ("AvgPool2d", dict(kernel_size=3, padding=-1), "padding"),
    ("AvgPool2d", dict(kernel_size=3, padding=2), "padding"),
    ("AdaptiveAvgPool2d", dict(output_size=-1), "output_size"),
    ("AdaptiveAvgPool2d", dict(output_size=2.0), "output_size"),
]


def _make(lib, layer, kwargs):
    cls = getattr(lib, layer)
    if layer.startswith("Conv"):
        return cls(4, 4, **kwargs)
    return cls(**kwargs)


def _input(layer):
    return X[:, :, 0] if layer == "Conv1d" else X


@pytest.mark.parametrize("layer, kwargs, words", BAD, ids=[f"{b[0]}-{b[1]}" for b in BAD])
def test_a_bad_argument_is_refused_at_construction_naming_the_layer_and_argument(layer, kwargs, words):
    with pytest.raises((TypeError, ValueError)) as e:
        _make(nn, layer, kwargs)
    assert str(e.value).startswith(f"{layer}: ") and words in str(e.value)
    floats = any(isinstance(v, float) for a in kwargs.values() for v in (a if isinstance(a, tuple) else (a,)))
    assert isinstance(e.value, TypeError if floats else ValueError)


TORCH_BAD = [b for b in BAD if b[1] != dict(output_size=2.0)]  # PyTorch truncates a float output size


@needs_torch
@pytest.mark.parametrize("layer, kwargs, words", TORCH_BAD, ids=[f"{b[0]}-{b[1]}" for b in TORCH_BAD])
def test_pytorch_refuses_the_same_arguments(layer, kwargs, words):
    """The cases above are bad by PyTorch's rules too (it may refuse them only at the first call)."""
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        _make(torch.nn, layer, kwargs)(torch.tensor(_input(layer)))


@pytest.mark.parametrize("call, words", [
    (lambda: F.conv2d(Tensor(X), Tensor(np.ones((4, 4, 3, 3))), stride=0), "conv2d: invalid stride 0"),
    (lambda: F.conv2d(Tensor(X), Tensor(np.ones((4, 4, 3, 3))), dilation=(1, 0)), "conv2d: invalid dilation 0"),
    (lambda: F.conv2d(Tensor(X), Tensor(np.ones((4, 4, 3, 3))), groups=0), "conv2d: invalid groups 0"),
    (lambda: F.conv2d(Tensor(X), Tensor(np.ones((4, 4, 0, 3)))), "conv2d: the kernel must be at least 1x1"),
    (lambda: F.conv1d(Tensor(X[:, :, 0]), Tensor(np.ones((4, 4, 3))), stride=-1), "conv1d: invalid stride -1"),
    (lambda: F.max_pool2d(Tensor(X), 2, stride=0), "max_pool2d: invalid stride 0"),
    (lambda: F.max_pool2d(Tensor(X), 2, dilation=0), "max_pool2d: invalid dilation 0"),
    (lambda: F.avg_pool2d(Tensor(X), 0), "avg_pool2d: invalid kernel_size 0"),
    (lambda: F.avg_pool2d(Tensor(X), 2.5), "avg_pool2d: kernel_size must be an integer"),
    (lambda: F.adaptive_avg_pool2d(Tensor(X), 0), "adaptive_avg_pool2d: invalid output_size 0"),
])
def test_the_functional_forms_check_at_their_boundary(call, words):
    with pytest.raises((TypeError, ValueError), match=words):
        call()


@needs_torch
def test_good_arguments_still_match_pytorch():
    x = np.random.default_rng(1).standard_normal((2, 4, 9, 9))
    for kwargs in (dict(kernel_size=3, stride=(2, 1), padding=1), dict(kernel_size=(2, 3), dilation=2)):
        ours, theirs = nn.Conv2d(4, 2, **kwargs, dtype=np.float64), torch.nn.Conv2d(4, 2, **kwargs).double()
        ours.weight.data[...], ours.bias.data[...] = theirs.weight.detach().numpy(), theirs.bias.detach().numpy()
        np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), atol=1e-12)
    for ours, theirs in ((nn.MaxPool2d(3, 2, 1, dilation=2), torch.nn.MaxPool2d(3, 2, 1, dilation=2)),
                         (nn.AvgPool2d(np.int64(3), [2, 1], 1), torch.nn.AvgPool2d(3, (2, 1), 1))):
        np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).numpy(), atol=1e-12)


@needs_torch
@pytest.mark.parametrize("dims", [(4,), (1, 4), (-5,), (0, -5), (1, 7)])
def test_flatten_dims_out_of_range_are_an_index_error_like_pytorch(dims):
    with pytest.raises(IndexError):
        torch.nn.Flatten(*dims)(torch.tensor(X))
    with pytest.raises(IndexError, match=r"Flatten: (start|end)_dim -?\d+ is out of range .*\(2, 4, 8, 8\)"):
        nn.Flatten(*dims)(Tensor(X))


@needs_torch
@pytest.mark.parametrize("dims", [(0,), (1, 2), (-3, -1), (3, 3), (0, -1)])
def test_flatten_dims_in_range_match_pytorch(dims):
    assert nn.Flatten(*dims)(Tensor(X)).shape == tuple(torch.nn.Flatten(*dims)(torch.tensor(X)).shape)


def test_flatten_dims_must_be_integers():
    with pytest.raises(TypeError, match="Flatten: start_dim must be an integer"):
        nn.Flatten(1.0)
    with pytest.raises(TypeError, match="Flatten: end_dim must be an integer"):
        nn.Flatten(1, "last")


@pytest.mark.parametrize("indices", [Tensor(np.array([1.0, 2.0])), np.array([1.0]), [0.5], Tensor([[1.0]])])
def test_embedding_indices_must_be_integers(indices):
    with pytest.raises(TypeError, match=r"Embedding: indices must be integers .*got dtype float"):
        nn.Embedding(5, 3)(indices)
    with pytest.raises(TypeError, match=r"embedding: indices must be integers"):
        F.embedding(indices, Tensor(np.ones((5, 3))))


def test_embedding_integer_indices_still_work():
    emb = nn.Embedding(5, 3, generator=0)
    np.testing.assert_array_equal(emb(Tensor(np.array([4, 0]))).data, emb.weight.data[[4, 0]])
