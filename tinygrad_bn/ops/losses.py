"""Losses as functions composed from primitive ops: cross_entropy, nll_loss, mse_loss (PyTorch's semantics), mse."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..graph import scope
from ..tensor import ShapeError, Tensor, constant, where
from .composites import log_softmax

_REDUCTIONS = ("mean", "sum", "none")


def _labels(name: str, scores: Tensor, labels: Any, ignore_index: int) -> tuple[Tensor, Tensor, np.ndarray]:
    """Scores (N, C, ...) moved to (M, C) rows, the integer labels checked and flattened to (M,), and which count.

    The labels stay a Tensor (flattened by an op): what depends on their values is made with
    :func:`~tinygrad_bn.autograd.constant`, so a jit replay recomputes it for each call's labels.
    """
    if scores.ndim < 2:
        raise ShapeError(f"{name}: expected scores of shape (N, C) or (N, C, d1, ...), got {scores.shape}")
    labels = labels if isinstance(labels, Tensor) else Tensor(np.asarray(labels))
    want = scores.shape[:1] + scores.shape[2:]
    if labels.shape != want:
        raise ShapeError(f"{name}: expected labels of shape {want} for scores of shape {scores.shape}, got labels of "
                         f"shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        flat = labels.data.reshape(-1)
        frac = np.flatnonzero(flat != np.round(flat)) if labels.dtype.kind == "f" else ()
        i = int(frac[0]) if len(frac) else 0
        value = f" ({flat[i].item()!r} at position {i})" if flat.size else ""
        raise TypeError(f"{name}: labels must be integer class indices, got {labels.dtype} labels{value}; "
                        "class-probability targets are not supported")
    c = scores.shape[1]
    keep = _check_labels(name, c, ignore_index, True, labels.data.reshape(-1))
    if scores.ndim > 2:  # (N, C, d1, ...) -> (N*d1*..., C)
        scores = scores.reshape(scores.shape[0], c, -1).transpose(1, 2).reshape(-1, c)
    return scores, labels.reshape(-1), keep


def _check_labels(name: str, c: int, ignore_index: int, ignoring: bool, y: np.ndarray) -> np.ndarray:
    """Which labels count; a ValueError naming the first label outside [0, c) (ignore_index allowed if ``ignoring``)."""
    keep = y != ignore_index
    out = (y < 0) | (y >= c)
    out = out & keep if ignoring else out | ~keep
    if out.any():
        i = int(np.flatnonzero(out)[0])
        hint = (f"; labels must lie in [0, {c}) or equal ignore_index={ignore_index}" if ignoring else
                f": a jit recorded this loss on labels without ignore_index={ignore_index}, so every label must lie "
                f"in [0, {c})")
        raise ValueError(f"{name}: label {y[i]} at position {i} is out of range for {c} classes{hint}")
    return keep


def _one_hot(name: str, c: int, ignore_index: int, ignoring: bool, y: np.ndarray) -> np.ndarray:
    """(M, c) booleans: True at each counted label's class (a row of False for an ignored label)."""
    hot = y[:, None] == np.arange(c)
    if not ignoring and not 0 <= ignore_index < c and (not y.size or (y.min() >= 0 and y.max() < c)):
        return hot  # every label is a class (the common case: two reductions check it)
    return hot & _check_labels(name, c, ignore_index, ignoring, y)[:, None]


