"""viz.stats: the batched summaries equal numpy's per-array answers, chunk boundaries included."""

import math

import numpy as np
import pytest

from viz import stats


def arrays():
    rng = np.random.default_rng(0)
    out = [rng.standard_normal(s) for s in [(3,), (4, 5), (2, 3, 4), (1,), (7, 1)]]
    out += [np.array([1.0, np.nan, 3.0]), np.array([np.inf, -2.0]), np.array([np.nan, np.inf]),
            np.full((3, 3), 2.5), np.arange(12, dtype=np.int32).reshape(3, 4), np.array([True, False, True]),
            np.array([1e308, -1e308, 0.0]), np.zeros((0, 4)), np.array(["a"]),
            rng.standard_normal((40, 30)).astype(np.float32), np.array(4.0)]
    return out


def expected(a):
    if a.dtype.kind not in "biuf":
        return None
    if a.size == 0:
        return stats.EMPTY
    x = np.asarray(a, dtype=np.float64).ravel()
    with np.errstate(all="ignore"):
        mean = x.mean()
        std = x.std() if math.isfinite(mean) else math.nan
        return dict(mean=mean, std=std, min=x.min(), max=x.max(), norm=np.sqrt((x * x).sum()),
                    mean_abs=np.abs(x).mean(), finite=bool(np.isfinite(x).all()), values=x[np.isfinite(x)])


@pytest.mark.parametrize("chunk", [stats.CHUNK, 5])
def test_summaries_match_numpy_per_array(chunk, monkeypatch):
    monkeypatch.setattr(stats, "CHUNK", chunk)
    given = arrays()
    for a, s in zip(given, stats.summarise(given), strict=True):
        want = expected(a)
        if want is None:
            assert s == stats.NOT_NUMERIC
            continue
        if want is stats.EMPTY:
            assert s == stats.EMPTY
            continue
        for key in ("mean", "std", "min", "max", "norm", "mean_abs"):
            np.testing.assert_allclose(getattr(s, key), want[key], rtol=1e-12, err_msg=f"{key} of {a!r}")
        assert s.finite == want["finite"]
        finite = want["values"]
        if finite.size == 0:
            assert s.hist is None
            continue
        counts, edges = s.hist["counts"], s.hist["edges"]
        assert len(counts) == stats.BINS and len(edges) == stats.BINS + 1 and sum(counts) == finite.size
        assert edges[0] == finite.min()
        if finite.max() > finite.min():
            np.testing.assert_allclose(edges[-1], finite.max(), rtol=1e-12)
        if finite.max() > finite.min() and math.isfinite(float(finite.max()) - float(finite.min())):
            ref, _ = np.histogram(finite, bins=stats.BINS, range=(finite.min(), finite.max()))
            assert counts == ref.tolist()
        elif finite.max() == finite.min():  # one value: every count in the first bin
            assert counts[0] == finite.size


def test_values_of_python_type():
    s = stats.summarise([np.arange(4)])[0]
    assert all(type(v) is float for v in (s.mean, s.std, s.min, s.max, s.norm, s.mean_abs))
    assert all(type(c) is int for c in s.hist["counts"]) and type(s.finite) is bool
