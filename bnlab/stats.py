"""Effects with 95% confidence intervals over independent seeds, and the verdict words they give.

A :class:`Check` is one measured effect in the direction a claim predicts, with its interval. Its outcome is
*supported* when the interval excludes zero in the claimed direction, *contradicted* when it excludes zero the
other way, and *not detected* when it contains zero. A check of agreement ("the slope is -0.5 within 0.1")
has a ``margin``: supported when the whole interval lies within it, contradicted when the whole interval lies
outside it, not detected otherwise.

Intervals: with 10 or more values, the BCa bootstrap of the mean (``scipy.stats.bootstrap``, 9,999 resamples,
seeded); with 2 to 9, Student's t interval; a count of successes gets the exact (Clopper-Pearson) binomial
interval; a deterministic quantity (the same on every run) gets the zero-width interval of its value. A bounded
quantity (an accuracy) keeps its interval within its bounds.

Each check has a *kind*: ``"evidence"`` checks decide the verdict; ``"sanity"`` checks are properties that must hold
whatever the claim (a unit-test-like property, or one the design cannot fail) and are shown apart, never counted as
support. Each check with sampled values also has a p-value (Student's t test of the mean against zero, two-sided;
for an agreement check the two one-sided tests against the margin, the larger p) and, once the checks of one claim
are collected, its Holm-adjusted p-value over that claim's evidence checks (:func:`holm`). An agreement margin is
declared with the reason for its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SUPPORTED, CONTRADICTED, NOT_DETECTED = "supported", "contradicted", "not detected"
CONFIDENCE = 0.95
BOOTSTRAP_FROM = 10  # values needed before the bootstrap is trusted; fewer get a t interval

EVIDENCE, SANITY = "evidence", "sanity"
KINDS = (EVIDENCE, SANITY)
ACCURACY = (0.0, 1.0)  # bounds of an accuracy; a difference of accuracies lies within DIFFERENCE
DIFFERENCE = (-1.0, 1.0)

__all__ = ["Check", "exact", "holm", "interval", "mean_effect", "outcome", "paired", "proportion", "verdict"]


@dataclass
class Check:
    """One effect of a claim with its 95% interval.

    Args:
        claim: what the check asserts, e.g. "BN reaches 90% test accuracy in fewer steps".
        effect: the point estimate (the mean over seeds of the per-seed effect).
        low: lower end of the 95% confidence interval.
        high: upper end.
        unit: what the effect is measured in ("steps", "test accuracy", "log ratio", ...).
        outcome: "supported", "contradicted" or "not detected" (see :func:`outcome`).
        method: how the interval was computed.
        n: how many independent values (seeds) it rests on.
        direction: the sign the claim predicts, "greater" (effect > 0) or "less" (effect < 0); "within" for
            an agreement check with ``margin``.
        margin: for ``direction="within"``: the claim is |effect| <= margin.
        kind: "evidence" (decides the verdict) or "sanity" (must hold; shown apart, never counted as support).
        reason: why the margin has its size (required with a margin).
        p: the p-value of the effect (see the module doc); None for a deterministic value.
        p_holm: ``p`` Holm-adjusted over the claim's evidence checks (None for sanity checks and without ``p``).
    """

    claim: str
    effect: float
    low: float
    high: float
    unit: str
    outcome: str
    method: str = ""
    n: int = 0
    direction: str = "greater"
    margin: float | None = None
    kind: str = EVIDENCE
    reason: str | None = None
    p: float | None = None
    p_holm: float | None = None

    def __str__(self) -> str:
        return f"{self.claim}: {self.short()}"

    def short(self) -> str:
        """Return the effect, its interval, unit and outcome as text, e.g. ``+12.5 [4.1, 20.9] steps (supported)``."""
        p = "" if self.p_holm is None else f", Holm p {self.p_holm:.2g}"
        sanity = ", sanity" if self.kind == SANITY else ""
        return f"{self.effect:+.3g} [{self.low:.3g}, {self.high:.3g}] {self.unit} ({self.outcome}{p}{sanity})"


def outcome(low: float, high: float, direction: str = "greater", margin: float | None = None) -> str:
    """The verdict word of an interval [low, high] for a claim predicting ``direction`` (see the module doc).

    Args:
        low: lower end of the interval.
        high: upper end.
        direction: "greater" (the claim predicts an effect > 0), "less" (< 0) or "within" (|effect| <= margin).
        margin: the agreement margin, needed (and >= 0) for ``direction="within"``.

    Returns:
        "supported", "contradicted" or "not detected".

    Raises:
        ValueError: an unknown direction, or "within" without a margin >= 0.
    """
    if direction == "within":
        if margin is None or margin < 0:
            raise ValueError(f"outcome: direction 'within' needs a margin >= 0, got {margin!r}")
        if -margin <= low and high <= margin:
            return SUPPORTED
        return CONTRADICTED if high < -margin or low > margin else NOT_DETECTED
    if direction not in ("greater", "less"):
        raise ValueError(f"outcome: direction must be 'greater', 'less' or 'within', got {direction!r}")
    if low > 0 or high < 0:
        return SUPPORTED if (low > 0) == (direction == "greater") else CONTRADICTED
    return NOT_DETECTED


def interval(
    values: Sequence[float], *, seed: int = 0, bounds: tuple[float, float] | None = None
) -> tuple[float, float, float, str]:
    """The mean of ``values`` (one per seed) and its 95% interval.

    Args:
        values: one finite number per independent seed.
        seed: seed of the bootstrap's resampling.
        bounds: the range the quantity cannot leave (``ACCURACY`` for an accuracy): the interval is cut to it.

    Returns:
        ``(mean, low, high, method)``, ``method`` saying how the interval was computed.

    Raises:
        ValueError: when there is no value or a value is not finite.
    """
    mean, low, high, method = _interval(values, seed)
    if bounds is not None and (low < bounds[0] or high > bounds[1]):
        low, high = max(low, bounds[0]), min(high, bounds[1])
        method += f", cut to [{bounds[0]:g}, {bounds[1]:g}]"
    return mean, low, high, method


def _interval(values: Sequence[float], seed: int) -> tuple[float, float, float, str]:
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"interval: need at least one finite value, got {x.tolist()}")
    from scipy import stats  # here: the demo's report process unpickles Checks and never needs scipy's 0.6 s import

    mean = float(x.mean())
    if x.size == 1 or np.ptp(x) == 0:
        return mean, mean, mean, f"no spread over {x.size} value{'s' * (x.size > 1)}"
    if x.size < BOOTSTRAP_FROM:
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
        return mean, mean - half, mean + half, f"t interval over {x.size} seeds"
    res = stats.bootstrap((x,), np.mean, confidence_level=CONFIDENCE, method="BCa", rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):  # BCa is undefined for some degenerate samples
        res = stats.bootstrap(
            (x,), np.mean, confidence_level=CONFIDENCE, method="percentile", rng=np.random.default_rng(seed)
        )
        low, high = res.confidence_interval
        return mean, float(low), float(high), f"percentile bootstrap over {x.size} seeds"
    return mean, float(low), float(high), f"BCa bootstrap over {x.size} seeds"


def p_value(values: Sequence[float], direction: str = "greater", margin: float | None = None) -> float | None:
    """The p-value of the mean of ``values``: Student's t test against zero (two-sided), or for an agreement check
    (``direction="within"``) the larger p of the two one-sided tests against -margin and +margin (TOST); None when
    the values have no spread (a deterministic quantity)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size < 2 or np.ptp(x) == 0:
        return None
    if direction == "within":
        low = stats.ttest_1samp(x, -margin, alternative="greater").pvalue
        high = stats.ttest_1samp(x, margin, alternative="less").pvalue
        return float(max(low, high))
    return float(stats.ttest_1samp(x, 0.0).pvalue)


