"""Statistics for seed-replicated comparisons: pure numpy/scipy/pandas, no I/O.

Two kinds of effect, and the test each gets:

* A **benefit** is paired: a variant and its baseline trained with the same seed on the same
  network and data (same initial weights, batch order and augmentation draws). The differences
  d_1..d_n over seeds are independent draws of one variable; the effect is their mean, tested with
  the one-sample (paired) t test and a sign-flip permutation test.
* An **interaction** compares two benefits measured on different moderator levels (shallow vs deep
  networks, two data sizes, ...). Runs on different levels share no weights, so pairing the two
  benefits by seed number buys nothing unless they are correlated across seeds. `interaction`
  therefore uses Welch's two-sample t test, fixed in advance (a test chosen after looking at the
  correlation would make its p-value depend on that look); the Pearson correlation of the two
  benefits over their common seeds and the paired t test on them (`paired_interaction`) are a
  sensitivity check beside it.

Multiplicity: `holm` adjusts a table's p-values (family-wise error control); `holm_levels` gives
each test the confidence level whose t interval agrees with the Holm decision (see there).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats as _st

LEVEL = 0.95
"""Default confidence level of every interval, and 1 - alpha of every verdict."""

BOOTSTRAP_MIN_N = 20
"""Below this many seeds the percentile bootstrap undercovers badly (`mean_interval`)."""

EXACT_SIGN_FLIP_MAX_N = 16
"""Up to this many differences the sign-flip test enumerates all 2^n sign vectors (65,536)."""

EXACT_PERMUTATION_MAX = 20_000
"""Up to this many splits the two-sample permutation test enumerates all of them."""


@dataclasses.dataclass(frozen=True)
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
    seed-to-seed differences of accuracy an assumption, untestable with a handful of seeds; the t
    interval is the usual and fairly robust choice for small n). With n < 2 the bounds are NaN.

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


def mean_interval(x, level: float = LEVEL, method: str = "t") -> Interval:
    """A mean's interval: "t" (the default, the one consistent with the t test), "bootstrap", or
    "auto" (t for n < BOOTSTRAP_MIN_N, bootstrap from there on)."""
    if method == "auto":
        method = "bootstrap" if _clean(x).size >= BOOTSTRAP_MIN_N else "t"
    if method == "t":
        return t_interval(x, level)
    if method == "bootstrap":
        return bootstrap_interval(x, level)
    raise ValueError(f"unknown interval method {method!r}; expected 'auto', 't' or 'bootstrap'")


def clip_interval(iv: Interval, low: float = 0.0, high: float = 1.0) -> Interval:
    """The interval of a bounded quantity (an accuracy) clipped to its range [low, high]."""
    clip = lambda v: v if not np.isfinite(v) else min(max(v, low), high)  # noqa: E731
    return Interval(iv.n, iv.mean, iv.sd, clip(iv.low), clip(iv.high), iv.method)


def t_test_pvalue(x) -> float:
    """Two-sided one-sample t test of mean(x) = 0 (same assumptions as `t_interval`).
    NaN for n < 2; 1.0 when all values are exactly 0; 0.0 for a nonzero constant."""
    a = _clean(x)
    if a.size < 2:
        return math.nan
    if np.all(a == a[0]):
        return 1.0 if a[0] == 0 else 0.0
    return float(_st.ttest_1samp(a, 0.0).pvalue)


# ------------------------------------------------------------------------ one effect, one test


@dataclasses.dataclass(frozen=True)
class Comparison:
    """An effect estimated from seeds, with the t-type test and interval that belong together:
    `interval(level)` excludes 0 exactly when `p` < 1 - level (same statistic, same df).

    test: "paired t" (one-sample t on per-seed differences) or "Welch" (two-sample, unequal
    variances); n: seeds used (paired: pairs; Welch: n_a + n_b); sd: the sd of the paired
    differences (NaN for Welch); corr, corr_p: Pearson correlation across the common seeds and its
    one-sided p (interactions only)."""

    test: str
    n: int
    n_a: int
    n_b: int
    mean: float
    sd: float
    sd_a: float
    sd_b: float
    se: float
    df: float
    p: float
    corr: float = math.nan
    corr_p: float = math.nan
    corr_n: int = 0

    def halfwidth(self, level: float = LEVEL) -> float:
        """Half the width of the two-sided t interval at `level` (NaN when undefined)."""
        if not (np.isfinite(self.se) and np.isfinite(self.df) and self.df > 0):
            return math.nan
        return float(_st.t.ppf((1 + level) / 2, self.df)) * self.se

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        h = self.halfwidth(level)
        return (self.mean - h, self.mean + h) if np.isfinite(h) else (math.nan, math.nan)


def _p_from_t(mean: float, se: float, df: float) -> float:
    if not (np.isfinite(se) and np.isfinite(df) and df > 0):
        return math.nan
    if se == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * _st.t.sf(abs(mean) / se, df))


def paired(diff) -> Comparison:
    """The one-sample (paired) t test of mean(diff) = 0: df = n - 1, se = sd / sqrt(n)."""
    a = _clean(diff)
    n = a.size
    mean = float(a.mean()) if n else math.nan
    sd = float(a.std(ddof=1)) if n > 1 else math.nan
    se = sd / math.sqrt(n) if n > 1 else math.nan
    df = float(n - 1) if n > 1 else math.nan
    return Comparison("paired t", n, n, n, mean, sd, sd, sd, se, df, _p_from_t(mean, se, df))


def trend(benefits: pd.DataFrame) -> Comparison:
    """A dose-response test fixed in advance: rows are seeds, columns doses x (log2 depth, say),
    values the seed's paired benefit at that dose. Each seed's least-squares slope of benefit on x
    (over the doses it has, at least two) is one observation, seeds the unit; the slopes' mean is
    the trend per unit of x, tested with the one-sample t test (`paired` on the slopes)."""
    return dataclasses.replace(paired(seed_slopes(benefits)), test="per-seed slope t")


def seed_slopes(benefits: pd.DataFrame) -> list[float]:
    """Each seed's least-squares slope of benefit on dose (`trend`'s rows and columns), over the
    doses it has, where it has at least two."""
    x = np.asarray(benefits.columns, dtype=float)
    slopes = []
    for _, row in benefits.iterrows():
        y = row.to_numpy(dtype=float)
        ok = np.isfinite(y)
        if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
            slopes.append(float(np.polyfit(x[ok], y[ok], 1)[0]))
    return slopes


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom of mean(a) - mean(b):
    (va/na + vb/nb)^2 / ((va/na)^2/(na-1) + (vb/nb)^2/(nb-1)); NaN when undefined."""
    if n_a < 2 or n_b < 2:
        return math.nan
    qa, qb = var_a / n_a, var_b / n_b
    den = qa**2 / (n_a - 1) + qb**2 / (n_b - 1)
    return (qa + qb) ** 2 / den if den > 0 else float(n_a + n_b - 2)


