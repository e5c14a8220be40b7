"""Noise: how large is the noise BN's batch statistics add, and how does it shrink with the batch size?

On real hidden activations (the input of the second BN layer of an MLP trained on MNIST-5k, taken over
all 5,000 images as the population with mean mu and std sigma per unit) many mini-batches of each size B
are drawn. The additive noise is the spread of (mean_B - mu) / sigma, predicted 1/sqrt(B); the
multiplicative noise the spread of sigma / sigma_B, predicted 1/sqrt(2B) for Gaussian activations
(sqrt((kurtosis - 1) / (4B)) in general).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinygrad_bn import Tensor, nn, no_grad
from viz import plots

from ..graphs import noise_graph
from ..training import load, mlp, train
from . import Figure, Result, verdict

SLOPE_TOL = 0.1
SIZE_TOL = 0.2


def hidden_population(model: nn.Sequential, X: np.ndarray, which: int = 1) -> np.ndarray:
    """The input of BN layer number ``which`` for every row of ``X`` (eval mode), float64, live units only."""
    was = model.training
    model.eval()
    seen = 0
    with no_grad():
        h = Tensor(X)
        for layer in model:
            if isinstance(layer, nn.BatchNorm1d):
                if seen == which:
                    break
                seen += 1
            h = layer(h)
    model.train(was)
    z = h.data.astype(np.float64)
    return z[:, z.std(axis=0) > 1e-6]


def batch_noise(z: np.ndarray, sizes: list[int], draws: int, rng: np.random.Generator) -> dict:
    """Spread over ``draws`` batches (rows without replacement) of the additive and multiplicative "
    "noise, RMS over units."""
    mu, sigma = z.mean(axis=0), z.std(axis=0)
    additive, multiplicative = [], []
    for b in sizes:
        stats = [
            (x.mean(axis=0), x.std(axis=0)) for x in (z[rng.choice(len(z), b, replace=False)] for _ in range(draws))
        ]
        means, stds = (np.array(s) for s in zip(*stats, strict=True))  # (draws, units) each
        add, mul = (means - mu) / sigma, sigma / stds
        additive.append(float(np.sqrt((add.std(axis=0) ** 2).mean())))
        multiplicative.append(float(np.sqrt((mul.std(axis=0) ** 2).mean())))
    kurtosis = ((z - mu) ** 4).mean(axis=0) / sigma**4
    return {
        "additive": additive,
        "multiplicative": multiplicative,
        "kurtosis_mean": float(kurtosis.mean()),
        "kurtosis_median": float(np.median(kurtosis)),
        "kurtosis": kurtosis,
    }