def holm(checks: Sequence[Check]) -> None:
    """Set ``p_holm`` of each evidence check with a p-value: Holm's step-down adjustment over those checks
    (``p`` of the i-th smallest times m - i, made non-decreasing, at most 1); sanity checks get None.

    Args:
        checks: one claim's checks (the family of the adjustment is its evidence checks with a p-value).
    """
    family = sorted((c for c in checks if c.kind == EVIDENCE and c.p is not None), key=lambda c: c.p)
    running = 0.0
    for i, c in enumerate(family):
        running = max(running, min(1.0, (len(family) - i) * c.p))
        c.p_holm = running
    for c in checks:
        if c.kind != EVIDENCE or c.p is None:
            c.p_holm = None


def _declared(kind: str, margin: float | None, reason: str | None, where: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"{where}: kind must be 'evidence' or 'sanity', got {kind!r}")
    if margin is not None and not reason:
        raise ValueError(f"{where}: a margin ({margin!r}) needs the reason for its size (reason=...)")


def mean_effect(
    values: Sequence[float],
    *,
    claim: str,
    unit: str,
    direction: str = "greater",
    margin: float | None = None,
    seed: int = 0,
    kind: str = EVIDENCE,
    reason: str | None = None,
    bounds: tuple[float, float] | None = None,
) -> Check:
    """A check of the mean of per-seed effects ``values`` (e.g. already-paired differences).

    Args:
        values: one effect per seed, positive in the direction the claim predicts when it is "greater".
        claim: what the check asserts.
        unit: what the effect is measured in.
        direction: "greater", "less" or "within" (see `outcome`).
        margin: the agreement margin for "within".
        seed: seed of the bootstrap.
        kind: "evidence" or "sanity".
        reason: why the margin has its size (required with a margin).
        bounds: the range the effect cannot leave (see `interval`).

    Returns:
        The Check, its interval from `interval`.

    Raises:
        ValueError: an unknown kind, or a margin without a reason.
    """
    _declared(kind, margin, reason, "mean_effect")
    mean, low, high, method = interval(values, seed=seed, bounds=bounds)
    return Check(
        claim=claim,
        effect=mean,
        low=low,
        high=high,
        unit=unit,
        outcome=outcome(low, high, direction, margin),
        method=method,
        n=len(values),
        direction=direction,
        margin=margin,
        kind=kind,
        reason=reason,
        p=p_value(values, direction, margin),
    )


