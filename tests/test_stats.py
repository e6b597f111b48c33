"""prepbench.stats on constructed data with known answers."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from prepbench import stats


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
    assert stats.mean_interval(x[:5]).method == "t"
    boot = stats.mean_interval(x)
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


def test_prob_beats_counts_ties_half_with_clopper_pearson():
    p = stats.prob_beats([1.0, -1.0, 0.0, 2.0])
    assert p.estimate == pytest.approx(2.5 / 4)
    all_win = stats.prob_beats([1.0, 1.0, 1.0])
    assert all_win.estimate == 1.0 and all_win.high == 1.0
    assert all_win.low == pytest.approx(0.025 ** (1 / 3))  # exact CP lower bound for 3/3
    none_win = stats.prob_beats([-1.0, -2.0])
    assert none_win.estimate == 0.0 and none_win.low == 0.0


def test_paired_differences_align_by_seed():
    v = pd.Series([0.8, 0.7, 0.9], index=[2, 0, 1])
    b = pd.Series([0.5, 0.6, np.nan, 0.4], index=[0, 1, 2, 3])
    d = stats.paired_differences(v, b)
    assert list(d.index) == [0, 1]  # seed 2 has a NaN baseline, seed 3 no variant
    assert list(d) == pytest.approx([0.2, 0.3])


def test_interaction_planted_is_found_and_null_is_not():
    seeds = range(6)
    rng = np.random.default_rng(0)
    none_s = pd.Series(0.60 + rng.normal(0, 0.01, 6), index=seeds)
    none_d = pd.Series(0.70 + rng.normal(0, 0.01, 6), index=seeds)
    noise = np.array([0.004, -0.003, 0.002, -0.004, 0.003, -0.002])
    # planted: +5 pp on shallow, +1 pp on deep -> interaction +4 pp
    d = stats.interaction_differences(none_s + 0.05 + noise, none_s, none_d + 0.01 - noise / 2, none_d)
    assert d.mean() == pytest.approx(0.04)
    r = stats.describe(d)
    assert r["ci_low"] > 0 and r["p_signflip"] < 0.05 and r["prob_beats"] == 1.0
    assert stats.verdict(r["ci_low"], r["ci_high"], "helps shallow more", "helps deep more") == "helps shallow more"
    # null: +2 pp on both -> interaction exactly noise around 0
    d0 = stats.interaction_differences(none_s + 0.02 + noise, none_s, none_d + 0.02, none_d)
    r0 = stats.describe(d0)
    assert r0["ci_low"] < 0 < r0["ci_high"] and r0["p_signflip"] > 0.05
    assert stats.verdict(r0["ci_low"], r0["ci_high"], "a", "b") == "no detectable difference"
    # reversed: helps deep more
    rev = stats.describe(-d)
    assert stats.verdict(rev["ci_low"], rev["ci_high"], "helps shallow more", "helps deep more") == "helps deep more"


def test_verdict_needs_an_interval():
    assert stats.verdict(math.nan, math.nan, "a", "b") == "not enough seeds"
    assert stats.verdict(0.0, 1.0, "a", "b") == "no detectable difference"  # touching 0 is not excluding it


def test_holm():
    adj = stats.holm([0.01, 0.04, 0.03, np.nan])
    assert adj[0] == pytest.approx(0.03)  # 3 * 0.01
    assert adj[2] == pytest.approx(0.06)  # 2 * 0.03
    assert adj[1] == pytest.approx(0.06)  # max(1 * 0.04, previous)
    assert math.isnan(adj[3])


@pytest.mark.parametrize("epochs,early", [(1, 1), (2, 1), (4, 1), (5, 2), (10, 3), (12, 3), (13, 4)])
def test_early_epoch(epochs, early):
    assert stats.early_epoch(epochs) == early
