"""Evidence and sanity checks, declared margins, p-values with Holm's adjustment, bounded intervals, seed sets."""

import numpy as np
import pytest
from scipy import stats as sps

from bnlab import stats
from bnlab.experiments import SEED_BLOCK, Result, seeds


def test_sanity_checks_never_decide_the_verdict():
    rng = np.random.default_rng(0)
    evidence = stats.mean_effect(1 + 0.1 * rng.standard_normal(10), claim="e", unit="u")
    sanity = stats.mean_effect(-1 + 0.1 * rng.standard_normal(10), claim="s", unit="u", kind="sanity")
    assert evidence.outcome == stats.SUPPORTED and sanity.outcome == stats.CONTRADICTED
    assert stats.verdict([evidence, sanity]) == stats.SUPPORTED
    assert stats.verdict([sanity]) == "no checks"  # a property that must hold is never support
    with pytest.raises(ValueError, match="kind must be 'evidence' or 'sanity'"):
        stats.mean_effect([1.0, 2.0], claim="c", unit="u", kind="proof")


def test_a_margin_needs_its_reason():
    with pytest.raises(ValueError, match="needs the reason"):
        stats.mean_effect([0.01, 0.02, 0.0], claim="c", unit="u", direction="within", margin=0.1)
    with pytest.raises(ValueError, match="needs the reason"):
        stats.exact(0.0, claim="c", unit="u", direction="within", margin=0.1)
    c = stats.mean_effect([0.01, 0.02, 0.0], claim="c", unit="u", direction="within", margin=0.1, reason="why")
    assert c.reason == "why"


def test_p_values_are_t_tests_and_two_one_sided_tests_for_agreement():
    x = np.array([0.3, 0.5, 0.1, 0.7, 0.2])
    assert stats.mean_effect(x, claim="c", unit="u").p == pytest.approx(sps.ttest_1samp(x, 0).pvalue)
    tost = stats.mean_effect(x - 0.35, claim="c", unit="u", direction="within", margin=0.5, reason="r").p
    expected = max(sps.ttest_1samp(x - 0.35, -0.5, alternative="greater").pvalue,
                   sps.ttest_1samp(x - 0.35, 0.5, alternative="less").pvalue)
    assert tost == pytest.approx(expected)
    assert stats.exact(1.0, claim="c", unit="u").p is None
    assert stats.proportion(9, 10, claim="c").p == pytest.approx(sps.binomtest(9, 10).pvalue)


def test_holm_adjusts_over_the_evidence_checks_of_a_claim():
    checks = [stats.Check("a", 1, 0.5, 2, "u", "supported", p=0.01),
              stats.Check("b", 1, 0.5, 2, "u", "supported", p=0.04),
              stats.Check("c", 1, 0.5, 2, "u", "supported", p=0.03),
              stats.Check("d", 1, 0.5, 2, "u", "supported", p=0.001, kind="sanity"),
              stats.Check("e", 1, 1, 1, "u", "supported")]
    result = Result("x", "claim", checks, "finding", {})  # a Result adjusts its checks when it is made
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> made non-decreasing: 0.03, 0.06, 0.06
    assert [c.p_holm for c in result.checks[:3]] == pytest.approx([0.03, 0.06, 0.06])
    assert result.checks[3].p_holm is None and result.checks[4].p_holm is None
    assert "Holm p 0.03" in result.checks[0].short()


def test_accuracy_intervals_stay_within_zero_and_one():
    mean, low, high, method = stats.interval([1.0, 1.0, 0.9], bounds=stats.ACCURACY)
    assert 0.0 <= low <= mean <= high <= 1.0 and "cut to [0, 1]" in method
    assert stats.interval([1.0, 1.0, 0.9])[2] > 1  # the t interval itself would pass 1
    c = stats.paired([1.0, 1.0, 0.95], [0.0, 0.02, 0.01], claim="c", unit="u", bounds=stats.DIFFERENCE)
    assert c.high <= 1.0


def test_seed_sets_are_disjoint_and_counted():
    assert seeds(0, quick=True) == [0, 1, 2] and len(seeds(0, quick=False)) == 20
    assert seeds(2, quick=False, count=5) == [2 * SEED_BLOCK + i for i in range(5)]
    assert not set(seeds(0, False, 1000)) & set(seeds(1, False, 1000))
    with pytest.raises(ValueError, match="seed >= 0"):
        seeds(-1, quick=True)
    with pytest.raises(ValueError, match="count"):
        seeds(0, quick=True, count=0)
