"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (``torch.optim.SGD``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .. import validate
from ..tensor import Tensor
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, ``torch.optim.SGD``'s rule.

    ``g += weight_decay * p``; with momentum ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g``
    on the first step), then ``g = g + momentum * buf`` (Nesterov) or ``g = buf``; ``p -= lr * g``.

    Args:
        params: parameters, or a list of parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate, >= 0.
        momentum: momentum factor, >= 0.
        dampening: dampening of the momentum, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend the objective instead.

    Raises:
        TypeError, ValueError: a bad hyperparameter, named.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _check(self, group: Mapping[str, Any]) -> None:
        for k in ("lr", "momentum", "dampening", "weight_decay"):
            validate.real("SGD", group[k], k)
        for k in ("nesterov", "maximize"):
            validate.flag("SGD", group[k], k)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, p: Tensor, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g
