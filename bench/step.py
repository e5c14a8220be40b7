"""One training step of the MLP 784-256-256-10 (BatchNorm1d + ReLU after each hidden Linear, or ReLU only).

Every system starts from the same parameters (``handwritten.init_params``) and the same batch; a step
is forward, mean cross-entropy, backward and an SGD update.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinygrad_bn import Tensor, jit, nn, optim

from . import handwritten
from .handwritten import Params

SIZES = (784, 256, 256, 10)
LR = 0.1
Step = Callable[[], object]


def batch(size: int, seed: int = 0, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """A random input batch (size, 784) and integer labels in [0, 10)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((size, SIZES[0])).astype(dtype), rng.integers(0, SIZES[-1], size)


def model(params: Params) -> nn.Sequential:
    """Our nn.Sequential holding ``params`` (weights transposed to nn.Linear's (out, in))."""
    layers: list[nn.Module] = []
    for i, p in enumerate(params):
        n_in, n_out = p["W"].shape
        dtype = p["W"].dtype
        linear = nn.Linear(n_in, n_out, dtype=dtype)
        linear.weight.data[...] = p["W"].T
        linear.bias.data[...] = p["b"]
        layers.append(linear)
        if i < len(params) - 1:
            if "gamma" in p:
                norm = nn.BatchNorm1d(n_out, dtype=dtype)
                norm.weight.data[...] = p["gamma"]
                norm.bias.data[...] = p["beta"]
                layers.append(norm)
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def ours(params: Params, x: np.ndarray, y: np.ndarray, lr: float = LR) -> Step:
    net = model(params)
    opt = optim.SGD(net.parameters(), lr=lr)
    xt = Tensor(x)

    def step() -> Tensor:
        opt.zero_grad()
        loss = net(xt).cross_entropy(y)
        loss.backward()
        opt.step()
        return loss
    return step


def ours_jit(params: Params, x: np.ndarray, y: np.ndarray, lr: float = LR) -> Step:
    """Our step with the forward and backward replayed by ``tinygrad_bn.jit`` (bit-identical to :func:`ours`)."""
    net = model(params)
    opt = optim.SGD(net.parameters(), lr=lr)
    loss_of = jit(lambda xb, yb: net(xb).cross_entropy(yb))
    xt, yt = Tensor(x), Tensor(y)

    def step() -> Tensor:
        opt.zero_grad()
        loss = loss_of(xt, yt)
        opt.step()
        return loss
    return step


def hand(params: Params, x: np.ndarray, y: np.ndarray, lr: float = LR) -> Step:
    own = handwritten.copy_params(params)
    return lambda: handwritten.sgd_step(own, x, y, lr)


def check(batch_size: int = 32, bn: bool = True, rtol: float = 1e-9) -> float:
    """Compare the hand-written loss and gradients with ours in float64.

    Returns the largest error relative to the largest gradient entry; AssertionError above ``rtol``.
    """
    params = handwritten.init_params(SIZES, bn=bn, seed=1, dtype=np.float64)
    x, y = batch(batch_size, seed=1, dtype=np.float64)
    net = model(params)
    loss = net(Tensor(x)).cross_entropy(y)
    loss.backward()
    hand_loss, grads = handwritten.loss_and_grads(handwritten.copy_params(params), x, y)
    ours_grads: list[np.ndarray] = [p.grad.data for p in net.parameters()]
    hand_grads: list[np.ndarray] = []
    for g in grads:  # nn.Sequential's order: Linear weight, bias, then BatchNorm weight, bias
        hand_grads += [g["W"].T, g["b"]] + ([g["gamma"], g["beta"]] if "gamma" in g else [])
    assert len(ours_grads) == len(hand_grads), "check: parameter lists differ"
    scale = max(float(np.max(np.abs(g))) for g in hand_grads)  # biases before BN have a zero gradient
    worst = abs(loss.item() - hand_loss) / abs(hand_loss)
    for a, b in zip(ours_grads, hand_grads, strict=True):
        assert a.shape == b.shape, f"check: gradient shapes differ: {a.shape} vs {b.shape}"
        worst = max(worst, float(np.max(np.abs(a - b))) / scale)
    assert worst <= rtol, f"check: hand-written and tinygrad_bn gradients differ (relative error {worst:.2e})"
    return worst
