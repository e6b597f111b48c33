"""prepbench.report.pagewords: the pages word a report's verdicts by rule, and print its numbers as
the reports do (pp, a minus sign, bold where the Holm-adjusted p is below 1 - level)."""

import pandas as pd
import pytest

from prepbench.report import pagewords


def row(verdict: str, mean: float, p_holm: float = 0.01, favours: str = "", **more) -> pd.Series:
    return pd.Series({"verdict": verdict, "mean": mean, "p_holm": p_holm, "level": 0.95, "favours": favours, **more})


@pytest.mark.parametrize(
    ("shallow", "deep", "interaction", "words", "status"),
    [
        (
            row("helps", 0.05),
            row("helps", 0.01),
            row("", 0.04),
            "helps both nets, the shallow one more",
            "**supported**",
        ),
        (
            row("hurts", -0.1),
            row("hurts", -0.2),
            row("", 0.1),
            "hurts both nets, the deep one more",
            "**contradicted**",
        ),
        (
            row("no detectable effect", 0, 0.5),
            row("helps", 0.04),
            row("", -0.05),
            "helps the deep net; nothing detectable on the shallow one",
            "partly supported",
        ),
        (row("hurts", -0.01), row("helps", 0.04), row("", -0.05), "helps the deep net, hurts the shallow one", "mixed"),
        (
            row("no detectable effect", 0.01, 0.5),
            row("no detectable effect", -0.01, 0.5),
            row("", 0.02),
            "a larger benefit on the shallow net; neither detectable alone",
            "not supported",
        ),
        (
            row("no detectable effect", 0.0, 0.5),
            row("no detectable effect", 0.0, 0.5),
            row("", 0.0, 0.9),
            "no detectable effect on either net",
            "not supported",
        ),
    ],
)
def test_verdicts_are_worded_from_the_reports_own_verdicts(shallow, deep, interaction, words, status):
    claim = pagewords.Claim("C", "v")
    assert pagewords.effect_words(shallow, deep, interaction) == words
    assert pagewords.claim_status(claim, shallow, deep) == status


def test_a_claim_of_no_effect_is_contradicted_by_any_detectable_one():
    claim = pagewords.Claim("C3", "raw", expects="nothing")
    assert pagewords.claim_status(claim, row("helps", 0.2), row("no detectable effect", 0, 0.5)) == "**contradicted**"
    assert (
        pagewords.claim_status(claim, row("no detectable effect", 0, 0.5), row("no detectable effect", 0, 0.5))
        == "supported"
    )


def test_h_reads_the_interaction_the_report_says_it_favours():
    assert pagewords.h_reading(row("", 0.1, favours="shallow")) == "supports"
    assert pagewords.h_reading(row("", -0.1, favours="deep")) == "contradicts"
    assert pagewords.h_reading(pd.Series({"favours": float("nan")})) == "undecided"


def test_numbers_print_as_the_pages_do():
    assert pagewords.number(-0.0156) == "−1.56"
    assert pagewords.number(-1e-17) == pagewords.number(-0.00004) == "+0.00"  # no signed zero
    assert pagewords.effect(row("hurts", -0.0156, ci_low_holm=-0.03, ci_high_holm=-0.001)) == "**−1.56** [−3.00, −0.10]"