def paired(
    a: Sequence[float],
    b: Sequence[float],
    *,
    claim: str,
    unit: str,
    direction: str = "greater",
    margin: float | None = None,
    seed: int = 0,
    kind: str = EVIDENCE,
    reason: str | None = None,
    bounds: tuple[float, float] | None = None,
) -> Check:
    """A check of ``a - b`` paired by seed (run i of ``a`` and of ``b`` share init and batches).

    Args:
        a: one value per seed of the first setting.
        b: the second setting's, in the same seed order.
        claim: what the check asserts.
        unit: what the difference is measured in.
        direction: "greater" (a > b), "less" (a < b) or "within" (see `outcome`).
        margin: the agreement margin for "within".
        seed: seed of the bootstrap.
        kind: "evidence" or "sanity".
        reason: why the margin has its size (required with a margin).
        bounds: the range the difference cannot leave (``DIFFERENCE`` for accuracies).

    Returns:
        The Check of the mean paired difference.

    Raises:
        ValueError: when ``a`` and ``b`` have different lengths.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired: both sides need one value per seed, got {a.shape} and {b.shape}")
    check = mean_effect(a - b, claim=claim, unit=unit, direction=direction, margin=margin, seed=seed, kind=kind,
                        reason=reason, bounds=bounds)
    check.method = "paired, " + check.method
    return check


def exact(value: float, *, claim: str, unit: str, direction: str = "greater", margin: float | None = None,
          kind: str = EVIDENCE, reason: str | None = None) -> Check:
    """A check of a deterministic quantity: the interval is the value itself.

    Args:
        value: the quantity (the same on every run).
        claim: what the check asserts.
        unit: what the value is measured in.
        direction: "greater", "less" or "within" (see `outcome`).
        margin: the agreement margin for "within".
        kind: "evidence" or "sanity".
        reason: why the margin has its size (required with a margin).

    Returns:
        The Check, with a zero-width interval and no p-value.
    """
    _declared(kind, margin, reason, "exact")
    value = float(value)
    return Check(
        claim=claim,
        effect=value,
        low=value,
        high=value,
        unit=unit,
        outcome=outcome(value, value, direction, margin),
        method="deterministic: the same value on every run",
        n=1,
        direction=direction,
        margin=margin,
        kind=kind,
        reason=reason,
    )


def proportion(
    successes: int, trials: int, *, claim: str, unit: str = "fraction - 1/2", kind: str = EVIDENCE
) -> Check:
    """A check that successes happen in more than half the trials: effect = fraction - 1/2, exact binomial interval.

    Args:
        successes: how many trials went the claimed way.
        trials: how many trials there were.
        claim: what the check asserts.
        unit: what the effect is measured in.
        kind: "evidence" or "sanity".

    Returns:
        The Check, its interval the Clopper-Pearson interval of the fraction, shifted by -1/2, its p the exact
        binomial test's against 1/2.

    Raises:
        ValueError: when ``trials`` is zero.
    """
    from scipy import stats

    if trials < 1:
        raise ValueError(f"proportion: need at least one trial, got {trials}")
    _declared(kind, None, None, "proportion")
    test = stats.binomtest(int(successes), int(trials))
    ci = test.proportion_ci(CONFIDENCE, method="exact")
    low, high = ci.low - 0.5, ci.high - 0.5
    return Check(
        claim=claim,
        effect=successes / trials - 0.5,
        low=float(low),
        high=float(high),
        unit=unit,
        outcome=outcome(low, high),
        method=f"exact binomial (Clopper-Pearson), {successes} of {trials}",
        n=int(trials),
        kind=kind,
        p=float(test.pvalue),
    )


def verdict(checks: Sequence[Check]) -> str:
    """An experiment's verdict: the outcome its evidence checks share, "mixed" when they differ, "no checks" when
    it has none (sanity checks never count).

    Args:
        checks: the experiment's checks.

    Returns:
        "supported", "contradicted", "not detected", "mixed" or "no checks".
    """
    outcomes = {c.outcome for c in checks if c.kind == EVIDENCE}
    if not outcomes:
        return "no checks"
    return outcomes.pop() if len(outcomes) == 1 else "mixed"
