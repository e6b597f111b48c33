"""Statistics for paired seed comparisons: pure numpy/scipy/pandas, no I/O.

Every effect in prepbench is a *paired* difference: a variant and the baseline `none` trained
with the same seed (same initial weights, batch order and augmentation draws) on the same network
and data. Seeds are the only replication unit, so the differences d_1..d_n over seeds are taken
as independent draws of one random variable, and all uncertainty statements are about its mean.

The interaction (does a variant help one network more than another?) is a difference of paired
differences, again per seed:

    i_s = (v_shallow,s - none_shallow,s) - (v_deep,s - none_deep,s)

using only seeds where all four runs finished. Runs on different networks share nothing but the
seed number, so this pairing across networks neither helps nor biases; it keeps one i_s per seed,
independent across seeds, which is all the interval and tests below assume.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st

LEVEL = 0.95
"""Default confidence level of every interval, and 1 - alpha of every verdict."""

BOOTSTRAP_MIN_N = 20
"""Below this many seeds the percentile bootstrap undercovers badly; the t interval is used."""

EXACT_SIGN_FLIP_MAX_N = 16
"""Up to this many differences the sign-flip test enumerates all 2^n sign vectors (65,536)."""


@dataclass(frozen=True)
class Interval:
    """A mean with its spread and a two-sided confidence interval."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    method: str  # "t" or "bootstrap" or "none" (fewer than 2 values)


