"""prepbench.report.published, and what it guards: every report published under results/ recomputes
at this commit. The command a report prints under "Regenerate this report with", run on the committed
store or runs.csv, writes the same report.md, runs.csv, summary.csv and effects.csv (floats to 1e-9),
and the command a families table names writes the same families.md and families.csv from those
reports; a change to the report's code or to a study's store that is not followed by
`python -m prepbench.report.published` fails here."""

import shutil
from pathlib import Path

import pytest

from prepbench import ROOT
from prepbench.report import families
from prepbench.report.driver import main
from prepbench.report.published import published, published_families
from tests._report_runs import ladder_report

PUBLISHED = published()
FAMILIES = published_families()
COMPARED = ("report.md", "runs.csv", "summary.csv", "effects.csv")


def test_every_published_report_prints_its_command():
    assert len(PUBLISHED) >= 10
    assert [str(folder) for folder, args in PUBLISHED if args is None] == []


@pytest.mark.parametrize(("report", "args"), PUBLISHED, ids=[str(f) for f, _ in PUBLISHED])
def test_a_published_report_recomputes_exactly(report, args, tmp_path, monkeypatch):
    args = list(args)
    out = args[args.index("--out") + 1]
    assert Path(out) == report, f"{report}/report.md regenerates into {out}"
    for table in (ROOT / report).glob("verify*.md"):  # verification tables beside it are cited in it
        shutil.copy(table, tmp_path)
    args[args.index("--out") + 1] = str(tmp_path)
    monkeypatch.chdir(ROOT)  # the commands name paths from the repository root
    assert main(args) == 0
    for name in COMPARED:
        if (ROOT / report / name).exists():
            again = (tmp_path / name).read_text().replace(str(tmp_path), out)
            if name.endswith(".csv"):
                assert_same_table(again, (ROOT / report / name).read_text(), f"{report}/{name}")
            else:
                assert again == (ROOT / report / name).read_text(), (
                    f"{report}/{name} is not what its command writes now"
                )


def test_every_published_families_table_names_its_command_and_is_found_with_it(tmp_path):
    assert [str(folder) for folder, args in FAMILIES if args is None] == []
    plain = ladder_report(tmp_path / "results/study/plain", (1, 2, 4), lambda d: 0.1)
    resnet = ladder_report(tmp_path / "results/study/resnet", (8, 14, 20), lambda d: 0.1)
    args = [f"plain={plain}", f"resnet={resnet}", "--out", str(tmp_path / "results/study/families")]
    assert families.main(args) == 0
    assert published_families(tmp_path) == [(Path("results/study/families"), args)]


@pytest.mark.parametrize(("folder", "args"), FAMILIES, ids=[str(f) for f, _ in FAMILIES])
def test_a_published_families_table_recomputes_exactly(folder, args, tmp_path, monkeypatch):
    args = list(args)
    out = args[args.index("--out") + 1]
    assert Path(out) == folder, f"{folder}/families.md regenerates into {out}"
    args[args.index("--out") + 1] = str(tmp_path)
    monkeypatch.chdir(ROOT)
    assert families.main(args) == 0
    page = (tmp_path / "families.md").read_text().replace(str(tmp_path), out)
    assert page == (ROOT / folder / "families.md").read_text(), (
        f"{folder}/families.md is not what its command writes now"
    )
    again = (tmp_path / "families.csv").read_text()
    assert_same_table(again, (ROOT / folder / "families.csv").read_text(), f"{folder}/families.csv")


def assert_same_table(again: str, published: str, name: str):
    """The same rows, columns and text; floats equal to 1e-9 relative: the same store gave other last
    digits on another machine (each machine alone repeats its own), a published figure does not."""
    import io

    import pandas as pd

    new, old = (pd.read_csv(io.StringIO(text)) for text in (again, published))
    try:
        pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=1e-9, atol=1e-12)
    except AssertionError as error:
        raise AssertionError(f"{name} is not what its command writes now: {error}") from None
