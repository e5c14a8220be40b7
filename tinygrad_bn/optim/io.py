"""Save and load an optimizer's or a scheduler's state as ``.npz`` (never pickle), atomically, like ``nn.save``.

The arrays of the state dict (momentum buffers, moment estimates) are stored as arrays; everything
else (hyperparameters, step counts, group layout) as one JSON string beside them.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..nn.io import read_npz, write_npz

_META = "__state__"


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj.state_dict()`` (an optimizer or a learning-rate scheduler) to ``path`` (.npz).

    Args:
        obj: anything with ``state_dict()`` holding arrays, numbers, strings, lists and dicts.
        path: the file to write, via a temporary file and an atomic rename.

    Raises:
        TypeError: the state holds something else (e.g. a function, an array of Python objects), named by its
            place.
    """
    arrays: dict[str, np.ndarray] = {}

    def encode(v: Any, where: str) -> Any:
        if isinstance(v, np.ndarray):
            if v.dtype.hasobject:
                raise TypeError(f"save: {where} has dtype {v.dtype}, which only pickle could store; save numbers")
            key = f"a{len(arrays)}"
            arrays[key] = v
            return {"__array__": key}
        if isinstance(v, dict):
            return {"__dict__": [[k, encode(x, f"{where}[{k!r}]")] for k, x in v.items()]}
        if isinstance(v, list | tuple):
            return [encode(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, np.generic):
            return v.item()
        if v is None or isinstance(v, bool | int | float | str):
            return v
        raise TypeError(f"save: cannot store {where} of type {type(v).__name__} in an .npz state file")

    meta = json.dumps(encode(obj.state_dict(), "state_dict()"))
    write_npz(path, {_META: np.array(meta), **arrays})


def load(obj: Any, path: str | os.PathLike) -> Any:
    """Load a file written by :func:`save` into ``obj`` (via ``obj.load_state_dict``).

    Args:
        obj: the optimizer or learning-rate scheduler to load into.
        path: a file written by :func:`save`.

    Returns:
        ``obj``.

    Raises:
        ValueError: the file is not such a state file, or does not fit ``obj`` (nothing is changed then).
    """
    arrays = read_npz(path)
    if _META not in arrays:
        raise ValueError(f"load: {os.fspath(path)!r} holds no optimizer or scheduler state (was it saved by nn.save?)")

    def decode(v: Any) -> Any:
        if isinstance(v, list):
            return [decode(x) for x in v]
        if isinstance(v, dict) and "__array__" in v:
            return arrays[v["__array__"]]
        if isinstance(v, dict):
            return {k: decode(x) for k, x in v["__dict__"]}
        return v

    obj.load_state_dict(decode(json.loads(str(arrays[_META]))))
    return obj