def _clean(x) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def t_interval(x, level: float = LEVEL) -> Interval:
    """Student t interval for the mean: mean ± t_{(1+level)/2, n-1} · sd / sqrt(n).

    sd uses ddof=1. Assumes the values are independent draws from a normal distribution (for
    seed-to-seed differences of accuracy this is an assumption, untestable with a handful of
    seeds; the t interval is nonetheless the usual and fairly robust choice for small n).
    With n < 2 the interval is undefined and returned as NaN.

    >>> t_interval([1.0, 2.0, 3.0]).low  # 2 - 4.3027 / sqrt(3)
    -0.4841...
    """
    a = _clean(x)
    n = a.size
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan, "none")
    mean = float(a.mean())
    if n < 2:
        return Interval(1, mean, math.nan, math.nan, math.nan, "none")
    sd = float(a.std(ddof=1))
    half = float(_st.t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(n, mean, sd, mean - half, mean + half, "t")


def bootstrap_interval(x, level: float = LEVEL, n_resamples: int = 10_000, seed: int = 0) -> Interval:
    """Percentile bootstrap interval for the mean: the (1-level)/2 and (1+level)/2 quantiles of
    the means of `n_resamples` resamples drawn with replacement. Assumes only independent draws;
    it is reliable for large n only (see BOOTSTRAP_MIN_N). Deterministic for a given `seed`.
    """
    a = _clean(x)
    n = a.size
    if n < 2:
        return t_interval(a, level)
    rng = np.random.default_rng(seed)
    means = a[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(n, float(a.mean()), float(a.std(ddof=1)), float(low), float(high), "bootstrap")


def mean_interval(x, level: float = LEVEL, method: str = "auto") -> Interval:
    """The interval prepbench reports: "t" for n < BOOTSTRAP_MIN_N, "bootstrap" from there on
    (method="auto"), or the named method."""
    if method == "auto":
        method = "bootstrap" if _clean(x).size >= BOOTSTRAP_MIN_N else "t"
    if method == "t":
        return t_interval(x, level)
    if method == "bootstrap":
        return bootstrap_interval(x, level)
    raise ValueError(f"unknown interval method {method!r}; expected 'auto', 't' or 'bootstrap'")


def t_test_pvalue(x) -> float:
    """Two-sided one-sample t test of mean(x) = 0 (same assumptions as `t_interval`).
    NaN for n < 2; 1.0 when all values are exactly 0; 0.0 for a nonzero constant."""
    a = _clean(x)
    if a.size < 2:
        return math.nan
    if np.all(a == a[0]):
        return 1.0 if a[0] == 0 else 0.0
    return float(_st.ttest_1samp(a, 0.0).pvalue)


@dataclass(frozen=True)
class SignFlip:
    pvalue: float
    exact: bool
    min_pvalue: float  # the smallest p-value this n can give (exact test), 2 / 2^n


def sign_flip_test(x, n_resamples: int = 20_000, seed: int = 0,
                   exact_max_n: int = EXACT_SIGN_FLIP_MAX_N) -> SignFlip:
    """Two-sided sign-flip (paired permutation) test of "the differences are centred on 0".

    Under H0 each paired difference is symmetric about 0, so its sign is a fair coin: the
    statistic |sum(d)| is compared with |sum(s·d)| over sign vectors s in {-1, +1}^n.
    p = #{s : |sum(s·d)| >= |sum(d)|} / 2^n, enumerated exactly when n <= `exact_max_n`;
    otherwise a Monte Carlo estimate (1 + hits) / (1 + n_resamples). Distribution-free apart
    from symmetry and independence; with n seeds it cannot go below 2 / 2^n (0.25 for n = 3,
    0.0625 for n = 5, 0.031 for n = 6), so with few seeds it is honest but weak.
    """
    a = _clean(x)
    n = a.size
    if n == 0:
        return SignFlip(math.nan, True, math.nan)
    observed = abs(a.sum())
    tol = 1e-12 * max(1.0, float(np.abs(a).sum()))
    min_p = 2.0 / 2**n if n <= 1023 else 0.0
    if n <= exact_max_n:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        hits = int(np.sum(np.abs(signs @ a) >= observed - tol))
        return SignFlip(hits / 2**n, True, min_p)
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(n_resamples, n))
    hits = int(np.sum(np.abs(signs @ a) >= observed - tol))
    return SignFlip((1 + hits) / (1 + n_resamples), False, min_p)


@dataclass(frozen=True)
class Prob:
    estimate: float
    low: float
    high: float


def prob_beats(diff, level: float = LEVEL) -> Prob:
    """P(A > B) over paired seeds (Bouthillier et al., MLSys 2021): the fraction of seeds where
    the variant beats the baseline, diff = A - B, ties counting one half.

    Interval: Clopper-Pearson (exact binomial) for k = wins + ties/2 out of n, from the Beta
    quantiles Beta((1-level)/2; k, n-k+1) and Beta((1+level)/2; k+1, n-k). It says how well
    the probability itself is known; with 3 seeds, 3 wins out of 3 still only bounds it above 0.29.
    """
    a = _clean(diff)
    n = a.size
    if n == 0:
        return Prob(math.nan, math.nan, math.nan)
    k = float(np.sum(a > 0) + 0.5 * np.sum(a == 0))
    alpha = 1 - level
    low = 0.0 if k <= 0 else float(_st.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k >= n else float(_st.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return Prob(k / n, low, high)


def paired_differences(variant: pd.Series, baseline: pd.Series) -> pd.Series:
    """variant - baseline over the seeds (index) present in both, sorted by seed; NaNs dropped."""
    v = variant.dropna()
    b = baseline.dropna()
    common = v.index.intersection(b.index).sort_values()
    return (v.loc[common] - b.loc[common]).rename(None)


def interaction_differences(v_a: pd.Series, none_a: pd.Series,
                            v_b: pd.Series, none_b: pd.Series) -> pd.Series:
    """Per seed, (v_a - none_a) - (v_b - none_b), over the seeds present in all four."""
    return paired_differences(paired_differences(v_a, none_a), paired_differences(v_b, none_b))


def verdict(low: float, high: float, above: str, below: str,
            neutral: str = "no detectable difference") -> str:
    """`above` if the interval lies entirely above 0, `below` if entirely below, else `neutral`.
    Never stronger than the interval: a verdict is only the sign the interval excludes."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "not enough seeds"
    if low > 0:
        return above
    if high < 0:
        return below
    return neutral


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control); NaNs stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out


def early_epoch(epochs: int) -> int:
    """The "early" epoch at which benefits are also measured: a quarter of training, rounded
    up, at least 1 (10 epochs -> 3, 4 -> 1, 5 -> 2)."""
    return max(1, math.ceil(int(epochs) / 4))


def describe(diff, level: float = LEVEL, method: str = "auto") -> dict:
    """Everything reported for one set of paired differences, as a flat dict:
    n, mean, sd, ci_low, ci_high, ci_method, p_t, p_signflip, signflip_exact,
    signflip_min_p, prob_beats, prob_beats_low, prob_beats_high."""
    iv = mean_interval(diff, level, method)
    sf = sign_flip_test(diff)
    pb = prob_beats(diff, level)
    return {
        "n": iv.n, "mean": iv.mean, "sd": iv.sd, "ci_low": iv.low, "ci_high": iv.high,
        "ci_method": iv.method, "p_t": t_test_pvalue(diff), "p_signflip": sf.pvalue,
        "signflip_exact": sf.exact, "signflip_min_p": sf.min_pvalue,
        "prob_beats": pb.estimate, "prob_beats_low": pb.low, "prob_beats_high": pb.high,
    }
