"""Utilities with PyTorch's addresses: :mod:`tinygrad_bn.utils.data` (datasets and loaders)."""

from . import data

__all__ = ["data"]
