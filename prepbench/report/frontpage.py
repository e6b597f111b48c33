"""The tables of README.md and docs/findings.md, written from the published reports' CSVs.

A page marks each generated table with `<!-- table:NAME -->` ... `<!-- /table:NAME -->`; `write()`
replaces what lies between with `TABLES[NAME]` computed from results/**/effects.csv and summary.csv,
which tests/test_published_reports.py holds to their stores. The prose around the tables is
written by hand. `python -m prepbench.report.published` calls `write()` after the reports, and
tests/test_frontpage.py fails while a page's table differs from what its reports give now."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from prepbench import ROOT
from prepbench.errors import PrepbenchError
from prepbench.report.pagetables import TABLES

PAGES = ("README.md", "docs/findings.md")
MARKED = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)


def render(text: str, root: Path = ROOT) -> str:
    """The page with every marked table computed again from the reports."""

    def fill(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise PrepbenchError(f"<!-- table:{name} --> names no table; expected one of {', '.join(TABLES)}")
        return f"{match[1]}\n{TABLES[name](root)}\n\n{match[4]}"

    return MARKED.sub(fill, text)


def marked(text: str) -> list[str]:
    return [match["name"] for match in MARKED.finditer(text)]


def write(root: Path = ROOT) -> list[Path]:
    """Rewrite the pages' tables; the pages that changed. Every page is rendered before any is
    written, so a report that is missing leaves every page as it was."""
    texts = {root / name: (root / name).read_text() for name in PAGES}
    rendered = {page: render(text, root) for page, text in texts.items()}
    changed = [page for page, text in texts.items() if rendered[page] != text]
    for page in changed:
        page.write_text(rendered[page])
    return changed


def main(argv=None) -> int:
    """`python -m prepbench.report.frontpage`: the pages' tables alone, from the reports as they are
    (`python -m prepbench.report.published` regenerates the reports first, then calls this)."""
    argparse.ArgumentParser(prog="python -m prepbench.report.frontpage", description=main.__doc__).parse_args(argv)
    try:
        pages = write(ROOT)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for page in pages:
        print(f"{page.relative_to(ROOT)}: tables written again from the reports")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
