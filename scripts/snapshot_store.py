"""Copy a study's store from the worktree it grows in into this checkout, while its sweep writes.

    python scripts/snapshot_store.py ../study/results/converged results/converged

A long study runs from a git worktree pinned at a commit (docs/studies.md); its store is committed
from the main checkout as it grows. A plain copy of `mlflow.db` taken while a job writes may be
torn, so the database is copied with SQLite's online backup, which reads one consistent state.
Artifacts are copied where this checkout lacks them and never overwritten (a run's artifacts are
written once). Prints each experiment's runs by status, to say what the snapshot holds, and the
command that makes the published reports again: a report counts every run of its experiment, so
tests/test_published_reports.py fails on one made from the old store.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from pathlib import Path

STORE = "mlflow.db"
ARTIFACTS = "mlartifacts"


def snapshot(source: Path, target: Path) -> int:
    """Back up source/mlflow.db onto target/mlflow.db and copy the artifacts target lacks; return
    how many artifact files were copied."""
    target.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source / STORE}?mode=ro", uri=True)
    dst = sqlite3.connect(target / STORE)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    copied = 0
    for path in sorted((source / ARTIFACTS).rglob("*")):
        there = target / path.relative_to(source)
        if path.is_file() and not there.exists():
            there.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, there)
            copied += 1
    return copied


def counts(store: Path) -> list[tuple[str, str, int]]:
    """(experiment, status, runs) of the store's active runs."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return db.execute(
            "select e.name, r.status, count(*) from runs r join experiments e using (experiment_id) "
            "where r.lifecycle_stage = 'active' group by 1, 2 order by 1, 2"
        ).fetchall()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/snapshot_store.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the growing store's folder (holding mlflow.db), in the worktree")
    parser.add_argument("target", type=Path, help="the folder to copy it into, in this checkout")
    args = parser.parse_args(argv)
    if not (args.source / STORE).is_file():
        print(f"error: {args.source / STORE} does not exist; expected a study's store folder", file=sys.stderr)
        return 2
    if args.source.resolve() == args.target.resolve():
        print(
            f"error: source and target are both {args.source}; expected the worktree's store and another",
            file=sys.stderr,
        )
        return 2
    copied = snapshot(args.source, args.target)
    print(f"{args.target / STORE}: backed up from {args.source / STORE}; {copied} new artifact file(s)")
    for experiment, status, n in counts(args.target / STORE):
        print(f"  {experiment}: {n} {status}")
    # A report names the runs of its whole experiment, so one made from the old store is stale now.
    print("before committing: python -m prepbench.report.published (the reports of these experiments again)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
