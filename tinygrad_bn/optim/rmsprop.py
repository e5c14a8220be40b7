"""RMSprop (``torch.optim.RMSprop``): plain or centered, with optional momentum and weight decay."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .. import validate
from ..tensor import Tensor
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop, ``torch.optim.RMSprop``'s rule.

    ``g += weight_decay * p``; ``s = alpha s + (1 - alpha) g^2``; the denominator is
    ``sqrt(s) + eps``, or ``sqrt(s - a^2) + eps`` with ``centered`` (``a = alpha a + (1 - alpha) g``);
    with momentum ``buf = momentum buf + g / denom`` and ``p -= lr buf``, else ``p -= lr g / denom``.

    Args:
        params: parameters, or a list of parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate, >= 0.
        alpha: smoothing constant of the squared-gradient average, >= 0.
        eps: added to the denominator, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        momentum: momentum factor, >= 0.
        centered: divide by an estimate of the gradient's variance instead of its second moment.
        maximize: ascend the objective instead.

    Raises:
        TypeError, ValueError: a bad hyperparameter, named.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _check(self, group: Mapping[str, Any]) -> None:
        for k in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            validate.real("RMSprop", group[k], k)
        for k in ("centered", "maximize"):
            validate.flag("RMSprop", group[k], k)

    def _update(self, p: Tensor, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state.update(step=0, square_avg=np.zeros_like(p.data))
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        state["step"] += 1
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * g * g
        if group["centered"]:
            a = state["grad_avg"]
            a *= alpha
            a += (1 - alpha) * g
            denom = np.sqrt(s - a * a) + group["eps"]
        else:
            denom = np.sqrt(s) + group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / denom
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * g / denom