def _label_weights(ignore_index: int, dtype: np.dtype, weight: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    """(M,) the weight of each label's class (1 without ``weight``), 0 for an ignored label."""
    keep = y != ignore_index
    return keep.astype(dtype) if weight is None else np.where(keep, weight[np.where(keep, y, 0)], 0).astype(dtype)


def _reduce(losses: Tensor, counted: Tensor | None, reduction: str, shape: tuple[int, ...]) -> Tensor:
    """Mean (over the counted weight; plain when ``counted`` is None), sum, or the per-element losses in ``shape``."""
    if reduction == "mean":
        return losses.mean() if counted is None else losses.sum() / counted.sum()
    if reduction == "sum":
        return losses.sum()
    return losses.reshape(shape)


def check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


@scope("nll_loss")
def nll_loss(log_probs: Tensor, labels: Any, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer class labels under log-probabilities, PyTorch's semantics.

    Args:
        log_probs: (N, C) or (N, C, d1, ...) log-probabilities (e.g. from ``log_softmax`` over axis 1).
        labels: integer class indices of shape (N,) or (N, d1, ...): array, list or Tensor.
        weight: optional (C,) weight per class; the mean divides by the summed weights of the labels.
        ignore_index: a label value that contributes nothing (and is not counted in the mean).
        reduction: "mean", "sum" or "none" (per-element losses of the labels' shape).

    Returns:
        The loss: a scalar, or the labels' shape with ``reduction="none"``.

    Raises:
        TypeError: labels are not integers (names the first value).
        ValueError: a label is out of range (names it and its position), or a bad ``reduction``.
    """
    return _nll("nll_loss", log_probs, labels, weight, ignore_index, reduction)


def _nll(name: str, log_probs: Tensor, labels: Any, weight: Tensor | None, ignore_index: int,
         reduction: str) -> Tensor:
    check_reduction(name, reduction)
    log_probs = log_probs if isinstance(log_probs, Tensor) else Tensor(log_probs)
    rows, y, keep = _labels(name, log_probs, labels, ignore_index)
    every = weight is None and bool(keep.all())  # the common case: every label counts once
    hot = constant(functools.partial(_one_hot, name, rows.shape[1], ignore_index, not every), y,
                   name="labels (one-hot)")
    picked = where(hot, rows, 0.0).sum(axis=1)
    shape = log_probs.shape[:1] + log_probs.shape[2:]
    if every:
        return _reduce(-picked, None, reduction, shape)
    w = _counted(weight, rows, y, ignore_index)
    return _reduce(-picked * w, w, reduction, shape)


def _counted(weight: Tensor | np.ndarray | None, rows: Tensor, y: Tensor, ignore_index: int) -> Tensor:
    """(M,) each label's class weight (1 without ``weight``), 0 where ignored: a constant made from the labels."""
    w = None if weight is None else _weight(weight, rows)
    return constant(functools.partial(_label_weights, ignore_index, rows.dtype, w), y, name="label weights")


def _weight(weight: Tensor | np.ndarray, rows: Tensor) -> np.ndarray:
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=rows.dtype)
    if w.shape != rows.shape[1:]:
        raise ShapeError(f"cross_entropy: weight has shape {w.shape}, expected ({rows.shape[1]},) (one per class)")
    return w


@scope("cross_entropy")
def cross_entropy(logits: Tensor, labels: Any, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits against integer class labels: ``log_softmax`` over axis 1, then :func:`nll_loss`.

    Args:
        logits: (N, C) or (N, C, d1, ...) unnormalized scores.
        labels: integer class indices of shape (N,) or (N, d1, ...).
        weight: optional (C,) weight per class.
        ignore_index: a label value that contributes nothing.
        reduction: "mean", "sum" or "none".
        label_smoothing: in [0, 1]: the target puts ``1 - label_smoothing`` on the label and spreads
            ``label_smoothing`` evenly over all C classes (PyTorch's formula, weights included).

    Returns:
        The loss: a scalar, or the labels' shape with ``reduction="none"``.

    Raises:
        TypeError: labels are not integers.
        ValueError: a label is out of range, a bad ``reduction`` or ``label_smoothing``.
        ShapeError: the logits have fewer than 2 axes, or the labels' shape does not fit them.
    """
    check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logits = logits if isinstance(logits, Tensor) else Tensor(logits)
    if logits.ndim < 2:
        raise ShapeError(f"cross_entropy: expected logits of shape (N, C) or (N, C, d1, ...), got {logits.shape}")
    log_probs = log_softmax(logits, axis=1)
    loss = _nll("cross_entropy", log_probs, labels, weight, ignore_index, reduction)
    if not label_smoothing:
        return loss
    rows, y, _ = _labels("cross_entropy", log_probs, labels, ignore_index)
    w = None if weight is None else _weight(weight, rows)
    kept = _counted(None, rows, y, ignore_index)
    smooth = -(rows if w is None else rows * w).sum(axis=1) * kept
    counted = kept if w is None else _counted(weight, rows, y, ignore_index)
    smooth = _reduce(smooth, counted, reduction, logits.shape[:1] + logits.shape[2:])
    return loss * (1 - label_smoothing) + smooth * (label_smoothing / logits.shape[1])


@scope("mse_loss")
def mse_loss(x: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Squared error between ``x`` and ``target`` (same shape), averaged, summed or per element.

    Args:
        x: predictions.
        target: array or Tensor of ``x``'s shape (cast to ``x``'s dtype when not a Tensor).
        reduction: "mean", "sum" or "none".

    Returns:
        A scalar, or ``x``'s shape with ``reduction="none"``.
    """
    check_reduction("mse_loss", reduction)
    sq = squared_error("mse_loss", x, target)
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq


def squared_error(name: str, x: Tensor, target: Any) -> Tensor:
    """``(x - target) ** 2`` elementwise, after checking the shapes match.

    Args:
        name: the op or layer named in the error.
        x: the predictions, any shape.
        target: the targets (Tensor or array), of ``x``'s shape.

    Returns:
        A Tensor of ``x``'s shape.

    Raises:
        ShapeError: the shapes differ.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target), dtype=x.dtype)
    if target.shape != x.shape:
        raise ShapeError(f"{name}: input has shape {x.shape} but target has shape {target.shape}")
    d = x - target
    return d * d


@scope("mse")
def mse(x: Tensor, target: Any) -> Tensor:
    """Mean squared error.

    Args:
        x: the predictions, any shape.
        target: the targets (Tensor or array), of ``x``'s shape.

    Returns:
        A scalar Tensor.

    Raises:
        ShapeError: the shapes differ.
    """
    return squared_error("mse", x, target).mean()
