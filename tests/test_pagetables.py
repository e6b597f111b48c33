"""The page tables: their own helpers, and how a table reads a report that is not published yet
(each table is checked against the published reports in test_frontpage)."""

import shutil

import pandas as pd

from prepbench.report.pagetables import normalization_table, residual_table, seed_counts
from prepbench.report.pagewords import FAMILIES, RESNET, effects, label
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
    crop = next(line for line in waiting if line.startswith("| C1 | `crop`"))
    assert "(depths 2, 8 only)" in crop  # the plain nets ran crop at two depths

    ladder_report(root / RESNET, (8, 14, 20), lambda d: 0.02)  # the core before its other variants
    lines = normalization_table(root).splitlines()
    assert "| ResNet-8 | ResNet-20 |" in lines[0]
    scaling = next(line for line in lines if line.startswith("| C3 | scaling"))
    assert [c.strip("*") for c in scaling.split(" | ")[-3:-1]] == ["+2.00", "+2.00"]  # none − raw at ResNet-8, -20
    assert "+0.00 [" in scaling.split(" | ")[-1]  # no trend planted
    assert next(line for line in lines if line.startswith("| C1 | `crop`")).endswith("| running | running | running |")


def test_the_residual_table_gives_each_variant_of_the_ladder_and_its_slope_against_the_plain_ones(tmp_path):
    root = published_copy(tmp_path)
    lines = residual_table(root).splitlines()
    assert lines[0].startswith("| ResNet depth | 8 | 14 | 20 |")
    ladder_variants = effects(root, RESNET).query("kind == 'trend'")["variant"].unique()
    assert len(lines) == 3 + len(ladder_variants)  # header, rule, `none`'s accuracy, one row per variant

    families = pd.read_csv(root / FAMILIES / "families.csv")
    raw = (families["family"] == "resnet") & (families["variant"] == "raw")
    for p_holm, cell in (
        (0.5, "+5.00 [−1.00, +11.00], Holm p 0.500"),
        (0.001, "**+5.00** [−1.00, +11.00], Holm p 0.001"),
        (0.03, "**+5.00** [−1.00, +11.00], Holm p 0.030"),  # below alpha, above 1 − its step's level
    ):
        families.loc[raw, ["difference", "difference_low", "difference_high", "p_holm", "difference_level"]] = [
            0.05,
            -0.01,
            0.11,
            p_holm,
            0.99,
        ]
        families.to_csv(root / FAMILIES / "families.csv", index=False)
        scaling = next(line for line in residual_table(root).splitlines() if line.startswith("| scaling"))
        assert scaling.endswith(f"| {cell} |")


def test_the_residual_table_bolds_a_difference_of_slopes_exactly_where_the_families_report_finds_one(tmp_path):
    root = published_copy(tmp_path)
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in residual_table(root).splitlines()}
    families = pd.read_csv(root / FAMILIES / "families.csv").query("family == 'resnet'")
    for _, row in families.iterrows():
        found = row["difference_verdict"] != "no difference detectable"
        assert rows[label(row["variant"])].split(" | ")[-1].startswith("**") == found, row["variant"]
