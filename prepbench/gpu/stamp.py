"""The commit a GPU call runs, though the device machine receives a copy of the working tree and no
git history (issue 38: results/converged-gpu/gpu.json recorded `"code_commit": ""`).

Here, before the call:

    python -m prepbench.gpu.stamp [.gpu]      # refuses uncommitted changes; writes .gpu/stamp.json

writes the checked-out commit and a digest of the code (every prepbench/**/*.py and conf/**/*.yaml).
There, `scripts/gpu_study.sh` passes the stamp (PREPBENCH_STAMP) and `python -m prepbench.gpu`:

- in a git checkout, takes the commit from git, and refuses a `-dirty` one;
- else reads the stamp, digests the code it received, and refuses when the two differ (the code was
  edited after the stamp) or there is no stamp;
- then sets PREPBENCH_CODE_COMMIT, which prepbench.track.provenance.git_commit reports outside a
  git checkout, so every job run of the call records the commit as a CPU run does, and gpu.json's
  `code_commit` says it.

GPU_TINY=1 (a CPU dry run) and GPU_ALLOW_DIRTY=1 run without a clean commit, and say so.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from prepbench import ROOT
from prepbench.errors import PrepbenchError
from prepbench.io import write_text
from prepbench.track.provenance import CODE_COMMIT_ENV, git_commit, uncommitted_files

STAMP_ENV = "PREPBENCH_STAMP"
PATTERNS = (("prepbench", "*.py"), ("conf", "*.yaml"))


def code_digest(root: Path = ROOT) -> str:
    """sha256 over the code's files (path and bytes), in path order."""
    h = hashlib.sha256()
    for folder, pattern in PATTERNS:
        for path in sorted((root / folder).rglob(pattern)):
            if "__pycache__" in path.parts:
                continue
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def write_stamp(carry: Path, root: Path = ROOT) -> Path:
    """carry/stamp.json: this checkout's commit and code digest; uncommitted changes are refused."""
    files = uncommitted_files()
    if files:
        raise PrepbenchError(
            f"the code has uncommitted changes ({', '.join(files[:3])}); expected a clean checkout: commit first"
        )
    commit = git_commit()
    if commit == "unknown":
        raise PrepbenchError("no git commit here; expected to stamp from a git checkout")
    path = carry / "stamp.json"
    write_text(path, json.dumps({"commit": commit, "code_digest": code_digest(root)}, indent=1) + "\n")
    return path


def commit_for_call(allow_dirty: bool, root: Path = ROOT) -> str:
    """The commit this call's code is (module docstring); sets CODE_COMMIT_ENV for the workers.
    With `allow_dirty`, a missing or stale stamp or a -dirty commit is recorded as it is."""
    commit = git_commit()
    if commit == "unknown" or commit == os.environ.get(CODE_COMMIT_ENV):  # no git here: the stamp says
        commit = _stamped(allow_dirty, root)
    elif commit.endswith("-dirty") and not allow_dirty:
        raise PrepbenchError(
            f"commit {commit[:12]} has uncommitted changes; expected committed code (GPU_ALLOW_DIRTY=1)"
        )
    os.environ[CODE_COMMIT_ENV] = commit
    git_commit.cache_clear()  # what this process records from now on
    return commit


def _stamped(allow_dirty: bool, root: Path) -> str:
    stamp = os.environ.get(STAMP_ENV, "")
    try:
        found = json.loads(Path(stamp).read_text()) if stamp else {}
    except (OSError, json.JSONDecodeError):
        found = {}
    if not found.get("commit"):
        if allow_dirty:
            return "unknown"
        raise PrepbenchError(
            f"no git checkout and no stamp ({STAMP_ENV}={stamp or 'unset'}); expected `python -m prepbench.gpu.stamp` "
            "run before the call"
        )
    if found.get("code_digest") != code_digest(root):
        if allow_dirty:
            return found["commit"] + "-dirty"
        raise PrepbenchError(f"the code differs from the stamped commit {found['commit'][:12]}; stamp it again")
    return found["commit"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        path = write_stamp(Path(args[0] if args else ".gpu"))
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"stamped {json.loads(path.read_text())['commit'][:12]} into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
