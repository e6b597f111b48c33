"""A copy of the published pages and the reports' (and families tables') CSVs, for tests that change a number in them."""

import shutil
from pathlib import Path

from prepbench import ROOT
from prepbench.report.frontpage import PAGES


def published_copy(tmp_path: Path) -> Path:
    """The pages and the reports' CSVs, copied: a root to change numbers in."""
    for page in PAGES:
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / page, tmp_path / page)
    for csv in (ROOT / "results").rglob("*.csv"):
        if "mlartifacts" not in csv.parts and csv.name in ("effects.csv", "summary.csv", "families.csv"):
            (tmp_path / csv.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(csv, tmp_path / csv.relative_to(ROOT))
    return tmp_path
