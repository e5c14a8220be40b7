"""Save and load a module's state as a ``.npz`` file (never pickle), atomically."""

from __future__ import annotations

import contextlib
import fcntl
import os
import zipfile
import zlib
from collections.abc import Iterator

import numpy as np

from .module import Module


def save(module: Module, path: str | os.PathLike) -> None:
    """Write ``module.state_dict()`` to ``path`` (.npz) via a temporary file and an atomic rename.

    Args:
        module: the module whose parameters and buffers are saved.
        path: the file to write (see :func:`write_npz`).
    """
    write_npz(path, module.state_dict())


def write_npz(path: str | os.PathLike, state: dict[str, np.ndarray]) -> None:
    """Write the arrays ``state`` to ``path`` (.npz, no pickle), atomically.

    The arrays go to one temporary file beside ``path`` (``.<name>.tmp``), flushed to disk and renamed
    over ``path``: a reader, or a process killed at any moment, sees the complete old file or the complete
    new one. A save killed midway leaves that one temporary file, which the next save to ``path`` reuses
    (concurrent saves to one path take turns on it); a save that fails with an error removes it. The
    file's mode follows the umask, as with ``open()``.

    Args:
        path: the target file.
        state: name -> array (numbers or fixed-width strings).

    Raises:
        TypeError: an array holds Python objects, which only pickle could store.
    """
    path = os.fspath(path)
    arrays = {k: np.asarray(v) for k, v in state.items()}
    for k, a in arrays.items():
        if a.dtype.hasobject:
            raise TypeError(f"save: {k!r} has dtype {a.dtype}, which only pickle could store; save numbers or "
                            "strings")
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.tmp")
    with _locked(tmp) as fd:
        try:
            os.ftruncate(fd, 0)
            with os.fdopen(os.dup(fd), "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:  # an error (not a kill): leave nothing behind
            os.unlink(tmp)
            raise


@contextlib.contextmanager
def _locked(tmp: str) -> Iterator[int]:
    """An open descriptor of ``tmp`` (created with mode 0o666 minus the umask), exclusively locked; a file
    that another save renamed away while we waited for the lock is not used."""
    while True:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(tmp).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield fd
                return
        finally:
            os.close(fd)


def load(module: Module, path: str | os.PathLike, strict: bool = True) -> Module:
    """Load a file written by :func:`save` into ``module`` in place; returns the module.

    A file that cannot be read, or whose keys or shapes do not fit the module (see
    ``Module.load_state_dict``), raises an error and leaves the module untouched.

    Args:
        module: the module to load into.
        path: a file written by :func:`save`.
        strict: every key must match (as in ``Module.load_state_dict``).

    Returns:
        ``module``.

    Raises:
        ValueError: the file is not such a file, or its keys or shapes do not fit the module.
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
