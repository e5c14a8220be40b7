"""Datasets and loaders as ``torch.utils.data``: ``Dataset``, ``TensorDataset``, ``DataLoader``, ``random_split``,
so a PyTorch training loop ports line by line. Batches are Tensors (numpy arrays and Tensors are stacked)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor, as_generator

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(i)`` and ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        """Return sample ``index``.

        Args:
            index: the position.

        Raises:
            NotImplementedError: the subclass does not define it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long tensors (or arrays): ``TensorDataset(X, y)[i] == (X[i], y[i])``.

    Args:
        *tensors: Tensors or arrays with the same first dimension.

    Raises:
        ValueError: no tensor, or first dimensions that differ.
    """

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in tensors)
        sizes = {len(t.data) for t in self.tensors}
        if len(sizes) != 1:
            raise ValueError(f"TensorDataset: the tensors' first dimensions differ: "
                             f"{[t.shape for t in self.tensors]}")

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        return tuple(t.data[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0].data)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: the dataset.
        indices: positions in it.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence[int | float],
                 generator: np.random.Generator | int | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths, as ``torch.utils.data.random_split``.

    Args:
        dataset: the dataset.
        lengths: the subsets' lengths summing to ``len(dataset)``, or fractions summing to 1 (the remainder
            goes round-robin to the first subsets, as in PyTorch).
        generator: a numpy Generator or a seed; None uses the library's (``manual_seed``).

    Returns:
        One :class:`Subset` per length.

    Raises:
        ValueError: the lengths do not add up.
    """
    n = len(dataset)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n or any(x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths {list(lengths)} must be non-negative and sum to the dataset's "
                         f"{n} samples (or be fractions summing to 1)")
    order = as_generator(generator).permutation(n)
    cuts = np.cumsum([0, *lengths])
    return [Subset(dataset, order[a:b].tolist()) for a, b in zip(cuts[:-1], cuts[1:])]


def default_collate(samples: list[Any]) -> Any:
    """Stack a list of samples into a batch: arrays, numbers and Tensors into one Tensor, tuples and dicts item
    by item (PyTorch's ``default_collate``).

    Args:
        samples: the samples of one batch.

    Returns:
        The batch.

    Raises:
        TypeError: a sample holds something that cannot be stacked.
    """
    first = samples[0]
    if isinstance(first, tuple | list):
        return type(first)(default_collate(list(items)) for items in zip(*samples)) if isinstance(first, tuple) \
            else [default_collate(list(items)) for items in zip(*samples)]
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, Tensor | np.ndarray | np.generic | int | float | bool):
        return Tensor(np.stack([s.data if isinstance(s, Tensor) else np.asarray(s) for s in samples]))
    raise TypeError(f"default_collate: cannot stack samples of type {type(first).__name__}; pass collate_fn")


class DataLoader:
    """Batches of a dataset, as ``torch.utils.data.DataLoader`` (in this process: no worker processes).

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``).
        batch_size: samples per batch.
        shuffle: a new random order each epoch.
        drop_last: leave out a last batch smaller than ``batch_size``.
        collate_fn: makes a batch of a list of samples (:func:`default_collate`).
        generator: a numpy Generator or a seed for the shuffling; None uses the library's (``manual_seed``).

    Raises:
        ValueError: ``batch_size`` is not a positive integer.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 collate_fn: Callable[[list[Any]], Any] | None = None,
                 generator: np.random.Generator | int | None = None) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.collate_fn = collate_fn or default_collate
        self.generator = as_generator(generator) if generator is not None else None

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.dataset)
        order = as_generator(self.generator).permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self.collate_fn([self.dataset[int(i)] for i in order[start:start + self.batch_size]])
