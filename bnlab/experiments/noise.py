"""Noise: how large is the noise BN's batch statistics add, and how does it shrink with the batch size?

On real hidden activations (the input of the second BN layer of an MLP trained on MNIST-5k, taken over
all 5,000 images as the population with mean mu and std sigma per unit) many mini-batches of each size B
are drawn. The additive noise is the spread of (mean_B - mu) / sigma, predicted 1/sqrt(B); the
multiplicative noise the spread of sigma / sigma_B, predicted 1/sqrt(2B) for Gaussian activations
(sqrt((kurtosis - 1) / (4B)) in general). A few units have very heavy tails (kurtosis in the hundreds) and dominate
any root-mean-square over units, so the laws are also checked unit by unit, summarised by the median unit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_bn import Tensor, nn, no_grad

from ..training import load, mlp, train
from . import Figure, Result

if TYPE_CHECKING:
    from ..runner import Runner

SLOPE_TOL = 0.1
SLOPE_WHY = "a slope within 0.1 of -0.5 is closer to 1/sqrt(B) than to 1/B^0.4 or 1/B^0.6"
SIZE_TOL = 0.2
SIZE_WHY = "finite-population and estimation error of 300 batches of 64 from 5,000 rows is a few percent; "\
           "20% separates the law from a factor of 1.5 off"


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
    """Spread over ``draws`` batches (rows without replacement) of the additive and multiplicative noise, RMS over
    units, and the multiplicative spread of every unit (``per_unit``, sizes x units)."""
    mu, sigma = z.mean(axis=0), z.std(axis=0)
    additive, multiplicative, per_unit = [], [], []
    for b in sizes:
        stats = [
            (x.mean(axis=0), x.std(axis=0)) for x in (z[rng.choice(len(z), b, replace=False)] for _ in range(draws))
        ]
        means, stds = (np.array(s) for s in zip(*stats, strict=True))  # (draws, units) each
        add, mul = (means - mu) / sigma, sigma / stds
        additive.append(float(np.sqrt((add.std(axis=0) ** 2).mean())))
        multiplicative.append(float(np.sqrt((mul.std(axis=0) ** 2).mean())))
        per_unit.append(mul.std(axis=0))
    kurtosis = ((z - mu) ** 4).mean(axis=0) / sigma**4
    return {
        "additive": additive,
        "multiplicative": multiplicative,
        "kurtosis_mean": float(kurtosis.mean()),
        "kurtosis_median": float(np.median(kurtosis)),
        "kurtosis": kurtosis,
        "per_unit": np.array(per_unit),
    }


def _slope(x: list[int], y: list[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def one_run(*, seed: int, steps: int, draws: int, sizes: list[int]) -> dict:
    """Train one BN net on MNIST-5k and measure its batch noise on all 5,000 images' 2nd-BN-layer inputs."""
    split = load("mnist", seed)
    model = mlp([split.n_features, 128, 128, 10], norm="bn", seed=seed)
    h = train(
        model, split, steps=steps, batch_size=64, lr=0.1, seed=seed, momentum=0.9, eval_every=steps, progress=False
    )
    z = hidden_population(model, np.concatenate([split.X_train, split.X_test]))
    noise = batch_noise(z, sizes, draws, np.random.default_rng(seed))
    kurtosis, per_unit = noise.pop("kurtosis"), noise.pop("per_unit")
    b = np.array(sizes, dtype=float)[:, None]
    add, mul = np.array(noise["additive"]), np.array(noise["multiplicative"])
    fpc = np.sqrt((len(z) - b) / (len(z) - 1))  # batches drawn without replacement from the population
    own_law = per_unit / (np.sqrt((kurtosis - 1) / (4 * b)) * fpc)  # each unit against its kurtosis's law
    gaussian = per_unit * np.sqrt(2 * b)
    unit_slopes = np.polyfit(np.log(b[:, 0]), np.log(per_unit), 1)[0]
    return {
        **noise,
        "population": int(len(z)),
        "units": int(z.shape[1]),
        "prediction_multiplicative_kurtosis": np.sqrt((kurtosis - 1).mean() / (4 * b[:, 0])).tolist(),
        "per_unit_quartiles": {  # (25%, 50%, 75%) over units, per batch size
            "gaussian": np.quantile(gaussian, [0.25, 0.5, 0.75], axis=1).T.tolist(),
            "own_kurtosis": np.quantile(own_law, [0.25, 0.5, 0.75], axis=1).T.tolist(),
        },
        "median_unit_slope": float(np.median(unit_slopes)),
        "slopes": {"additive": _slope(sizes, add), "multiplicative": _slope(sizes, mul)},
        "net_test_acc": h.final_acc,
    }


