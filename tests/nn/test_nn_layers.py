"""Activations (modules and functional), containers and loss modules: PyTorch parity in float64, errors."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

from tinygrad_bn import ShapeError, Tensor, gradcheck, nn
from tinygrad_bn.nn import functional as F


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _agree(ours, theirs, *arrays, grad=True):
    """Same value and input gradients as torch for a random cotangent (float64)."""
    xs = [Tensor(a, requires_grad=grad) for a in arrays]
    txs = [torch.tensor(a, requires_grad=grad) for a in arrays]
    y, ty = ours(*xs), theirs(*txs)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    if grad:
        w = _rand(y.shape, 9)
        (y * Tensor(w)).sum().backward()
        (ty * torch.from_numpy(w)).sum().backward()
        for a, b in zip(xs, txs):
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-10, atol=1e-12)


ACTIVATIONS = [("ReLU", "relu", {}), ("Sigmoid", "sigmoid", {}), ("Tanh", "tanh", {}), ("GELU", "gelu", {}),
               ("GELU", "gelu", {"approximate": "tanh"}), ("LeakyReLU", "leaky_relu", {"negative_slope": 0.2}),
               ("ELU", "elu", {"alpha": 0.7}), ("SiLU", "silu", {}), ("Softmax", "softmax", {"dim": 1}),
               ("LogSoftmax", "log_softmax", {"dim": 0})]


@needs_torch
@pytest.mark.parametrize("module,fn,kw", ACTIVATIONS, ids=lambda v: str(v))
def test_activations_modules_and_functional_match_torch(module, fn, kw):
    x = _rand((5, 4)) * 3
    _agree(getattr(nn, module)(**kw), getattr(torch.nn, module)(**kw), x)
    _agree(lambda t: getattr(F, fn)(t, **kw), lambda t: getattr(torch.nn.functional, fn)(t, **kw), x)


@pytest.mark.parametrize("fn", ["gelu", "elu", "leaky_relu", "silu"])
def test_new_activations_gradcheck(fn):
    x = np.random.default_rng(0).permutation(np.linspace(-3, 3, 12)).reshape(3, 4) + 0.01  # away from the kink at 0
    gradcheck(getattr(F, fn), [Tensor(x, requires_grad=True)])
    gradcheck(lambda t: F.gelu(t, "tanh"), [Tensor(x, requires_grad=True)])


def test_activation_errors():
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh', got 'fast'"):
        nn.GELU("fast")
    with pytest.raises(TypeError, match="Softmax: pass the axis"):
        nn.Softmax()


@needs_torch
@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.1), dict(reduction="sum"), dict(reduction="none"),
                                dict(weight=np.array([1.0, 2.0, 0.5, 3.0])), dict(ignore_index=2),
                                dict(weight=np.array([1.0, 2.0, 0.5, 3.0]), label_smoothing=0.3, ignore_index=0)],
                         ids=str)
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_cross_entropy_and_nll_losses_match_torch(kw, shape):
    logits = _rand(shape) * 2
    labels = np.random.default_rng(1).integers(0, 4, (shape[0], *shape[2:]))
    tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    tl = torch.from_numpy(labels)
    _agree(lambda t: nn.CrossEntropyLoss(**kw)(t, labels), lambda t: torch.nn.CrossEntropyLoss(**tkw)(t, tl), logits)
    kw.pop("label_smoothing", None), tkw.pop("label_smoothing", None)
    _agree(lambda t: nn.NLLLoss(**kw)(F.log_softmax(t, 1), labels),
           lambda t: torch.nn.NLLLoss(**tkw)(torch.log_softmax(t, 1), tl), logits)


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction):
    a, b = _rand((4, 3)), _rand((4, 3), 1)
    _agree(lambda x, y: nn.MSELoss(reduction)(x, y), lambda x, y: torch.nn.MSELoss(reduction=reduction)(x, y), a, b)


def test_loss_errors_name_the_bad_value():
    logits = Tensor(np.zeros((3, 4)))
    with pytest.raises(TypeError, match=r"cross_entropy: labels must be integer class indices, got float64 labels "
                                        r"\(0.5 at position 0\)"):
        F.cross_entropy(logits, np.array([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"cross_entropy: label 7 at position 1 is out of range for 4 classes"):
        nn.CrossEntropyLoss()(logits, [0, 7, 1])
    with pytest.raises(ValueError, match=r"nll_loss: label -1 at position 2 is out of range"):
        F.nll_loss(logits, [0, 1, -1])
    with pytest.raises(ShapeError, match=r"cross_entropy: expected labels of shape \(3,\) .* of shape \(2,\)"):
        F.cross_entropy(logits, [0, 1])
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of"):
        nn.MSELoss("avg")
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing must be in"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ShapeError, match=r"mse_loss: input has shape \(3, 4\) but target has shape \(4,\)"):
        F.mse_loss(logits, np.zeros(4))


def test_containers_register_children_like_torch():
    layers = nn.ModuleList([nn.Linear(2, 3), nn.ReLU()])
    layers.append(nn.Linear(3, 1))
    assert len(layers) == 3 and [k for k, _ in layers.named_children()] == ["0", "1", "2"]
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    layers.insert(1, nn.Identity(54, unused=True))
    del layers[0]
    assert [type(m).__name__ for m in layers] == ["Identity", "ReLU", "Linear"]
    assert isinstance(layers[1:], nn.ModuleList)
    heads = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Tanh()})
    heads["c"] = nn.Identity()
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert heads.pop("b").__class__ is nn.Tanh and heads.keys() == ["a", "c"]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Linear(2, 2, dtype=np.float64) for _ in range(2))

        def forward(self, x):
            for b in self.blocks:
                x = b(x).relu()
            return x

    net = Net()
    assert [n for n, _ in net.named_parameters()][:2] == ["blocks.0.weight", "blocks.0.bias"]
    y = net(Tensor(np.ones((3, 2))))
    assert y.node.module == "" and y.node.inputs[0].node.module == "blocks.1"  # relu in Net, the add in blocks.1


def test_module_refuses_an_input_of_another_float_dtype():
    with pytest.raises(TypeError, match=r"Linear: the input has dtype float64 \(shape \(2, 3\)\) but weight has dtype "
                                        r"float32"):
        nn.Linear(3, 1)(Tensor(np.ones((2, 3))))
    with pytest.raises(TypeError, match="Conv2d: the input has dtype float32 .* but weight has dtype float64"):
        nn.Conv2d(1, 1, 1, dtype=np.float64)(Tensor(np.ones((1, 1, 2, 2), np.float32)))
    with pytest.raises(TypeError, match="BatchNorm1d: .* running_mean has dtype float32"):
        nn.BatchNorm1d(3, affine=False)(Tensor(np.ones((2, 3))))
    assert nn.Linear(3, 1)(Tensor(np.ones((2, 3), np.float32))).dtype == np.float32
