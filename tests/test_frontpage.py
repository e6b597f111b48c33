"""prepbench.report.frontpage: the tables of README.md and docs/findings.md are the published
reports' numbers. Each table is computed again from results/**/effects.csv and summary.csv (which
tests/test_published_reports.py holds to their stores) and compared with the page."""

import pandas as pd
import pytest

from prepbench import ROOT
from prepbench.errors import PrepbenchError
from prepbench.report import frontpage
from prepbench.report.frontpage import MARKED, PAGES, TABLES, render
from tests._published import published_copy

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
    with pytest.raises(PrepbenchError, match="table:clams --> names no table"):
        render("<!-- table:clams -->\n<!-- /table:clams -->\n")


def test_a_missing_report_is_one_line_naming_it_and_leaves_every_page_as_it_was(tmp_path, monkeypatch, capsys):
    root = published_copy(tmp_path)
    families = root / "results/converged/families/families.csv"
    families.unlink()  # read by a findings table only: README.md, rendered first, would change
    frame = pd.read_csv(root / "results/converged/effects.csv")
    frame["mean"] += 0.01
    frame.to_csv(root / "results/converged/effects.csv", index=False)
    before = {page: (root / page).read_text() for page in PAGES}

    monkeypatch.setattr(frontpage, "ROOT", root)
    assert frontpage.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {families} does not exist; expected the report's families.csv (")
    assert err.count("\n") == 1
    assert {page: (root / page).read_text() for page in PAGES} == before
