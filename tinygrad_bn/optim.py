"""Optimizers with PyTorch's update rules: SGD (momentum, dampening, Nesterov, weight decay) and Adam."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .tensor import Tensor


class Optimizer:
    """Holds the parameters to update; ``step()`` applies one update from their ``.grad``."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params: list[Tensor] = []
        for p in params:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: parameters must be Tensors that require grad, got {p!r}")
            if all(p is not q for q in self.params):
                self.params.append(p)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if lr < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr}")
        self.lr = lr

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self._update(i, p, p.grad.data)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, ``torch.optim.SGD``'s rule.

    ``g += weight_decay * p``; with momentum ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g``
    on the first step), then ``g = g + momentum * buf`` (Nesterov) or ``g = buf``; ``p -= lr * g``.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr)
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: momentum ({momentum}) and weight_decay ({weight_decay}) must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")
        self.momentum, self.dampening, self.weight_decay, self.nesterov = momentum, dampening, weight_decay, nesterov
        self.buffers: list[np.ndarray | None] = [None] * len(self.params)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        if self.momentum:
            buf = self.buffers[i]
            if buf is None:
                buf = self.buffers[i] = np.array(g, dtype=p.dtype)
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        p.data -= self.lr * g


class Adam(Optimizer):
    """Adam, ``torch.optim.Adam``'s rule; ``weight_decay`` adds an L2 term to the gradient (not AdamW)."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1) or eps < 0 or weight_decay < 0:
            raise ValueError(f"Adam: invalid betas {betas}, eps {eps} or weight_decay {weight_decay}")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.steps = [0] * len(self.params)
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        self.steps[i] += 1
        t = self.steps[i]
        m, v = self.m[i], self.v[i]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        denom = np.sqrt(v) / np.sqrt(1 - b2**t) + self.eps
        p.data -= (self.lr / (1 - b1**t)) * m / denom
