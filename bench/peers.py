"""The peers, each optional: PyTorch (eager, CPU), HIPS autograd, tinygrad and micrograd.

Each peer has a training-step builder with the signature of ``step.ours`` and/or a chain builder
with the signature of ``overhead.ours``. A peer that is not installed or cannot run here raises
:class:`Unavailable` with the reason; the benchmark reports it as absent.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

import numpy as np

from .handwritten import Params

EPS = 1e-5


class Unavailable(Exception):
    """A peer is not installed or cannot run on this machine."""


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise Unavailable(f"{name} is not installed ({e})") from None


def versions() -> dict[str, str]:
    """Installed peers and their versions (or why they are absent), plus PyTorch's threads and BLAS."""
    out = {}
    for name in ("torch", "autograd", "tinygrad", "micrograd"):
        try:
            from importlib.metadata import version
            out[name] = version(name)
        except Exception:
            out[name] = "absent"
    if out["torch"] != "absent":
        torch = _import("torch")
        blas = "MKL" if torch.backends.mkl.is_available() else "its own BLAS"
        out["torch"] += f" ({torch.get_num_threads()} threads, {blas}, oneDNN={torch.backends.mkldnn.is_available()})"
    return out


# ----- training steps -------------------------------------------------------------------------

def torch_step(params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> Callable[[], object]:
    torch = _import("torch")
    layers = []
    for i, p in enumerate(params):
        n_in, n_out = p["W"].shape
        linear = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(p["W"].T.copy()))
            linear.bias.copy_(torch.from_numpy(p["b"]))
        layers.append(linear)
        if i < len(params) - 1:
            if "gamma" in p:
                layers.append(torch.nn.BatchNorm1d(n_out, eps=EPS))
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).train()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> object:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()
        return loss
    return step


def autograd_step(params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> Callable[[], object]:
    """HIPS autograd: a pure loss function of the parameter list, differentiated with ``grad``.

    Running statistics are not tracked (a functional loss cannot update state cheaply).
    """
    autograd = _import("autograd")
    anp = _import("autograd.numpy")
    keys = [[k for k in ("W", "b", "gamma", "beta") if k in p] for p in params]
    flat = [p[k].copy() for p, ks in zip(params, keys) for k in ks]
    rows = np.arange(len(y))

    def loss(flat: list[np.ndarray]) -> np.ndarray:
        it = iter(flat)
        h = x
        for ks in keys:
            layer = {k: next(it) for k in ks}
            if h is not x:
                h = anp.maximum(h, 0)
            h = anp.dot(h, layer["W"]) + layer["b"]
            if "gamma" in layer:
                mu = anp.mean(h, axis=0)
                var = anp.var(h, axis=0)
                h = (h - mu) / anp.sqrt(var + EPS) * layer["gamma"] + layer["beta"]
        shifted = h - anp.max(h, axis=1, keepdims=True)
        logp = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
        return -anp.mean(logp[rows, y])

    gradient = autograd.grad(loss)

    def step() -> object:
        for p, g in zip(flat, gradient(flat)):
            p -= lr * g
        return None
    return step


def _tinygrad():
    os.environ.setdefault("DEV", "CPU")
    tinygrad = _import("tinygrad")
    try:
        (tinygrad.Tensor([1.0, 2.0]) * 2).realize()
    except Exception as e:  # no compiler (clang) for the CPU device, or no device at all
        raise Unavailable(f"tinygrad cannot run here: {type(e).__name__}: {e}") from None
    return tinygrad


def tinygrad_step(params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> Callable[[], object]:
    """tinygrad on its CPU device, the step compiled once with TinyJit (how tinygrad is meant to train)."""
    tg = _tinygrad()
    from tinygrad.helpers import Context
    from tinygrad.nn.state import get_parameters

    layers = []
    for i, p in enumerate(params):
        n_in, n_out = p["W"].shape
        linear = tg.nn.Linear(n_in, n_out)
        linear.weight, linear.bias = tg.Tensor(p["W"].T.copy()), tg.Tensor(p["b"].copy())
        layers.append(linear)
        if i < len(params) - 1:
            if "gamma" in p:
                layers.append(tg.nn.BatchNorm(n_out, eps=EPS))
            layers.append(tg.Tensor.relu)
    with Context(TRAINING=1):
        opt = tg.nn.optim.SGD(get_parameters(layers), lr=lr)
    xt, yt = tg.Tensor(x), tg.Tensor(y.astype(np.int32))

    @tg.TinyJit
    def jitted() -> object:
        with Context(TRAINING=1):
            opt.zero_grad()
            loss = xt.sequential(layers).sparse_categorical_crossentropy(yt)
            loss.backward()
            opt.step()
            return loss.realize()
    return jitted


STEPS: dict[str, Callable[..., Callable[[], object]]] = {
    "PyTorch eager": torch_step, "HIPS autograd": autograd_step, "tinygrad (TinyJit)": tinygrad_step}


# ----- chains of 1-element ops (per-op overhead) -----------------------------------------------

Chain = tuple[Callable[[], object], Callable[[object], None]]


def torch_chain(n: int) -> Chain:
    torch = _import("torch")

    def forward() -> object:
        y = x = torch.ones(1, requires_grad=True)
        for i in range(n):
            y = y * 0.9 if i % 3 == 0 else y + 0.1 if i % 3 == 1 else y.relu()
        return x, y
    return forward, lambda out: out[1].backward()


def autograd_chain(n: int) -> Chain:
    """HIPS autograd traces the forward with ``make_vjp``; backward is the returned vjp."""
    autograd = _import("autograd")
    anp = _import("autograd.numpy")

    def f(y: np.ndarray) -> np.ndarray:
        for i in range(n):
            y = y * 0.9 if i % 3 == 0 else y + 0.1 if i % 3 == 1 else anp.maximum(y, 0.0)
        return y

    def forward() -> object:
        return autograd.make_vjp(f)(np.ones(1, np.float32))
    return forward, lambda out: out[0](np.ones(1, np.float32))


def micrograd_chain(n: int) -> Chain:
    """micrograd's scalar Value; its recursive topological sort needs a deeper recursion limit."""
    engine = _import("micrograd.engine")

    def forward() -> object:
        y = engine.Value(1.0)
        for i in range(n):
            y = y * 0.9 if i % 3 == 0 else y + 0.1 if i % 3 == 1 else y.relu()
        return y

    def backward(y: object) -> None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4 * n + 100))
        try:
            y.backward()
        finally:
            sys.setrecursionlimit(limit)
    return forward, backward


CHAINS: dict[str, Callable[[int], Chain]] = {
    "PyTorch eager": torch_chain, "HIPS autograd": autograd_chain, "micrograd": micrograd_chain}
