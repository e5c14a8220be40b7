"""Adam and AdamW (``torch.optim.Adam`` / ``AdamW``): one rule, L2 or decoupled weight decay, optional AMSGrad."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .. import validate
from ..tensor import Tensor
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam, ``torch.optim.Adam``'s rule.

    ``weight_decay`` adds ``weight_decay * p`` to the gradient (an L2 penalty), or with
    ``decoupled_weight_decay=True`` shrinks the parameter, ``p *= 1 - lr * weight_decay`` (AdamW).
    Then ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2`` (``v`` its running maximum with
    ``amsgrad``) and ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.

    Args:
        params: parameters, or a list of parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate, >= 0.
        betas: the running averages' coefficients (b1, b2), each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: >= 0, an L2 penalty or decoupled (see above).
        amsgrad: use the maximum of the second moments so far (Reddi et al. 2018).
        maximize: ascend the objective instead.
        decoupled_weight_decay: AdamW's weight decay (Loshchilov & Hutter 2019).

    Raises:
        TypeError, ValueError: a bad hyperparameter, named.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, maximize: bool = False, decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled_weight_decay=decoupled_weight_decay))

    def _check(self, group: Mapping[str, Any]) -> None:
        name = self._name
        for k in ("lr", "eps", "weight_decay"):
            validate.real(name, group[k], k)
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair of numbers (b1, b2), got {betas!r}")
        for i, b in enumerate(betas):
            validate.real(name, b, f"betas[{i}]", 0.0, 1.0, high_open=True)
        for k in ("amsgrad", "maximize", "decoupled_weight_decay"):
            validate.flag(name, group[k], k)

    def _update(self, p: Tensor, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        if wd and group["decoupled_weight_decay"]:
            p.data *= 1 - lr * wd
        elif wd:
            g = g + wd * p.data
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        denom = np.sqrt(v) / np.sqrt(1 - b2**t) + group["eps"]
        p.data -= (lr / (1 - b1**t)) * m / denom


class AdamW(Adam):
    """AdamW, ``torch.optim.AdamW``: :class:`Adam` with decoupled weight decay, 0.01 by default.

    Args:
        params: parameters, or a list of parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate, >= 0.
        betas: the running averages' coefficients (b1, b2), each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: each step multiplies the parameter by ``1 - lr * weight_decay``; >= 0.
        amsgrad: use the maximum of the second moments so far.
        maximize: ascend the objective instead.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
