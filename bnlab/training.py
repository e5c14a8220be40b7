"""What every experiment shares: the datasets as float32 splits, the MLP, a seeded training loop, accuracy."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from tinygrad_bn import AnomalyError, Tensor, data, detect_anomaly, jit, manual_seed, nn, no_grad, optim
from tinygrad_bn.autograd import constant

CHANCE = 0.1
"""The accuracy a diverged run counts as where a comparison needs a number (guessing among 10 classes)."""
DIVERGED = "diverged"
"""What a run's record holds instead of an accuracy when the run diverged (the report shows it as such)."""


def counted(run: Mapping[str, Any], key: str) -> float:
    """The accuracy ``run[key]`` as a number for a comparison: :data:`CHANCE` where it says :data:`DIVERGED`.

    Args:
        run: one run's record.
        key: the accuracy's key in it.
    """
    return CHANCE if run[key] == DIVERGED else run[key]


@dataclass
class Split:
    """A train/test split as float32 features and int64 labels."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


@functools.cache
def _raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Dataset ``name`` with pixels in [0, 1] (mnist1d as generated: centred, standard deviation 1), loaded once
    per process (callers never modify it)."""
    loaders = {"digits": (data.load_digits, 16.0), "mnist": (data.load_mnist_5k, 255.0),
               "mnist1d": (data.load_mnist1d, 1.0)}
    if name not in loaders:
        raise ValueError(f"load: unknown dataset {name!r}; choose one of {sorted(loaders)}")
    loader, top = loaders[name]
    X, y = loader(dtype=np.float64)  # the experiments standardize in float64 before casting to float32
    X /= top
    X.flags.writeable = y.flags.writeable = False
    return X, y


def load(
    name: str,
    seed: int,
    standardize: bool = True,
    scales: np.ndarray | None = None,
    train_size: int | None = None,
) -> Split:
    """Dataset ``name`` ("digits", "mnist" or "mnist1d"), split 80/20 with ``seed``.

    Pixels are first mapped to [0, 1]; ``scales`` then multiplies each feature (to give features wildly
    different ranges); ``train_size`` keeps that many training rows (drawn with ``seed``; the test set stays
    whole); ``standardize`` finally z-scores every feature with training statistics.
    """
    X, y = _raw(name)
    if scales is not None:
        X = X * scales
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_fraction=0.2, seed=seed)
    if train_size is not None:
        keep = np.random.default_rng(seed).permutation(len(ytr))[:train_size]
        Xtr, ytr = Xtr[keep], ytr[keep]
    if standardize:
        Xtr, Xte = data.standardize(Xtr, Xte)
    return Split(Xtr.astype(np.float32), ytr, Xte.astype(np.float32), yte)


