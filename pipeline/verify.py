"""``call-evidence verify``: prove that no original and no derived file has changed.

Every original is re-hashed and compared with the content hash it was
recorded under (``recording_files``: the recording id *is* the sha256), and
every derived file (``derived_files``: normalised audio, clips, exports) with
the sha256 stored when it was made.  The database is opened read-only and is
never written, so verifying changes nothing, and it can run while a browser
has the database open.

A path that was later replaced by different content (``superseded_at`` set)
is not a mismatch: both versions were ingested and both recordings are kept.
Only the path's current version is expected on disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .calls.ingest import fs_path, sha256_of
from .readonly import connect_read_only
from .store import StoreError


class VerifyError(RuntimeError):
    """The database itself cannot be read."""


@dataclass
class Problem:
    kind: str  # "changed", "missing", "unreadable"
    what: str  # "original" or the derived file's kind
    path: str
    expected: str
    found: str | None = None

    def line(self) -> str:
        if self.kind == "changed":
            return (f"CHANGED  {self.what}: {self.path}\n"
                    f"         recorded sha256 {self.expected}\n"
                    f"         now      sha256 {self.found}")
        if self.kind == "missing":
            return f"MISSING  {self.what}: {self.path} (recorded sha256 {self.expected})"
        return f"UNREADABLE {self.what}: {self.path}: {self.found}"


@dataclass
class Report:
    originals_ok: int = 0
    derived_ok: int = 0
    superseded: int = 0  # older versions of replaced files, kept in the database
    problems: list[Problem] = field(default_factory=list)
    integrity: str = "ok"

    @property
    def ok(self) -> bool:
        return not self.problems and self.integrity == "ok"

    def line(self) -> str:
        changed = sum(p.kind == "changed" for p in self.problems)
        missing = sum(p.kind == "missing" for p in self.problems)
        unreadable = sum(p.kind == "unreadable" for p in self.problems)
        s = (f"verified {self.originals_ok + sum(p.what == 'original' for p in self.problems)} "
             f"originals and {self.derived_ok + sum(p.what != 'original' for p in self.problems)} "
             f"derived files: {changed} changed, {missing} missing, {unreadable} unreadable")
        if self.superseded:
            s += f" ({self.superseded} older versions of replaced files are kept in the database)"
        if self.integrity != "ok":
            s += f"; database integrity check: {self.integrity}"
        return s


def _connect(db_path: Path) -> sqlite3.Connection:
    """Read-only; a file that is not a call-evidence database (empty, another program's
    SQLite) is refused, never reported as "verified 0 originals"."""
    try:
        c = connect_read_only(Path(db_path), any_version=True)
        c.execute("select count(*) from sqlite_master").fetchone()
    except StoreError as e:
        raise VerifyError(str(e)) from e
    except sqlite3.Error as e:
        raise VerifyError(f"cannot read database {db_path}: {e}") from e
    return c


def _columns(c: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in c.execute(f"pragma table_info({table})")}


def _check(path_text: str, expected: str, what: str, report: Report) -> bool:
    path = fs_path(path_text)
    if not path.exists():
        report.problems.append(Problem("missing", what, path_text, expected))
        return False
    try:
        found = sha256_of(path)
    except OSError as e:
        report.problems.append(Problem("unreadable", what, path_text, expected, e.strerror or str(e)))
        return False
    if found != expected:
        report.problems.append(Problem("changed", what, path_text, expected, found))
        return False
    return True


def verify(db_path: Path, progress: Callable[[str], None] | None = None) -> Report:
    """Re-hash everything the database points at; the database is opened read-only."""
    say = progress or (lambda msg: None)
    report = Report()
    c = _connect(db_path)
    try:
        report.integrity = c.execute("pragma quick_check").fetchone()[0]
        cols = _columns(c, "recording_files")
        if not cols:
            return report
        current = "superseded_at is null" if "superseded_at" in cols else "1"
        rows = c.execute(f"select path, recording_id from recording_files where {current}"
                         " order by path").fetchall()
        if "superseded_at" in cols:
            report.superseded = c.execute(
                "select count(*) from recording_files where superseded_at is not null").fetchone()[0]
        for path, sha in rows:
            say(f"original {path}")
            if _check(path, sha, "original", report):
                report.originals_ok += 1
        if _columns(c, "derived_files"):
            for path, sha, kind in c.execute(
                    "select path, sha256, kind from derived_files order by path").fetchall():
                say(f"{kind} {path}")
                if _check(path, sha, kind or "derived file", report):
                    report.derived_ok += 1
    finally:
        c.close()
    return report
