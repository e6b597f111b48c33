"""The page tables' own helpers (the tables themselves are checked against the reports in test_frontpage)."""

import pandas as pd

from prepbench.report.pagetables import seed_counts


def test_seed_counts_name_one_count_when_the_nets_agree_and_both_in_order_when_not():
    five, three = pd.Series({"n": 5.0}), pd.Series({"n": 3.0})
    assert seed_counts(five, five) == "5"
    assert seed_counts(five, three) == "5/3"
    assert seed_counts(three, five) == "3/5"
