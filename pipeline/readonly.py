"""Opening an evidence database for a command that only reads it (``report``, ``verify``,
``review --list``, ``browse``).

``Store()`` creates and migrates: right for a command that writes, wrong for one that
reads, where a mistyped ``--db`` (an empty file, another program's SQLite database)
would silently gain every call-evidence table.  Here the file is opened with
``mode=ro`` and refused in one line unless it is a call-evidence database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from .store import BUSY_TIMEOUT_MS, SCHEMA_VERSION, Store, StoreError

# The tables every call-evidence database has had since schema 1: a file without them is
# not one (an empty file, another program's SQLite database).
CORE_TABLES = ("recordings", "recording_files", "segments", "findings", "runs")


def connect_read_only(path: Path, any_version: bool = False) -> sqlite3.Connection:
    """A read-only connection to a call-evidence database at the current schema (any
    schema with ``any_version``: ``verify`` reads every one), or a ``StoreError`` in one
    line (missing, empty, not SQLite, not ours, older schema)."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"database not found: {path}")
    if path.stat().st_size == 0:
        raise StoreError(f"{path} is an empty file, not a call-evidence database; nothing was "
                         "written")
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path} is not a call-evidence database ({e}); nothing was "
                         "written") from e
    missing = [t for t in CORE_TABLES if t not in tables]
    if missing or version < 1:
        conn.close()
        what = f"no {', '.join(missing)} table" if missing else "no schema version"
        raise StoreError(f"{path} is not a call-evidence database ({what}); nothing was written."
                         " Check --db")
    if version < SCHEMA_VERSION and not any_version:
        conn.close()
        raise StoreError(f"{path} was made by an older call-evidence (schema {version}, this "
                         f"version reads {SCHEMA_VERSION}); run `call-evidence detect --db {path}` "
                         "once to upgrade it, then run this again")
    if version > SCHEMA_VERSION:
        conn.close()
        raise StoreError(f"{path} was made by a newer call-evidence (schema {version}); "
                         "update call-evidence to read it")
    return conn


def read_only_store(path: Path | str) -> Store:
    """A ``Store`` over a read-only connection (its write methods fail): nothing is created,
    migrated or written.  A database being written meanwhile is read at its last commit."""
    store = Store.__new__(Store)
    store.path = Path(path)
    store.db = sqlite_utils.Database(connect_read_only(store.path))
    return store
