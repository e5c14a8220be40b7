"""Save and load a module's state as a ``.npz`` file (never pickle), atomically."""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib

import numpy as np

from .module import Module


def save(module: Module, path: str | os.PathLike) -> None:
    """Write ``module.state_dict()`` to ``path`` (.npz) via a temporary file and an atomic rename."""
    write_npz(path, module.state_dict())


def write_npz(path: str | os.PathLike, state: dict[str, np.ndarray]) -> None:
    """Write the arrays ``state`` to ``path`` (.npz, no pickle) via a temporary file and an atomic rename."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **state)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(module: Module, path: str | os.PathLike, strict: bool = True) -> Module:
    """Load a file written by :func:`save` into ``module`` in place; returns the module.

    A file that cannot be read, or whose keys or shapes do not fit the module (see
    ``Module.load_state_dict``), raises an error and leaves the module untouched.
    """
    module.load_state_dict(read_npz(path), strict=strict)
    return module


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays in a ``.npz`` file written by :func:`write_npz`; a clear ValueError if it is not one."""
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not a state dict")
        with data:
            state = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"load: {path!r} is not a readable .npz state file ({e})") from None
    return state