def _slope(x: list[int], y: list[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def run(quick: bool, seed: int, out: Path, progress: bool = True) -> Result:
    sizes = [16, 32, 64, 128, 256, 512]
    draws = 150 if quick else 600
    split = load("mnist", seed)
    model = mlp([split.n_features, 128, 128, 10], bn=True, seed=seed)
    h = train(
        model,
        split,
        steps=100 if quick else 400,
        batch_size=64,
        lr=0.1,
        seed=seed,
        momentum=0.9,
        eval_every=50,
        desc="noise: train the BN net",
        progress=progress,
    )
    z = hidden_population(model, np.concatenate([split.X_train, split.X_test]))
    noise = batch_noise(z, sizes, draws, np.random.default_rng(seed))
    kurtosis = noise.pop("kurtosis")
    b = np.array(sizes, dtype=float)
    pred_add, pred_mul = 1 / np.sqrt(b), 1 / np.sqrt(2 * b)
    pred_mul_kurt = np.sqrt((kurtosis - 1).mean() / (4 * b))
    add, mul = np.array(noise["additive"]), np.array(noise["multiplicative"])
    slopes = {"additive": _slope(sizes, add), "multiplicative": _slope(sizes, mul)}
    ratio = {
        "additive": add / pred_add,
        "multiplicative": mul / pred_mul,
        "multiplicative_kurtosis": mul / pred_mul_kurt,
    }
    i64, i512 = sizes.index(64), sizes.index(512)
    fpc = np.sqrt((len(z) - b) / (len(z) - 1))  # finite-population correction of sampling without replacement
    numbers = {
        "population": int(len(z)),
        "units": int(z.shape[1]),
        "draws_per_size": draws,
        "batch_sizes": sizes,
        **noise,
        "prediction_additive": pred_add,
        "prediction_multiplicative": pred_mul,
        "prediction_multiplicative_kurtosis": pred_mul_kurt,
        "slopes": slopes,
        "measured_over_predicted": ratio,
        "finite_population_correction": fpc,
        "additive_ratio_64_to_512": float(add[i64] / add[i512]),
        "multiplicative_ratio_64_to_512": float(mul[i64] / mul[i512]),
        "net_test_acc": h.final_acc,
    }
    slopes_ok = all(abs(s + 0.5) <= SLOPE_TOL for s in slopes.values())
    sizes_ok = bool(
        np.all(np.abs(ratio["additive"] - 1) <= SIZE_TOL) and np.all(np.abs(ratio["multiplicative"] - 1) <= SIZE_TOL)
    )

    plots.loglog_noise(
        sizes,
        {
            "additive (mean_B - mu) / sigma": (add, pred_add, "1/sqrt(B)"),
            "multiplicative sigma / sigma_B": (mul, pred_mul, "1/sqrt(2B)"),
        },
        out / "noise_scaling",
        extra={"multiplicative sigma / sigma_B": (pred_mul_kurt, "sqrt((kurtosis-1)/4B)")},
    )
    figures = [
        Figure(
            "noise_scaling",
            "BN's mini-batch noise against the batch size (log-log)",
            f"Spread over {draws} batches per size of the additive noise (mean_B - mu)/sigma and the multiplicative "
            f"noise sigma/sigma_B, RMS over {z.shape[1]} units of real hidden activations (population: {len(z)} "
            "MNIST images), with the predictions as dashed lines. Fitted slopes "
            f"{slopes['additive']:.3f} and {slopes['multiplicative']:.3f} (prediction -0.5); from B=64 to B=512 the "
            f"additive noise fell {numbers['additive_ratio_64_to_512']:.2f}x (sqrt(8) = 2.83; batches drawn without "
            f"replacement shrink it by sqrt((N-B)/(N-1)) = {fpc[i512]:.3f} at B=512) and the multiplicative "
            f"{numbers['multiplicative_ratio_64_to_512']:.2f}x; the activations' mean kurtosis is "
            f"{noise['kurtosis_mean']:.1f} (Gaussian: 3), and the multiplicative noise is "
            f"{ratio['multiplicative'].mean():.2f}x the Gaussian 1/sqrt(2B) on average.",
        )
    ]
    figures += _graph_figures(out, seed)
    finding = (
        f"Additive noise fell as B^{slopes['additive']:.2f} and multiplicative as B^{slopes['multiplicative']:.2f}; "
        f"measured/predicted at B=64: additive {ratio['additive'][i64]:.2f}, multiplicative "
        f"{ratio['multiplicative'][i64]:.2f} (Gaussian 1/sqrt(2B))."
    )
    return Result(
        "noise",
        "BN adds noise through its batch statistics: additive, shrinking like 1/sqrt(B), and "
        "multiplicative, shrinking like 1/sqrt(2B).",
        verdict(slopes_ok + sizes_ok, 2),
        f"Two checks: (1) both fitted log-log slopes lie within {SLOPE_TOL} of -0.5; (2) at every batch size "
        f"both noises lie within {SIZE_TOL:.0%} of their predictions 1/sqrt(B) and 1/sqrt(2B). Both pass: "
        "supported; none: not supported; otherwise mixed.",
        finding,
        numbers,
        figures,
        seed,
        quick,
    )


def _graph_figures(out: Path, seed: int) -> list[Figure]:
    found = noise_graph(out / "noise_graph.svg", seed)
    return [
        Figure(
            "noise_graph",
            "Where the noise enters: one BN layer, then dropout",
            "The graph of BatchNorm1d followed by Dropout(0.5) on a batch of 8, drawn by viz: orange is the "
            "additive path from the batch mean, purple the multiplicative path from the batch std, green "
            "dropout's mask. viz.noise_paths found, without knowing these layers: "
            + "; ".join(found["noise_entries"])
            + ".",
        )
    ]
