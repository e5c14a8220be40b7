"""The limit: an MLP training step written by hand in numpy, with the closed-form BatchNorm backward.

Hidden layers are Linear -> BatchNorm1d (training mode, running statistics updated) -> ReLU; the
last layer is Linear; the loss is mean cross-entropy; the update is plain SGD. Weights are stored
(in, out), so a layer computes ``x @ W + b``.
"""

from __future__ import annotations

import numpy as np

Params = list[dict[str, np.ndarray]]


def init_params(sizes: tuple[int, ...], bn: bool = True, seed: int = 0, dtype: type = np.float32) -> Params:
    """PyTorch-style initial parameters for every layer: W, b, and (hidden layers, with BN) gamma, beta."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1 / np.sqrt(n_in)
        layer = {"W": rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype),
                 "b": rng.uniform(-bound, bound, n_out).astype(dtype)}
        if bn and i < len(sizes) - 2:
            layer |= {"gamma": np.ones(n_out, dtype), "beta": np.zeros(n_out, dtype),
                      "running_mean": np.zeros(n_out, dtype), "running_var": np.ones(n_out, dtype)}
        layers.append(layer)
    return layers


def copy_params(params: Params) -> Params:
    return [{k: v.copy() for k, v in layer.items()} for layer in params]


def loss_and_grads(params: Params, x: np.ndarray, y: np.ndarray, eps: float = 1e-5,
                   momentum: float = 0.1) -> tuple[float, Params]:
    """Forward, cross-entropy and the closed-form backward; updates the BN running statistics."""
    n = x.shape[0]
    saved = []
    h = x
    for layer in params[:-1]:
        z = h @ layer["W"] + layer["b"]
        if "gamma" in layer:
            mu = z.mean(axis=0)
            zc = z - mu
            var = (zc * zc).mean(axis=0)
            inv = 1 / np.sqrt(var + eps)
            xhat = zc * inv
            z = xhat * layer["gamma"] + layer["beta"]
            layer["running_mean"] *= 1 - momentum
            layer["running_mean"] += momentum * mu
            layer["running_var"] *= 1 - momentum
            layer["running_var"] += momentum * n / (n - 1) * var
            saved.append((h, xhat, inv, z))
        else:
            saved.append((h, None, None, z))
        h = np.maximum(z, 0)
    logits = h @ params[-1]["W"] + params[-1]["b"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -logp[rows, y].mean()

    d = np.exp(logp)
    d[rows, y] -= 1
    d /= n
    grads: Params = [{"W": h.T @ d, "b": d.sum(axis=0)}]
    dh = d @ params[-1]["W"].T
    for i in range(len(params) - 2, -1, -1):
        layer, (h_in, xhat, inv, z) = params[i], saved[i]
        dz = dh * (z > 0)
        g: dict[str, np.ndarray] = {}
        if xhat is not None:
            g["gamma"] = (dz * xhat).sum(axis=0)
            g["beta"] = dz.sum(axis=0)
            dxhat = dz * layer["gamma"]
            dz = (inv / n) * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
        g["W"] = h_in.T @ dz
        g["b"] = dz.sum(axis=0)
        grads.insert(0, g)
        if i:
            dh = dz @ layer["W"].T
    return float(loss), grads


def sgd_step(params: Params, x: np.ndarray, y: np.ndarray, lr: float = 0.1) -> float:
    """One training step: forward, loss, closed-form backward, SGD update in place."""
    loss, grads = loss_and_grads(params, x, y)
    for layer, g in zip(params, grads):
        for k, v in g.items():
            layer[k] -= lr * v
    return loss
