"""The version of the code that computes a job's result: part of every job's identity.

Bump CODE_VERSION when a change to that code (TRAINING_CODE: data loading, preprocessing, networks,
training, and the job that runs them) changes what a job computes: its config hash changes with it, so a sweep trains its jobs
again instead of skipping them as FINISHED, and runs of the old code stay apart in the report. A
change to speed, logging or wording alone does not bump it. tests/test_version.py holds the line:
it fails when the code's digest is not the one recorded here for this version, so every change to
that code is declared as one or the other (bump the version, or record the new digest).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

CODE_VERSION = 1
CODE_DIGEST = "c01d0848e5376c61"

PACKAGE = Path(__file__).resolve().parents[1]
# What decides a job's result, relative to the package; this file is left out (it holds the digest).
TRAINING_CODE = ("data", "prep", "train", "variants.py", "study/job.py")
THIS_FILE = Path("train", "version.py")


def training_code_digest() -> str:
    """A digest of the training code's syntax, blind to comments, docstrings and formatting."""
    h = hashlib.sha256()
    for path in _training_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and _is_docstring(body[0]):
                node.body = body[1:] or [ast.Pass()]
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + ast.dump(tree).encode() + b"\0")
    return h.hexdigest()[:16]


def _training_files() -> list[Path]:
    files = []
    for name in TRAINING_CODE:
        path = PACKAGE / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [f for f in files if f.relative_to(PACKAGE) != THIS_FILE]


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
