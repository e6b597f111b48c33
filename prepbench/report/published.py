"""`python -m prepbench.report.published`: every report published under results/, written again by
the command it prints under "Regenerate this report with"; then every families table
(`prepbench.report.families`) by the command it names, from those reports; then the tables of
README.md and docs/findings.md (`prepbench.report.frontpage`). Run it after a study's store grows or
the report's code changes: tests/test_published_reports.py fails while a published report or
families table is stale, tests/test_frontpage.py while a page's table is."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

from prepbench import ROOT
from prepbench.report import families, frontpage
from prepbench.report.driver import main as report

COMMAND = re.compile(r"Regenerate this report with:\n\n```\n(python -m prepbench\.report [^\n]+)\n```")


def published(root: Path = ROOT) -> list[tuple[Path, list[str] | None]]:
    """(the report's folder relative to `root`, its command's arguments) for every report.md under
    results/ (stored run artifacts left out); arguments None where a report prints no command."""
    out = []
    for page in sorted((root / "results").rglob("report.md")):
        if "mlartifacts" in page.parts:
            continue
        match = COMMAND.search(page.read_text())
        out.append((page.parent.relative_to(root), shlex.split(match.group(1))[3:] if match else None))
    return out


FAMILIES = re.compile(r"Produced by `(python -m prepbench\.report\.families [^`]+)`")


def published_families(root: Path = ROOT) -> list[tuple[Path, list[str] | None]]:
    """(the folder relative to `root`, its command's arguments) for every families.md under results/;
    arguments None where the table names no command."""
    out = []
    for page in sorted((root / "results").rglob("families.md")):
        match = FAMILIES.search(page.read_text().replace("\n", " "))
        out.append((page.parent.relative_to(root), shlex.split(match.group(1))[3:] if match else None))
    return out


def main(argv=None) -> int:
    """Regenerate them all from the repository root (the commands name paths from there)."""
    argparse.ArgumentParser(prog="python -m prepbench.report.published", description=__doc__).parse_args(argv)
    os.chdir(ROOT)
    failed = []
    for folder, args in published():
        print(f"{folder}: " + ("python -m prepbench.report " + shlex.join(args) if args else "no command"), flush=True)
        if args is None or report(args) != 0:
            failed.append(str(folder))
    for folder, args in published_families() if not failed else []:  # from reports that all regenerated
        print(
            f"{folder}: " + ("python -m prepbench.report.families " + shlex.join(args) if args else "no command"),
            flush=True,
        )
        if args is None or families.main(args) != 0:
            failed.append(str(folder))
    if failed:
        print(f"error: not regenerated: {', '.join(failed)}", file=sys.stderr)
        return 1
    return frontpage.main([])  # the pages' tables, only from reports that all regenerated


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