def welch(a, b) -> Comparison:
    """Welch's two-sample t test of mean(a) = mean(b), unequal variances; the effect is
    mean(a) - mean(b), se = sqrt(va/na + vb/nb), df from `welch_df`."""
    x, y = _clean(a), _clean(b)
    na, nb = x.size, y.size
    mean = float(x.mean() - y.mean()) if na and nb else math.nan
    va = float(x.var(ddof=1)) if na > 1 else math.nan
    vb = float(y.var(ddof=1)) if nb > 1 else math.nan
    se = math.sqrt(va / na + vb / nb) if na > 1 and nb > 1 else math.nan
    df = welch_df(va, na, vb, nb)
    return Comparison(
        "Welch",
        na + nb,
        na,
        nb,
        mean,
        math.nan,
        math.sqrt(va) if na > 1 else math.nan,
        math.sqrt(vb) if nb > 1 else math.nan,
        se,
        df,
        _p_from_t(mean, se, df),
    )


def correlation(a: pd.Series, b: pd.Series) -> tuple[float, float, int]:
    """Pearson r of a and b over their common index, its one-sided p for r > 0, and n.
    NaN below 3 common values or when either is constant."""
    common = a.dropna().index.intersection(b.dropna().index)
    x, y = a.loc[common].to_numpy(float), b.loc[common].to_numpy(float)
    n = len(common)
    if n < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan, math.nan, n
    r = float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0))
    if abs(r) > 1 - 1e-12:
        return r, (0.0 if r > 0 else 1.0), n
    t = r * math.sqrt((n - 2) / (1 - r * r))
    return r, float(_st.t.sf(t, n - 2)), n


