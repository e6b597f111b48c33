"""prepbench.report.stats on constructed data with known answers."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from prepbench.report import stats


def test_t_interval_known_values():
    iv = stats.t_interval([1.0, 2.0, 3.0], level=0.95)
    half = 4.302652729911275 / math.sqrt(3)  # t_{0.975, 2} * sd(=1) / sqrt(3)
    assert (iv.n, iv.mean, iv.sd, iv.method) == (3, 2.0, 1.0, "t")
    assert iv.low == pytest.approx(2 - half) and iv.high == pytest.approx(2 + half)
    # a wider level gives a wider interval
    assert stats.t_interval([1.0, 2.0, 3.0], level=0.99).low < iv.low


def test_t_interval_degenerate():
    one = stats.t_interval([0.7])
    assert one.n == 1 and one.mean == 0.7 and math.isnan(one.low) and one.method == "none"
    assert stats.t_interval([]).n == 0
    assert stats.t_interval([1.0, np.nan, 3.0]).n == 2  # NaNs are dropped, not propagated


def test_auto_switches_to_bootstrap_for_large_n_and_agrees_with_t():
    x = np.random.default_rng(1).normal(0.5, 1.0, size=400)
    assert stats.mean_interval(x[:5], method="auto").method == "t"
    assert stats.mean_interval(x).method == "t"  # the default: the interval that agrees with the t test
    boot = stats.mean_interval(x, method="auto")
    t = stats.t_interval(x)
    assert boot.method == "bootstrap"
    assert boot.low == pytest.approx(t.low, abs=0.02) and boot.high == pytest.approx(t.high, abs=0.02)
    assert stats.bootstrap_interval(x).low == boot.low  # deterministic


def test_sign_flip_exact_known_pvalues():
    # all 3 positive: only the all-plus and all-minus sign vectors are as extreme
    r = stats.sign_flip_test([1.0, 2.0, 3.0])
    assert r.exact and r.pvalue == pytest.approx(2 / 8) and r.min_pvalue == pytest.approx(0.25)
    assert stats.sign_flip_test([1.0, -1.0]).pvalue == 1.0
    # six positive differences reach 2/64 = 0.03125 < 0.05
    assert stats.sign_flip_test([0.01, 0.02, 0.015, 0.03, 0.01, 0.02]).pvalue == pytest.approx(2 / 64)
    # [3, -1, 1, 1]: |sum| = 4; count sign vectors with |sum| >= 4 by brute force
    d = np.array([3.0, -1.0, 1.0, 1.0])
    import itertools

    hits = sum(abs(np.dot(s, d)) >= 4 for s in itertools.product([1, -1], repeat=4))
    assert stats.sign_flip_test(d).pvalue == pytest.approx(hits / 16)


def test_sign_flip_monte_carlo_for_many_seeds():
    r = stats.sign_flip_test(np.ones(30), n_resamples=2000)
    assert not r.exact and r.pvalue == pytest.approx(1 / 2001)
    null = stats.sign_flip_test(np.random.default_rng(0).normal(size=30), n_resamples=2000)
    assert null.pvalue > 0.05


def test_t_test_pvalue_matches_scipy_and_edge_cases():
    x = [0.1, 0.3, -0.05, 0.2]
    assert stats.t_test_pvalue(x) == pytest.approx(st.ttest_1samp(x, 0).pvalue)
    assert stats.t_test_pvalue([0.0, 0.0, 0.0]) == 1.0
    assert stats.t_test_pvalue([0.2, 0.2]) == 0.0
    assert math.isnan(stats.t_test_pvalue([0.2]))


def test_prob_beats_leaves_ties_out_as_the_sign_test_does():
    p = stats.prob_beats([1.0, -1.0, 0.0, 2.0, 0.0])
    assert (p.wins, p.ties, p.n) == (2, 2, 5)
    assert p.estimate == pytest.approx(2 / 3)  # 2 wins of 3 untied seeds
    assert p.low == pytest.approx(st.beta.ppf(0.025, 2, 2)) and p.high == pytest.approx(st.beta.ppf(0.975, 3, 1))
    all_win = stats.prob_beats([1.0, 1.0, 1.0])
    assert all_win.estimate == 1.0 and all_win.high == 1.0
    assert all_win.low == pytest.approx(0.025 ** (1 / 3))  # exact CP lower bound for 3/3
    none_win = stats.prob_beats([-1.0, -2.0])
    assert none_win.estimate == 0.0 and none_win.low == 0.0
    tied = stats.prob_beats([0.0, 0.0])
    assert math.isnan(tied.estimate) and tied.ties == 2


def test_welch_degrees_of_freedom_and_p_match_the_textbook():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0]
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)  # 5/3 and 4
    df = (va / 4 + vb / 3) ** 2 / ((va / 4) ** 2 / 3 + (vb / 3) ** 2 / 2)
    assert (
        stats.welch_df(va, 4, vb, 3) == pytest.approx(df) == pytest.approx(3.2347, abs=1e-4)
    )  # 1.75^2 / (0.4167^2/3 + 1.3333^2/2)
    w = stats.welch(a, b)
    assert (w.test, w.n_a, w.n_b) == ("Welch", 4, 3) and w.mean == pytest.approx(-1.5)
    assert w.df == pytest.approx(df) and w.se == pytest.approx(math.sqrt(va / 4 + vb / 3))
    assert w.p == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue)
    low, high = w.interval(0.95)
    assert high - w.mean == pytest.approx(st.t.ppf(0.975, df) * w.se)
    # equal sizes and variances: 2(n - 1), the pooled test's df
    assert stats.welch_df(2.0, 3, 2.0, 3) == pytest.approx(4.0)


def test_interaction_is_welch_whatever_the_correlation_with_the_paired_test_beside_it():
    seeds = range(6)
    noise = np.array([0.004, -0.003, 0.002, -0.004, 0.003, -0.002])
    a = pd.Series(0.05 + noise, index=seeds)
    independent = stats.interaction(a, pd.Series(0.01 - noise, index=seeds))
    assert independent.test == "Welch" and independent.corr == pytest.approx(-1) and independent.df == pytest.approx(10)
    b = pd.Series(0.01 + noise + [0, 1e-4, 0, 0, 0, 0], index=seeds)
    shared = stats.interaction(a, b)
    assert (
        shared.test == "Welch"
        and shared.corr > 0.99
        and shared.corr_p < 0.05
        and shared.df == pytest.approx(10, abs=1e-3)
    )
    paired = stats.paired_interaction(a, b)  # the sensitivity check: pairing removes the shared noise
    assert paired.test == "paired t" and paired.df == 5 and paired.mean == pytest.approx(0.04 - 1e-4 / 6)
    assert paired.halfwidth() < shared.halfwidth() and paired.p <= shared.p
    r, p, n = stats.correlation(pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([1.0, 3.0, 2.0, 4.0]))
    assert r == pytest.approx(st.pearsonr([1, 2, 3, 4], [1, 3, 2, 4])[0])
    assert p == pytest.approx(st.pearsonr([1, 2, 3, 4], [1, 3, 2, 4], alternative="greater").pvalue) and n == 4


def test_paired_comparison_agrees_with_its_interval():
    d = [0.01, 0.03, 0.02, 0.05]
    c = stats.paired(d)
    assert c.p == pytest.approx(st.ttest_1samp(d, 0).pvalue) and c.df == 3
    low, _ = c.interval(1 - c.p)  # at level 1 - p the interval touches 0
    assert low == pytest.approx(0, abs=1e-12)
    iv = stats.t_interval(d)
    assert c.interval() == (pytest.approx(iv.low), pytest.approx(iv.high))


def test_holm_on_a_known_p_vector():
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    # sorted: 0.005 (x4), 0.01 (x3), 0.03 (x2), 0.04 (x1) -> 0.02, 0.03, 0.06, max(0.04, 0.06)
    assert list(stats.holm(p)[:4]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(stats.holm(p)[4])
    levels = stats.holm_levels(p, alpha=0.05)
    # rejected: 0.005 at step 1 (0.05/4), 0.01 at step 2 (0.05/3); 0.03 fails at step 3 (0.05/2)
    assert levels[3] == pytest.approx(1 - 0.05 / 4) and levels[0] == pytest.approx(1 - 0.05 / 3)
    assert levels[2] == pytest.approx(1 - 0.05 / 2) and levels[1] == pytest.approx(1 - 0.05 / 2)
    assert math.isnan(levels[4])


def test_holm_consistent_intervals_never_contradict_the_adjusted_p():
    rng = np.random.default_rng(3)
    for _ in range(200):
        samples = [rng.normal(rng.choice([0.0, 0.5, 1.5]), 1.0, size=rng.integers(3, 8)) for _ in range(6)]
        comps = [stats.paired(x) for x in samples]
        p = [c.p for c in comps]
        for c, adj, lv in zip(comps, stats.holm(p), stats.holm_levels(p)):
            low, high = c.interval(lv)
            assert (low > 0 or high < 0) == (adj < 0.05)


def test_two_sample_permutation_test_enumerates_every_split():
    r = stats.two_sample_permutation_test([5.0, 6.0, 7.0], [1.0, 2.0, 3.0])
    assert r.exact and r.pvalue == pytest.approx(2 / 20) and r.min_pvalue == pytest.approx(0.1)
    assert stats.two_sample_permutation_test([1.0, 2.0], [1.0, 2.0]).pvalue == 1.0


def test_seeds_needed_for_a_target_halfwidth():
    # one sample: the smallest n with t_{n-1} * sd / sqrt(n) <= h
    n = int(stats.seeds_needed(0.02, 0.01))
    assert st.t.ppf(0.975, n - 1) * 0.02 / math.sqrt(n) <= 0.01 < st.t.ppf(0.975, n - 2) * 0.02 / math.sqrt(n - 1)
    # two samples of n each (Welch): more than one sample with the same sd
    assert stats.seeds_needed(0.02, 0.01, sd_b=0.02) > n
    assert math.isnan(stats.seeds_needed(math.nan, 0.01))
    assert stats.seeds_needed(0.0, 0.01) == 2


def test_clip_interval():
    iv = stats.clip_interval(stats.Interval(3, 0.01, 0.02, -0.04, 0.06, "t"))
    assert (iv.low, iv.high) == (0.0, 0.06)


def test_paired_differences_align_by_seed():
    v = pd.Series([0.8, 0.7, 0.9], index=[2, 0, 1])
    b = pd.Series([0.5, 0.6, np.nan, 0.4], index=[0, 1, 2, 3])
    d = stats.paired_differences(v, b)
    assert list(d.index) == [0, 1]  # seed 2 has a NaN baseline, seed 3 no variant
    assert list(d) == pytest.approx([0.2, 0.3])


@pytest.mark.parametrize("epochs,early", [(1, 1), (2, 1), (4, 1), (5, 2), (10, 3), (12, 3), (13, 4)])
def test_early_epoch(epochs, early):
    assert stats.early_epoch(epochs) == early


def test_trend_is_the_mean_of_per_seed_slopes_with_seeds_as_the_unit():
    doses = [0.0, 1.0, 2.0, 3.0]  # log2 depth 1, 2, 4, 8
    rows = {0: [4.0, 3.0, 2.0, 1.0], 1: [5.0, 3.0, 3.0, 1.0], 2: [3.0, np.nan, 2.0, 0.5]}
    t = stats.trend(pd.DataFrame.from_dict(rows, orient="index", columns=doses))
    slopes = [-1.0, np.polyfit(doses, rows[1], 1)[0], np.polyfit([0, 2, 3], [3.0, 2.0, 0.5], 1)[0]]
    assert t.test == "per-seed slope t" and t.n == 3
    assert t.mean == pytest.approx(np.mean(slopes))
    assert t.p == pytest.approx(st.ttest_1samp(slopes, 0).pvalue)
    flat = stats.trend(pd.DataFrame({0.0: [1.0, 2.0, 1.5], 3.0: [1.2, 1.8, 1.5]}))
    assert flat.p > 0.5
    one_dose = stats.trend(pd.DataFrame({1.0: [1.0, 2.0]}))
    assert one_dose.n == 0 and np.isnan(one_dose.p)