class NoisyBatchNorm(nn.Module):
    """BatchNorm1d followed by noise on every activation of every example, from a distribution redrawn each step.

    Santurkar et al. 2018, §2.1 and Fig. 2 ("noisy BN"): each activation of each example is perturbed with i.i.d.
    noise of non-zero mean and non-unit variance, the noise's distribution changing at every step. Here, at step
    t, unit j gets a mean shift ``mu_tj ~ U(-shift, shift)`` and a mean scale ``c_tj ~ U(1 - scale, 1 + scale)``;
    example i's activation becomes ``y_ij * s_ij + m_ij`` with ``s_ij ~ N(c_tj, spread^2)`` and
    ``m_ij ~ N(mu_tj, spread^2)``. So the next layer sees a distribution whose mean and variance keep moving.
    Identity after BN in eval mode. (The paper does not give its ranges; these are ours.)

    Args:
        num_features: C of the (N, C) input.
        shift: half-width of the range of the per-step mean shift.
        scale: half-width of the range of the per-step scale around 1.
        spread: standard deviation of the per-example noise around the step's shift and scale.
        generator: a seed or ``numpy.random.Generator`` for the noise.
    """

    def __init__(self, num_features: int, shift: float = 1.0, scale: float = 0.5, spread: float = 0.1,
                 generator: int | np.random.Generator = 0) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(num_features)
        self.shift, self.scale, self.spread = shift, scale, spread
        self.rng = np.random.default_rng(generator)

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn(x)
        if not self.training:
            return y
        # drawn as constants of the graph, so a jit replay draws them afresh; one draw gives both (scale, shift)
        noise = constant(functools.partial(self._draw, y.shape, y.dtype))
        return y * noise[0] + noise[1]

    def _draw(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        n, c = shape
        scale, shift = self.rng.uniform(1 - self.scale, 1 + self.scale, c), self.rng.uniform(-self.shift, self.shift, c)
        centre = np.stack([scale, shift])
        return (centre[:, None, :] + self.spread * self.rng.standard_normal((2, n, c))).astype(dtype)

    def extra_repr(self) -> str:
        return f"{self.bn.num_features}, shift={self.shift}, scale={self.scale}, spread={self.spread}"


NORMS = ("none", "bn", "renorm", "ln", "gn", "ghost", "noisy")
"""The normalizers :func:`mlp` can put after each hidden Linear layer."""


def norm_layer(norm: str, width: int, *, ghost_batch: int = 64, groups: int = 8, seed: int = 0) -> nn.Module | None:
    """One normalization layer for ``width`` units: BatchNorm1d, BatchRenorm1d, LayerNorm, GroupNorm, GhostBatchNorm or
    noisy BN.

    Raises:
        ValueError: for an unknown ``norm``.
    """
    if norm == "none":
        return None
    if norm == "bn":
        return nn.BatchNorm1d(width)
    if norm == "renorm":
        return nn.BatchRenorm1d(width)
    if norm == "ln":
        return nn.LayerNorm(width)
    if norm == "gn":
        return nn.GroupNorm(groups, width)
    if norm == "ghost":
        return nn.GhostBatchNorm(width, virtual_batch_size=ghost_batch)
    if norm == "noisy":
        return NoisyBatchNorm(width, generator=seed)
    raise ValueError(f"mlp: unknown norm {norm!r}; choose one of {', '.join(NORMS)}")



def set_bn_statistics(model: nn.Sequential, X: np.ndarray, ddof: int = 0) -> None:
    """Set every BatchNorm1d's running statistics to the mean and variance (``ddof`` 0: biased, what a train-mode
    pass on ``X`` normalizes with; 1: unbiased, a population estimate) of its input over all of ``X``.

    Layer by layer in eval mode, so each BN sees its input as the network computes it with the earlier BN layers
    already on their new statistics.
    """
    was = model.training
    model.eval()
    with no_grad():
        h = Tensor(X)
        for layer in model:
            if isinstance(layer, nn.BatchNorm1d):
                z = h.data.astype(np.float64)
                layer.running_mean.data[...] = z.mean(axis=0)
                layer.running_var.data[...] = z.var(axis=0, ddof=ddof)
            h = layer(h)
    model.train(was)

def mlp(
    sizes: list[int],
    *,
    norm: str = "none",
    dropout: float = 0.0,
    activation: str = "relu",
    ghost_batch: int = 64,
    bias: bool = True,
    init: str = "default",
    seed: int = 0,
) -> nn.Sequential:
    """Linear layers of ``sizes``; each hidden one followed by [a normalizer], the activation, [Dropout].

    Args:
        sizes: widths from the input to the output, e.g. ``[64, 128, 128, 10]``.
        norm: one of :data:`NORMS` ("none", "bn", "renorm": BatchRenorm1d with r_max 3 and d_max 5, "ln", "gn" with 8
            groups, "ghost" with ``ghost_batch``, "noisy": :class:`NoisyBatchNorm`).
        dropout: dropout probability after each hidden activation (0: none).
        activation: "relu", "sigmoid" or "tanh".
        ghost_batch: the virtual batch size of "ghost".
        bias: whether the Linear layers have a bias.
        init: "default" (PyTorch's U(+-1/sqrt(fan_in))) or "he" (N(0, 2/fan_in), He et al. 2015, biases zero).
        seed: the weights are drawn from the library's generator reseeded with ``seed``: one seed, one network.
    """
    if init not in ("default", "he"):
        raise ValueError(f"mlp: unknown init {init!r}; choose 'default' or 'he'")
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
    manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b, bias=bias))
        if i == len(sizes) - 2:
            break
        layer = norm_layer(norm, b, ghost_batch=ghost_batch, seed=seed * 1000 + i)
        if layer is not None:
            layers.append(layer)
        layers.append(acts[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
    if init == "he":
        rng = np.random.default_rng(seed)
        for layer in layers:
            if isinstance(layer, nn.Linear):
                layer.weight.data[...] = rng.normal(0, math.sqrt(2 / layer.weight.shape[1]), layer.weight.shape)
                if layer.bias is not None:
                    layer.bias.data[...] = 0
    return nn.Sequential(*layers)


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows classified correctly, in eval mode (the model's mode is restored)."""
    return float((predict(model, X) == y).mean())


def predict(model: nn.Module, X: np.ndarray, train_mode: bool = False) -> np.ndarray:
    """Predicted classes of ``X`` as one batch, in eval mode unless ``train_mode``."""
    return logits(model, X, train_mode).argmax(axis=1)


def logits(model: nn.Module, X: np.ndarray, train_mode: bool = False) -> np.ndarray:
    """The model's outputs on ``X`` as one batch without recording a graph, in eval mode unless ``train_mode``.

    In train mode BN layers still update their running statistics; callers that care save and restore them.
    """
    was = model.training
    model.train(train_mode)
    try:
        with no_grad():
            return model(Tensor(X)).data
    finally:
        model.train(was)


@dataclass
class History:
    """Test accuracy (and validation accuracy when asked) every ``eval_every`` steps, the training loss of every step,
    and whether it diverged (``divergence`` then says at which step and where: "diverged at step k (first non-finite
    value at op …)")."""

    steps: list[int] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    diverged: bool = False
    divergence: str | None = None

    def steps_to(self, target: float) -> int | None:
        """The first evaluated step at which test accuracy reached ``target``, or None."""
        return next((s for s, a in zip(self.steps, self.test_acc, strict=True) if a >= target), None)

    @property
    def final_acc(self) -> float:
        return self.test_acc[-1] if self.test_acc else 0.0


def minibatches(X: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator):
    """An endless stream of shuffled full mini-batches, epoch after epoch."""
    batch_size = min(batch_size, len(y))
    while True:
        yield from data.batches(X, y, batch_size, shuffle=True, seed=rng, drop_last=True)


def train(
    model: nn.Module,
    split: Split,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    eval_every: int = 25,
    desc: str | None = None,
    progress: bool = True,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    after_step: Callable[[int], None] | None = None,
) -> History:
    """Plain mini-batch SGD on cross-entropy; stops early (``diverged``) when the loss is not finite (or above 1e4).

    ``validation`` (features, labels), e.g. carved from the training set, is evaluated beside the test set.
    Parameters with ``requires_grad`` False stay as they are; ``weight_decay`` is SGD's L2 term on every trained
    parameter; ``after_step(step)`` is called after each update (to record or constrain the parameters).
    """
    opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    history = History()
    stream = minibatches(split.X_train, split.y_train, batch_size, np.random.default_rng(seed))
    model.train()
    bar = tqdm(range(1, steps + 1), desc=desc, leave=False, disable=not progress, mininterval=0.5)
    loss_and_grads = jit(lambda x, y: model(x).cross_entropy(y))  # eager numbers, replayed (tinygrad_bn.jit)
    for step in bar:
        xb, yb = next(stream)
        opt.zero_grad()
        value = float(loss_and_grads(xb, yb).data)
        history.loss.append(value)
        if not math.isfinite(value) or value > 1e4:
            history.diverged = True
            history.divergence = f"diverged at step {step} ({_first_nonfinite(model, xb, yb, value)})"
            break
        opt.step()
        if after_step is not None:
            after_step(step)
        if step % eval_every == 0 or step == steps:
            history.steps.append(step)
            history.test_acc.append(accuracy(model, split.X_test, split.y_test))
            if validation is not None:
                history.val_acc.append(accuracy(model, *validation))
    bar.close()
    return history


def _first_nonfinite(model: nn.Module, xb: np.ndarray, yb: np.ndarray, loss: float) -> str:
    """Where the diverged step's forward first went non-finite: replayed under ``detect_anomaly``, the
    model's state restored afterwards."""
    if math.isfinite(loss):
        return f"loss {loss:.3g} > 1e4, every value finite"
    bad = [name for name, p in model.named_parameters() if not np.isfinite(p.data).all()]
    state = {k: v.copy() for k, v in model.state_dict().items()}
    try:
        with detect_anomaly(), no_grad():
            model(Tensor(xb)).cross_entropy(yb)
    except AnomalyError as e:
        where = f"first non-finite value at op '{e.op}' in module {e.module!r}" if e.module else \
            f"first non-finite value at op '{e.op}'"
        return where + (f"; parameter {bad[0]!r} was already non-finite after the previous update" if bad else "")
    finally:
        model.load_state_dict(state)
    return "the replayed forward stayed finite"