def run(*, quick: bool, seeds: list[int], seed: int, out: Path, runner: Runner) -> Result:
    from .. import plots, stats  # here, not at the top: worker processes import this module for its runs

    sizes = [16, 32, 64, 128, 256, 512]
    draws = 100 if quick else 300
    ss = seeds
    per_seed = runner.map(
        one_run, [{"seed": s, "steps": 60 if quick else 200, "draws": draws, "sizes": sizes} for s in ss], desc="noise"
    )
    first = per_seed[0]
    b = np.array(sizes, dtype=float)
    pred_add, pred_mul = 1 / np.sqrt(b), 1 / np.sqrt(2 * b)
    add = np.array([r["additive"] for r in per_seed])  # (seeds, sizes)
    mul = np.array([r["multiplicative"] for r in per_seed])
    kurt = np.array([r["prediction_multiplicative_kurtosis"] for r in per_seed])
    i64, i512 = sizes.index(64), sizes.index(512)
    n_pop = first["population"]
    fpc = np.sqrt((n_pop - b) / (n_pop - 1))  # finite-population correction of sampling without replacement

    def unit_median(law: str, at: int = i64) -> np.ndarray:
        return np.array([r["per_unit_quartiles"][law][at][1] for r in per_seed])

    checks = [
        stats.mean_effect(
            [r["slopes"]["additive"] + 0.5 for r in per_seed],
            direction="within",
            margin=SLOPE_TOL, reason=SLOPE_WHY,
            unit="slope + 0.5",
            seed=seed,
            kind="sanity",  # the central limit theorem: any finite-variance unit gives it
            claim=f"additive noise (mean_B - mu)/sigma shrinks like 1/sqrt(B): log-log slope -0.5 within {SLOPE_TOL}",
        ),
        stats.mean_effect(
            add[:, i64] / pred_add[i64] - 1,
            direction="within",
            margin=SIZE_TOL, reason=SIZE_WHY,
            seed=seed,
            unit="measured/predicted - 1",
            claim=f"additive noise at B=64 is 1/sqrt(B) within {SIZE_TOL:.0%}",
        ),
        stats.mean_effect(
            [r["median_unit_slope"] + 0.5 for r in per_seed],
            direction="within",
            margin=SLOPE_TOL, reason=SLOPE_WHY,
            unit="slope + 0.5",
            seed=seed,
            claim=f"multiplicative noise sigma/sigma_B shrinks like 1/sqrt(B): each unit's log-log slope, median over "
            f"units, -0.5 within {SLOPE_TOL}",
        ),
        stats.mean_effect(
            mul[:, i64] / pred_mul[i64] - 1,
            direction="within",
            margin=SIZE_TOL, reason=SIZE_WHY,
            seed=seed,
            unit="measured/predicted - 1",
            claim=f"multiplicative noise at B=64 is the Gaussian 1/sqrt(2B) within {SIZE_TOL:.0%} (RMS over units, "
            "which the heaviest-tailed units dominate)",
        ),
        stats.mean_effect(
            unit_median("gaussian") - 1,
            direction="within",
            margin=SIZE_TOL, reason=SIZE_WHY,
            seed=seed,
            unit="measured/predicted - 1",
            claim=f"multiplicative noise at B=64 is the Gaussian 1/sqrt(2B) within {SIZE_TOL:.0%} (the median unit)",
        ),
        stats.mean_effect(
            unit_median("own_kurtosis") - 1,
            direction="within",
            margin=SIZE_TOL, reason=SIZE_WHY,
            seed=seed,
            unit="measured/predicted - 1",
            claim=f"multiplicative noise at B=64 is each unit's sqrt((kurtosis - 1)/4B) within {SIZE_TOL:.0%} "
            "(heavy tails accounted for unit by unit, batches without replacement; the median unit)",
        ),
    ]
    mean_add, mean_mul, mean_kurt = add.mean(0), mul.mean(0), kurt.mean(0)
    quartiles = {law: np.mean([r["per_unit_quartiles"][law] for r in per_seed], axis=0)[:, [1, 0, 2]]
                 for law in ("gaussian", "own_kurtosis")}  # (median, 25%, 75%) per batch size, mean over seeds
    numbers = {
        "seeds": ss,
        "population": n_pop,
        "units": first["units"],
        "draws_per_size": draws,
        "batch_sizes": sizes,
        "additive": mean_add,
        "multiplicative": mean_mul,
        "kurtosis_mean": float(np.mean([r["kurtosis_mean"] for r in per_seed])),
        "prediction_additive": pred_add,
        "prediction_multiplicative": pred_mul,
        "prediction_multiplicative_kurtosis": mean_kurt,
        "kurtosis_median": float(np.mean([r["kurtosis_median"] for r in per_seed])),
        "per_unit_quartiles": quartiles,
        "slopes": {k: float(np.mean([r["slopes"][k] for r in per_seed])) for k in ("additive", "multiplicative")},
        "finite_population_correction": fpc,
        "additive_ratio_64_to_512": float(mean_add[i64] / mean_add[i512]),
        "multiplicative_ratio_64_to_512": float(mean_mul[i64] / mean_mul[i512]),
        "per_seed": per_seed,
        "net_test_acc": float(np.mean([r["net_test_acc"] for r in per_seed])),
    }
    slopes = numbers["slopes"]
    plots.loglog_noise(
        sizes,
        {
            "additive (mean_B - mu) / sigma": (mean_add, pred_add, "1/sqrt(B)"),
            "multiplicative sigma / sigma_B": (mean_mul, pred_mul, "1/sqrt(2B)"),
        },
        out / "noise_scaling",
        extra={"multiplicative sigma / sigma_B": (mean_kurt, "sqrt((kurtosis-1)/4B)")},
    )
    figures = [
        Figure(
            "noise_scaling",
            "BN's mini-batch noise against the batch size (log-log)",
            f"Spread over {draws} batches per size of the additive noise (mean_B - mu)/sigma and the multiplicative "
            f"noise sigma/sigma_B, RMS over the {first['units']} live units of real hidden activations (population: "
            f"{n_pop} MNIST images), mean over {len(ss)} trained nets (seeds), with the predictions as dashed lines. "
            f"Fitted slopes {slopes['additive']:.3f} and {slopes['multiplicative']:.3f} (prediction -0.5); from B=64 "
            f"to B=512 the additive noise fell {numbers['additive_ratio_64_to_512']:.2f}x (sqrt(8) = 2.83; batches "
            f"drawn without replacement shrink it by sqrt((N-B)/(N-1)) = {fpc[i512]:.3f} at B=512) and the "
            f"multiplicative {numbers['multiplicative_ratio_64_to_512']:.2f}x; the activations' mean kurtosis is "
            f"{numbers['kurtosis_mean']:.1f} (Gaussian: 3), and the multiplicative noise is "
            f"{(mean_mul / pred_mul).mean():.2f}x the Gaussian 1/sqrt(2B) on average.",
        )
    ]
    plots.interval_lines(
        {"multiplicative noise of each unit / its law": {
            "/ Gaussian 1/sqrt(2B)": (sizes, quartiles["gaussian"]),
            "/ sqrt((kurtosis - 1)/4B), the unit's own": (sizes, quartiles["own_kurtosis"]),
        }},
        out / "noise_per_unit",
        xlabel="batch size B",
        ylabel="measured / predicted",
        logx=True,
    )
    q64 = {law: quartiles[law][i64] for law in quartiles}
    figures.append(
        Figure(
            "noise_per_unit",
            "The multiplicative noise unit by unit, against the Gaussian law and each unit's own",
            f"For each of the {first['units']} units, the spread of sigma/sigma_B over {draws} batches divided by the "
            "Gaussian 1/sqrt(2B) and by the unit's own sqrt((kurtosis - 1)/4B) (times the finite-population factor of "
            "batches drawn without replacement): median over units (line) and the middle half of the units (band), "
            f"mean over {len(ss)} nets. The units' kurtosis: median {numbers['kurtosis_median']:.1f}, mean "
            f"{numbers['kurtosis_mean']:.1f} (Gaussian: 3). At B=64 the median unit is {q64['gaussian'][0]:.2f}x the "
            f"Gaussian law and {q64['own_kurtosis'][0]:.2f}x its own.",
        )
    )
    figures += _graph_figures(out, seed)
    finding = (
        f"Additive noise fell as B^{slopes['additive']:.2f} and multiplicative as B^{slopes['multiplicative']:.2f} "
        f"(mean over {len(ss)} nets); measured/predicted at B=64: additive {mean_add[i64] / pred_add[i64]:.2f}, "
        f"multiplicative {mean_mul[i64] / pred_mul[i64]:.2f} (Gaussian 1/sqrt(2B)), "
        f"{mean_mul[i64] / mean_kurt[i64]:.2f} against the kurtosis-corrected law; unit by unit, the median unit is "
        f"{q64['gaussian'][0]:.2f}x the Gaussian law and {q64['own_kurtosis'][0]:.2f}x its own kurtosis's law."
    )
    return Result(
        name="noise",
        claim="BN adds noise through its batch statistics: additive, shrinking like 1/sqrt(B), and "
        "multiplicative, shrinking like 1/sqrt(2B).",
        checks=checks,
        finding=finding,
        numbers=numbers,
        figures=figures,
    )


def _graph_figures(out: Path, seed: int) -> list[Figure]:
    from ..graphs import noise_graph

    found = noise_graph(out / "noise_graph.svg", seed)
    return [
        Figure(
            "noise_graph",
            "Where the noise enters: one BN layer, then dropout",
            "The graph of BatchNorm1d followed by Dropout(0.5) on a batch of 8, drawn by viz: orange is the "
            "additive path from the batch mean, blue the multiplicative path from the batch std, bluish green "
            "dropout's mask. viz.noise_paths found, without knowing these layers: "
            + "; ".join(found["noise_entries"])
            + ".",
        )
    ]
