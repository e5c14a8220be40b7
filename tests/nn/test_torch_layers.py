"""The layers and utilities added for PyTorch users, against torch 2.13: Hardtanh, Upsample / interpolate,
ReLU(inplace=True), parameters_to_vector / vector_to_parameters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

from tinygrad_bn import ShapeError, Tensor, gradcheck, nn
from tinygrad_bn.testing import compare_with_torch

UPSAMPLES = [dict(scale_factor=2), dict(size=(7, 3)), dict(scale_factor=0.6), dict(scale_factor=(2, 1.5)),
             dict(scale_factor=2, mode="bilinear"), dict(size=(3, 9), mode="bilinear", align_corners=True),
             dict(scale_factor=1.7, mode="bilinear"), dict(size=(2, 2), mode="bilinear")]


@needs_torch
@pytest.mark.parametrize("kw", UPSAMPLES, ids=str)
@settings(max_examples=5, deadline=None)
@given(h=st.integers(2, 5), w=st.integers(2, 5), seed=st.integers(0, 100))
def test_upsample_values_and_gradients_equal_torch(kw, h, w, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    compare_with_torch(nn.Upsample(**kw), torch.nn.Upsample(**kw), [x], rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("kw", [dict(scale_factor=3), dict(size=5, mode="linear"),
                                dict(size=7, mode="linear", align_corners=True)], ids=str)
def test_one_dimensional_interpolation_equals_torch(kw):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    compare_with_torch(lambda t: nn.functional.interpolate(t, **kw),
                       lambda t: torch.nn.functional.interpolate(t, **kw), [x], rtol=1e-10, atol=1e-12)
    gradcheck(lambda t: nn.functional.interpolate(t, **kw), [x])


def test_upsample_refuses_what_torch_refuses():
    with pytest.raises(ValueError, match="Upsample: mode must be one of"):
        nn.Upsample(scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()
    with pytest.raises(ShapeError, match="mode 'bilinear' does not fit an input of shape"):
        nn.Upsample(scale_factor=2, mode="bilinear")(Tensor(np.ones((1, 2, 3))))


@needs_torch
def test_hardtanh_and_relu_inplace_equal_torch():
    x = np.linspace(-3, 3, 13).reshape(1, 13)
    compare_with_torch(nn.Hardtanh(-0.5, 2.0), torch.nn.Hardtanh(-0.5, 2.0), [x])
    compare_with_torch(nn.ReLU(inplace=True), lambda t: torch.nn.ReLU()(t), [x])
    assert repr(nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))
    with pytest.raises(ValueError, match="Hardtanh: max_val"):
        nn.Hardtanh(1.0, 1.0)


@needs_torch
def test_parameters_to_vector_and_back_equal_torch():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)).double()
    twin.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in model.state_dict().items()})
    vec = nn.utils.parameters_to_vector(model.parameters())
    tvec = torch.nn.utils.parameters_to_vector(twin.parameters())
    np.testing.assert_allclose(vec.data, tvec.detach().numpy(), rtol=1e-6)
    (vec * vec).sum().backward()  # the vector stays in the graph
    np.testing.assert_allclose(model[0].weight.grad.data, 2 * model[0].weight.data)
    new = Tensor(np.arange(vec.numel(), dtype=np.float32))
    nn.utils.vector_to_parameters(new, model.parameters())
    torch.nn.utils.vector_to_parameters(torch.arange(float(vec.numel()), dtype=torch.float64), twin.parameters())
    for (k, ours), theirs in zip(model.state_dict().items(), twin.state_dict().values()):
        np.testing.assert_allclose(ours, theirs.numpy(), err_msg=k)
    with pytest.raises(ValueError, match="vector_to_parameters: expected a 1-D Tensor of 34 entries"):
        nn.utils.vector_to_parameters(Tensor(np.ones(5)), model.parameters())
