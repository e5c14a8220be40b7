"""Summary statistics and histograms of many arrays at once (the value and gradient facts of every tensor node).

A captured graph needs, for each of tens of thousands of mostly small arrays, its mean, std, min,
max, L2 norm, mean absolute value, whether it is all finite, and ``BINS`` equal-width bins of its
finite values. Doing that array by array costs about 40 µs of numpy call overhead each; here the
arrays are concatenated into chunks of about ``CHUNK`` elements and every statistic is one
``ufunc.reduceat`` over the chunk, so the cost is per element, not per array.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

BINS = 16
"""Number of equal-width bins of the value and gradient histograms on every tensor node."""
CHUNK = 1 << 21
"""Elements (float64) per batch: arrays are summarised together until a batch holds this many."""


class Summary(NamedTuple):
    """What :func:`summarise` says about one array: None where the array is empty or not numeric
    (``norm`` and ``mean_abs`` are 0.0 for an empty one), ``finite`` whether every element is finite,
    ``hist`` the bins of the finite values (``{"counts": [int], "edges": [float]}``) or None if there are none."""

    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    norm: float | None
    mean_abs: float | None
    finite: bool
    hist: dict[str, list] | None


EMPTY = Summary(None, None, None, None, 0.0, 0.0, True, None)
NOT_NUMERIC = Summary(None, None, None, None, None, None, True, None)


def summarise(arrays: list[np.ndarray]) -> list[Summary]:
    """One :class:`Summary` per array, computed in float64.

    Args:
        arrays: numpy arrays of any shapes; bool, integer and float dtypes are summarised, others are not.

    Returns:
        The summaries, in the order of ``arrays``. ``std`` is the population std (nan when the mean is not
        finite); the bins span the finite values' range (a range below 1e-300 puts every value in the first bin).
    """
    out: list[Summary] = [EMPTY] * len(arrays)
    batch: list[int] = []
    held = 0
    for i, a in enumerate(arrays):
        if a.dtype.kind not in "biuf":
            out[i] = NOT_NUMERIC
        elif a.size:
            batch.append(i)
            held += a.size
            if held >= CHUNK:
                _batch(arrays, batch, out)
                batch, held = [], 0
    if batch:
        _batch(arrays, batch, out)
    return out


def _batch(arrays: list[np.ndarray], index: list[int], out: list[Summary]) -> None:
    sizes = np.array([arrays[i].size for i in index])
    a = np.concatenate([arrays[i] for i in index], axis=None, dtype=np.float64, casting="unsafe")
    starts = np.zeros(len(index), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    seg = np.repeat(np.arange(len(index)), sizes) if len(index) > 1 else 0  # element -> its array
    with np.errstate(all="ignore"):
        mean = np.add.reduceat(a, starts) / sizes
        c = a - mean[seg]
        std = np.where(np.isfinite(mean), np.sqrt(np.add.reduceat(c * c, starts) / sizes), np.nan)
        del c
        lo, hi = np.minimum.reduceat(a, starts), np.maximum.reduceat(a, starts)
        norm = np.sqrt(np.add.reduceat(a * a, starts))
        mean_abs = np.add.reduceat(np.abs(a), starts) / sizes
        finite = np.isfinite(a)
        every = bool(finite.all())
        n_finite = sizes if every else np.add.reduceat(finite, starts)
        flo = lo if every else np.minimum.reduceat(np.where(finite, a, np.inf), starts)
        fhi = hi if every else np.maximum.reduceat(np.where(finite, a, -np.inf), starts)
        half = fhi / 2 - flo / 2  # half the range: never overflows
        half = np.where(half > 1e-300, half, 0.5)  # a tiny range (or none): every value in the first bin
        scale = BINS / half
        bins = np.clip((a / 2 - flo[seg] / 2) * scale[seg], 0, BINS - 1)
        keys = seg * BINS + (bins if every else np.where(finite, bins, 0)).astype(np.int64)
        counts = np.bincount(keys if every else keys[finite], minlength=len(index) * BINS).reshape(-1, BINS)
        edges = 2 * (flo[:, None] / 2 + (half / BINS)[:, None] * np.arange(BINS + 1))  # no overflow either
    rows = zip(index, mean.tolist(), std.tolist(), lo.tolist(), hi.tolist(), norm.tolist(), mean_abs.tolist(),
               (n_finite == sizes).tolist(), (n_finite > 0).tolist(), counts.tolist(), edges.tolist())
    for i, m, s, mn, mx, nrm, ma, fin, any_finite, cnt, edg in rows:
        out[i] = Summary(m, s, mn, mx, nrm, ma, fin, dict(counts=cnt, edges=edg) if any_finite else None)

