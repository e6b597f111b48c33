"""The page tables: their own helpers, and how a table reads a report that is not published yet
(each table is checked against the published reports in test_frontpage)."""

import shutil

import pandas as pd

from prepbench.report.pagetables import normalization_table, seed_counts
from prepbench.report.pagewords import RESNET
from tests._published import published_copy
from tests._report_runs import ladder_report


def test_seed_counts_name_one_count_when_the_nets_agree_and_both_in_order_when_not():
    five, three = pd.Series({"n": 5.0}), pd.Series({"n": 3.0})
    assert seed_counts(five, five) == "5"
    assert seed_counts(five, three) == "5/3"
    assert seed_counts(three, five) == "3/5"


def test_the_normalization_table_waits_for_the_residual_report_then_takes_each_variant_it_has(tmp_path):
    root = published_copy(tmp_path)
    shutil.rmtree(root / RESNET, ignore_errors=True)
    waiting = normalization_table(root).splitlines()
    assert "| shallowest ResNet | deepest ResNet |" in waiting[0]
    assert all(line.endswith("| running | running | running |") for line in waiting[2:])
    crop = next(line for line in waiting if line.startswith("| `crop`"))
    assert "(depths 2, 8 only)" in crop  # the plain nets ran crop at two depths

    ladder_report(root / RESNET, (8, 14, 20), lambda d: 0.02)  # the core before its other variants
    lines = normalization_table(root).splitlines()
    assert "| ResNet-8 | ResNet-20 |" in lines[0]
    scaling = next(line for line in lines if line.startswith("| scaling"))
    assert [c.strip("*") for c in scaling.split(" | ")[-3:-1]] == ["+2.00", "+2.00"]  # none − raw at ResNet-8, -20
    assert "+0.00 [" in scaling.split(" | ")[-1]  # no trend planted
    assert next(line for line in lines if line.startswith("| `crop`")).endswith("| running | running | running |")
