"""Opening an MLflow store safely: fast, one-line refusals of a store that cannot work, and a new
SQLite store created (or upgraded) once, under a file lock beside the database.

MLflow has no lock of its own around its schema migration: two processes that open a new SQLite
store at once both run alembic and one fails with `table _alembic_tmp_experiments already exists`.
And a store that cannot be opened at all (a directory, a read-only file system, a file that is not
a database) costs about 100 s of MLflow's engine retries before a long traceback. Both are settled
here, before any MlflowClient touches the database.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from functools import cache
from pathlib import Path

from prepbench.errors import PrepbenchError

SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///PATH` URI (None for an in-memory database)."""
    path = uri.removeprefix("sqlite://").removeprefix("/").split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def check_sqlite(uri: str) -> Path | None:
    """Refuse, in one line and at once, a SQLite store that MLflow could not open or write."""
    path = sqlite_path(uri)
    if path is None:
        return None
    expected = "expected a writable file path such as results/mlflow.db"
    if path.is_dir():
        raise PrepbenchError(
            f"tracking.uri={uri} is a directory; expected a database file in it, such as {path / 'mlflow.db'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PrepbenchError(f"tracking.uri={uri}: cannot create {path.parent} ({err.strerror}); {expected}") from None
    if not path.parent.is_dir():
        raise PrepbenchError(f"tracking.uri={uri}: {path.parent} is not a directory; {expected}")
    # SQLite writes a journal beside the database, so the folder must be writable as well as the file.
    for where in (path.parent, path):
        if where.exists() and not os.access(where, os.W_OK):
            why = "a read-only file system" if _read_only_fs(where) else "no write permission"
            raise PrepbenchError(f"tracking.uri={uri}: {where} is not writable ({why}); {expected}")
    if path.exists():
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:
            raise PrepbenchError(
                f"tracking.uri={uri}: {path} is not an SQLite database; expected an MLflow store or a new file name"
            )
        if head:
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
                    con.execute("select count(*) from sqlite_master").fetchone()
            except sqlite3.Error as err:
                raise PrepbenchError(
                    f"tracking.uri={uri}: {path} cannot be read as a database ({err}); expected an MLflow store"
                ) from None
    return path


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


@cache
def prepare_sqlite(uri: str) -> None:
    """Check the store, then create or upgrade its tables once, holding `<db>.lock` (an exclusive
    flock, released when the file closes, also when the process dies): every prepbench process
    opens the store through here, so only the first one migrates and the others find it ready."""
    path = check_sqlite(uri)
    if path is None:
        return
    lock = path.with_name(path.name + ".lock")
    try:
        handle = open(lock, "a")
    except OSError as err:
        raise PrepbenchError(
            f"tracking.uri={uri}: cannot create the lock file {lock} ({err.strerror}); expected a writable folder"
        ) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        from mlflow.tracking import MlflowClient

        # Building the client's store runs MLflow's table creation and migrations when needed; the
        # store is cached per URI for the process, so later clients reuse it.
        MlflowClient(uri)._tracking_client.store  # noqa: B018
