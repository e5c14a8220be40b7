"""The loss modules, PyTorch's CrossEntropyLoss, NLLLoss and MSELoss, over :mod:`tinygrad_bn.ops.losses`."""

from __future__ import annotations

from typing import Any

from ..ops.losses import check_reduction, cross_entropy, mse_loss, nll_loss
from ..tensor import Tensor
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """:func:`cross_entropy` as a module: ``CrossEntropyLoss(weight=None, ignore_index=-100, reduction="mean",
    label_smoothing=0.0)(logits, labels)``.

    Args:
        weight: optional (C,) weight per class.
        ignore_index: a label value that contributes nothing.
        reduction: "mean", "sum" or "none".
        label_smoothing: in [0, 1].

    Raises:
        ValueError: ``label_smoothing`` outside [0, 1], or an unknown ``reduction``.
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, logits: Tensor, labels: Any) -> Tensor:
        """Return :func:`cross_entropy` of ``logits`` against ``labels`` with this module's settings.

        Args:
            logits: unnormalized scores of shape (N, C) or (N, C, d1, ...).
            labels: integer class indices of shape (N,) or (N, d1, ...).
        """
        return cross_entropy(logits, labels, self.weight, self.ignore_index, self.reduction, self.label_smoothing)

    def extra_repr(self) -> str:
        """Return the constructor arguments shown in ``repr``."""
        return super().extra_repr() + (f", label_smoothing={self.label_smoothing}" if self.label_smoothing else "")


class NLLLoss(_Loss):
    """:func:`nll_loss` as a module: ``NLLLoss(weight=None, ignore_index=-100, reduction="mean")(log_probs, labels)``.

    Args:
        weight: optional (C,) weight per class.
        ignore_index: a label value that contributes nothing.
        reduction: "mean", "sum" or "none".
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, log_probs: Tensor, labels: Any) -> Tensor:
        """Return :func:`nll_loss` of ``log_probs`` against ``labels`` with this module's settings.

        Args:
            log_probs: log-probabilities of shape (N, C) or (N, C, d1, ...).
            labels: integer class indices of shape (N,) or (N, d1, ...).
        """
        return nll_loss(log_probs, labels, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """:func:`mse_loss` as a module: ``MSELoss(reduction="mean")(x, target)``.

    Args:
        reduction: "mean", "sum" or "none".
    """

    def forward(self, x: Tensor, target: Any) -> Tensor:
        """Return :func:`mse_loss` of ``x`` against ``target`` with this module's reduction.

        Args:
            x: the predictions, any shape.
            target: the targets, of ``x``'s shape.
        """
        return mse_loss(x, target, self.reduction)