def interaction(benefit_a: pd.Series, benefit_b: pd.Series) -> Comparison:
    """benefit on level a minus benefit on level b (Series indexed by seed): Welch's test on all
    seeds of each, with the benefits' correlation across their common seeds."""
    r, rp, rn = correlation(benefit_a, benefit_b)
    c = welch(benefit_a, benefit_b)
    return Comparison(c.test, c.n, c.n_a, c.n_b, c.mean, c.sd, c.sd_a, c.sd_b, c.se, c.df, c.p, r, rp, rn)


def paired_interaction(benefit_a: pd.Series, benefit_b: pd.Series) -> Comparison:
    """The sensitivity check of `interaction`: the paired t test on the seeds both benefits have."""
    common = benefit_a.dropna().index.intersection(benefit_b.dropna().index)
    return paired(benefit_a.loc[common] - benefit_b.loc[common])


# ------------------------------------------------------------------------- permutation tests


@dataclasses.dataclass(frozen=True)
class SignFlip:
    pvalue: float
    exact: bool
    min_pvalue: float  # the smallest p-value this n can give (exact test)


def sign_flip_test(x, n_resamples: int = 20_000, seed: int = 0, exact_max_n: int = EXACT_SIGN_FLIP_MAX_N) -> SignFlip:
    """Two-sided sign-flip (paired permutation) test of "the differences are centred on 0".

    Under H0 each paired difference is symmetric about 0, so its sign is a fair coin: |sum(d)| is
    compared with |sum(s·d)| over sign vectors s in {-1, +1}^n. p = #{s : |sum(s·d)| >= |sum(d)|}
    / 2^n, enumerated exactly when n <= `exact_max_n`; otherwise a Monte Carlo estimate
    (1 + hits) / (1 + n_resamples). It cannot go below 2 / 2^n (0.25 for n = 3, 0.0625 for n = 5).
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


def two_sample_permutation_test(
    a, b, n_resamples: int = 20_000, seed: int = 0, exact_max: int = EXACT_PERMUTATION_MAX
) -> SignFlip:
    """Two-sided permutation test of "a and b come from one distribution": |mean(a) - mean(b)|
    against the same statistic over every split of the pooled values into groups of len(a) and
    len(b) (exactly when there are at most `exact_max` splits, else Monte Carlo). With 3 and 3
    values there are 20 splits, so p cannot go below 2/20 = 0.1."""
    x, y = _clean(a), _clean(b)
    na, nb = x.size, y.size
    if na == 0 or nb == 0:
        return SignFlip(math.nan, True, math.nan)
    pooled = np.concatenate([x, y])
    total = pooled.sum()
    n = na + nb
    stat = lambda s: np.abs(s / na - (total - s) / nb)  # noqa: E731 (s: sums of the first group)
    observed = float(stat(x.sum()))
    tol = 1e-12 * max(1.0, float(np.abs(pooled).sum()))
    splits = math.comb(n, na)
    if splits <= exact_max:
        sums = np.array([pooled[list(c)].sum() for c in itertools.combinations(range(n), na)])
        hits = int(np.sum(stat(sums) >= observed - tol))
        return SignFlip(hits / splits, True, 2.0 / splits if na == nb else 1.0 / splits)
    rng = np.random.default_rng(seed)
    sums = np.array([pooled[rng.permutation(n)[:na]].sum() for _ in range(n_resamples)])
    hits = int(np.sum(stat(sums) >= observed - tol))
    return SignFlip((1 + hits) / (1 + n_resamples), False, 0.0)


# --------------------------------------------------------------------------------- P(beats)


@dataclasses.dataclass(frozen=True)
class Prob:
    estimate: float
    low: float
    high: float
    wins: int = 0
    ties: int = 0
    n: int = 0


def prob_beats(diff, level: float = LEVEL) -> Prob:
    """P(variant > baseline) over paired seeds (Bouthillier et al., MLSys 2021), ties handled as
    the sign test does (Dixon and Mood, 1946): a tied seed says nothing about which is better and
    is left out, so the estimate is wins / (n - ties), the probability of beating the baseline
    when the two differ, with an exact Clopper–Pearson interval for that binomial proportion:
    Beta((1-level)/2; k, m-k+1) and Beta((1+level)/2; k+1, m-k), k wins of m = n - ties.
    With 3 seeds, 3 wins out of 3 still only bounds it above 0.29. NaN when every seed ties."""
    a = _clean(diff)
    wins, ties = int(np.sum(a > 0)), int(np.sum(a == 0))
    m = a.size - ties
    if m == 0:
        return Prob(math.nan, math.nan, math.nan, wins, ties, a.size)
    alpha = 1 - level
    low = 0.0 if wins == 0 else float(_st.beta.ppf(alpha / 2, wins, m - wins + 1))
    high = 1.0 if wins == m else float(_st.beta.ppf(1 - alpha / 2, wins + 1, m - wins))
    return Prob(wins / m, low, high, wins, ties, a.size)


# --------------------------------------------------------------------------------- pairing


def paired_differences(variant: pd.Series, baseline: pd.Series) -> pd.Series:
    """variant - baseline over the seeds (index) present in both, sorted by seed; NaNs dropped."""
    v = variant.dropna()
    b = baseline.dropna()
    common = v.index.intersection(b.index).sort_values()
    return (v.loc[common] - b.loc[common]).rename(None)


# ---------------------------------------------------------------------------- multiplicity


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control); NaNs stay NaN and do not
    count as tests. The i-th smallest of m p-values is adjusted to max_{j<=i} min(1, (m-j+1) p_(j))."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out


def holm_levels(pvalues, alpha: float = 1 - LEVEL) -> np.ndarray:
    """The confidence level at which to print each test's interval so that it never contradicts
    the Holm decision at `alpha` (NaN where p is NaN).

    Holm tests the p-values in ascending order, the i-th (from 1) against alpha / (m - i + 1), and
    stops at the first that fails, step s. A test rejected at step i gets level 1 - alpha/(m-i+1):
    its p is below that threshold, so its t interval at that level excludes 0. Every test not
    rejected gets level 1 - alpha/(m-s+1): its p is at least the failing p_(s), above that
    threshold, so its interval includes 0. The interval thus excludes 0 exactly when the
    Holm-adjusted p is below alpha (`holm(p) < alpha`); each is a Bonferroni interval over the
    hypotheses still in play at its step."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    order = ok[np.argsort(p[ok], kind="stable")]
    stop = m
    for rank, idx in enumerate(order):
        if not p[idx] * (m - rank) < alpha:
            stop = rank
            break
    for rank, idx in enumerate(order):
        out[idx] = 1 - alpha / (m - min(rank, stop))
    return out


