"""bnlab.stats against known cases: intervals that must contain zero, ones that must not, and the verdict words."""

import numpy as np
import pytest
from scipy import stats as sps

from bnlab import stats


def test_an_effect_of_zero_gives_an_interval_containing_zero():
    d = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0, -1.5, 1.5, -0.25, 0.25])  # mean exactly 0, symmetric
    c = stats.mean_effect(d, claim="no effect", unit="u")
    assert c.low < 0 < c.high and c.effect == 0 and c.outcome == stats.NOT_DETECTED
    assert "BCa bootstrap over 10 seeds" in c.method and c.n == 10


def test_a_clear_effect_gives_an_interval_excluding_zero():
    rng = np.random.default_rng(1)
    a = rng.normal(5, 1, 12)
    b = a - 1 + rng.normal(0, 0.1, 12)  # paired: b is a minus about one
    up = stats.paired(a, b, claim="a beats b", unit="u")
    assert 0 < up.low < 1 < up.high and up.outcome == stats.SUPPORTED and up.method.startswith("paired, BCa")
    down = stats.paired(b, a, claim="b beats a", unit="u")
    assert down.outcome == stats.CONTRADICTED
    assert stats.paired(b, a, claim="b below a", unit="u", direction="less").outcome == stats.SUPPORTED


def test_the_bootstrap_is_seeded_and_matches_scipy():
    x = np.random.default_rng(2).exponential(size=15)
    m, lo, hi, _ = stats.interval(x, seed=7)
    assert (m, lo, hi) == stats.interval(x, seed=7)[:3]
    ref = sps.bootstrap((x,), np.mean, method="BCa", rng=np.random.default_rng(7)).confidence_interval
    assert (lo, hi) == (ref.low, ref.high) and lo < m < hi


def test_few_seeds_get_a_t_interval_with_the_right_width():
    x = [1.0, 2.0, 4.0]
    m, lo, hi, method = stats.interval(x)
    half = sps.t.ppf(0.975, 2) * np.std(x, ddof=1) / np.sqrt(3)
    assert method == "t interval over 3 seeds" and np.isclose(hi - m, half) and np.isclose(m - lo, half)


def test_t_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(2000):
        _, lo, hi, _ = stats.interval(rng.normal(0.3, 1.0, 5))
        covered += lo <= 0.3 <= hi
    assert 0.93 < covered / 2000 < 0.97


def test_no_spread_and_exact_values_give_zero_width_intervals():
    c = stats.mean_effect([0.25] * 10, claim="c", unit="u")
    assert (c.low, c.high) == (0.25, 0.25) and c.outcome == stats.SUPPORTED and "no spread" in c.method
    assert stats.exact(0.0, claim="c", unit="u").outcome == stats.NOT_DETECTED
    assert stats.exact(-1e-3, claim="c", unit="u", direction="less").outcome == stats.SUPPORTED


def test_agreement_checks_with_a_margin():
    assert stats.outcome(-0.05, 0.04, "within", 0.1) == stats.SUPPORTED
    assert stats.outcome(0.15, 0.3, "within", 0.1) == stats.CONTRADICTED
    assert stats.outcome(0.05, 0.3, "within", 0.1) == stats.NOT_DETECTED
    with pytest.raises(ValueError, match="margin"):
        stats.outcome(0, 1, "within")
    with pytest.raises(ValueError, match="direction"):
        stats.outcome(0, 1, "up")


def test_exact_binomial_interval():
    c = stats.proportion(9, 9, claim="BN first")
    assert c.outcome == stats.SUPPORTED and c.low > 0 and np.isclose(c.high, 0.5)
    assert stats.proportion(5, 9, claim="BN first").outcome == stats.NOT_DETECTED
    assert stats.proportion(0, 9, claim="BN first").outcome == stats.CONTRADICTED


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="interval: need at least one finite value"):
        stats.interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="paired: both sides need one value per seed"):
        stats.paired([1, 2], [1], claim="c", unit="u")


def test_verdict_words():
    s, c, n = (stats.exact(v, claim="c", unit="u") for v in (1.0, -1.0, 0.0))
    assert stats.verdict([s, s]) == "supported" and stats.verdict([c]) == "contradicted"
    assert stats.verdict([n, n]) == "not detected" and stats.verdict([s, n]) == "mixed"
    assert stats.verdict([]) == "no checks"
