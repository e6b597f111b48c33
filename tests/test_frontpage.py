"""prepbench.report.frontpage: the tables of README.md and docs/findings.md are the published
reports' numbers. Each table is computed again from results/**/effects.csv and summary.csv (which
tests/test_published_reports.py holds to their stores) and compared with the page."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from prepbench import ROOT
from prepbench.report import frontpage
from prepbench.report.frontpage import MARKED, PAGES, TABLES, render

FIX = "python -m prepbench.report.frontpage (or python -m prepbench.report.published)"


@pytest.mark.parametrize("page", PAGES)
def test_every_table_on_the_page_is_what_its_reports_give(page):
    text = (ROOT / page).read_text()
    again = {m["name"]: m["body"] for m in MARKED.finditer(render(text))}
    stale = [m["name"] for m in MARKED.finditer(text) if m["body"] != again[m["name"]]]
    assert stale == [], f"{page}: table(s) {', '.join(stale)} no longer match their reports; run {FIX}"


def test_the_pages_hold_every_table_and_the_front_page_the_answer():
    used = {name for page in PAGES for name in frontpage.marked((ROOT / page).read_text())}
    assert used == set(TABLES)
    assert {"claims", "depth", "scarcity-steps"} <= set(frontpage.marked((ROOT / "README.md").read_text()))


def published_copy(tmp_path: Path) -> Path:
    """The pages and the reports' CSVs, copied: a root to change numbers in."""
    for page in PAGES:
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / page, tmp_path / page)
    for csv in (ROOT / "results").rglob("*.csv"):
        if "mlartifacts" not in csv.parts and csv.name in ("effects.csv", "summary.csv"):
            (tmp_path / csv.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(csv, tmp_path / csv.relative_to(ROOT))
    return tmp_path


def test_a_number_that_changes_in_a_report_changes_the_page_and_write_puts_it_there(tmp_path):
    root = published_copy(tmp_path)
    effects = root / "results/converged/effects.csv"
    frame = pd.read_csv(effects)
    row = (frame["metric"] == "test_accuracy") & (frame["variant"] == "augment") & (frame["moderator"] == "deep")
    frame.loc[row, "mean"] = 0.0987
    frame.to_csv(effects, index=False)

    readme = (root / "README.md").read_text()
    assert "**+9.87**" in render(readme, root) and "**+9.87**" not in readme
    assert frontpage.write(root) == [root / "README.md", root / "docs/findings.md"]
    assert "**+9.87**" in (root / "README.md").read_text()
    assert frontpage.write(root) == []  # written once, nothing left to change


def test_a_marker_naming_no_table_is_refused():
    with pytest.raises(KeyError, match="table:clams --> names no table"):
        render("<!-- table:clams -->\n<!-- /table:clams -->\n")


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
    claim = frontpage.Claim("C", "v")
    assert frontpage.effect_words(shallow, deep, interaction) == words
    assert frontpage.claim_status(claim, shallow, deep) == status


def test_a_claim_of_no_effect_is_contradicted_by_any_detectable_one():
    claim = frontpage.Claim("C3", "raw", expects="nothing")
    assert frontpage.claim_status(claim, row("helps", 0.2), row("no detectable effect", 0, 0.5)) == "**contradicted**"
    assert (
        frontpage.claim_status(claim, row("no detectable effect", 0, 0.5), row("no detectable effect", 0, 0.5))
        == "supported"
    )


def test_h_reads_the_interaction_the_report_says_it_favours():
    assert frontpage.h_reading(row("", 0.1, favours="shallow")) == "supports"
    assert frontpage.h_reading(row("", -0.1, favours="deep")) == "contradicts"
    assert frontpage.h_reading(pd.Series({"favours": float("nan")})) == "undecided"


def test_numbers_print_as_the_pages_do():
    assert frontpage.number(-0.0156) == "−1.56"
    assert frontpage.effect(row("hurts", -0.0156, ci_low_holm=-0.03, ci_high_holm=-0.001)) == "**−1.56** [−3.00, −0.10]"