# ------------------------------------------------------------------------------ resolution


def seeds_needed(
    sd_a: float, halfwidth: float, level: float = LEVEL, sd_b: float | None = None, max_n: int = 100_000
) -> float:
    """Seeds needed for a t interval of half-width <= `halfwidth`, at the observed spread.

    One sample (paired; sd_b None): the smallest n >= 2 with t_{n-1} · sd_a / sqrt(n) <= h.
    Two samples (Welch, n seeds on each level): the smallest n >= 2 with
    t_{df} · sqrt((sd_a^2 + sd_b^2) / n) <= h, df = welch_df(sd_a^2, n, sd_b^2, n).
    NaN when a spread is unknown; inf beyond `max_n`."""
    if not (np.isfinite(sd_a) and (sd_b is None or np.isfinite(sd_b)) and halfwidth > 0):
        return math.nan
    q = (1 + level) / 2

    def half(n):
        if sd_b is None:
            return float(_st.t.ppf(q, n - 1)) * sd_a / math.sqrt(n)
        df = welch_df(sd_a**2, n, sd_b**2, n) if sd_a + sd_b > 0 else 2.0 * (n - 1)
        return float(_st.t.ppf(q, df)) * math.sqrt((sd_a**2 + sd_b**2) / n)

    if half(max_n) > halfwidth:
        return math.inf
    low, high = 2, max_n  # half(n) decreases with n: bisect for the first n that is narrow enough
    while low < high:
        mid = (low + high) // 2
        if half(mid) <= halfwidth:
            high = mid
        else:
            low = mid + 1
    return float(low)


def early_epoch(epochs: int) -> int:
    """The "early" epoch at which benefits are also measured: a quarter of training, rounded
    up, at least 1 (10 epochs -> 3, 4 -> 1, 5 -> 2)."""
    return max(1, math.ceil(int(epochs) / 4))
