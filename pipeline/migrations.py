"""In-place upgrades of an older evidence database, each in one transaction.

Kept apart from ``store`` (which owns the schema as it is now and the writes) so that
file stays about today's tables; ``Store.ensure_schema`` calls these on every open and
each does nothing once its upgrade is made.  The schema history is in ``store``'s
docstring.
"""

from __future__ import annotations

import sqlite_utils

from .calls.numbers import canonical

RECORDING_FILES_SQL = """create table {name} (
    id integer primary key,
    path text not null,
    recording_id text references recordings(id),
    size integer,
    mtime text,
    first_seen text,
    last_seen text,
    superseded_at text
)"""

CALL_COLUMNS = ("direction", "contact", "number_as_written", "time_source", "superseded_by")


def recording_files(db: sqlite_utils.Database) -> None:
    """Create ``recording_files`` (one row per path and content), or upgrade a v1 table.

    Version 1 keyed the table by path alone, so a file replaced by new
    content overwrote the old row.  The upgrade copies every row into the
    new shape in one transaction (the old rows become the current ones).
    """
    c = db.conn
    t = db["recording_files"]
    if not t.exists():
        c.execute(RECORDING_FILES_SQL.format(name="recording_files"))
        return
    if t.pks != ["path"]:
        return
    c.execute("BEGIN IMMEDIATE")
    try:
        c.execute(RECORDING_FILES_SQL.format(name="recording_files_v2"))
        c.execute("insert into recording_files_v2 (path, recording_id, size, mtime, first_seen,"
                  " last_seen) select path, recording_id, size, mtime, first_seen, last_seen"
                  " from recording_files order by path")
        c.execute("drop table recording_files")
        c.execute("alter table recording_files_v2 rename to recording_files")
        c.commit()
    except BaseException:
        c.rollback()
        raise


def call_columns(db: sqlite_utils.Database) -> None:
    """Schema 6 on an older database: the who-and-which-way columns, and every stored
    number in its canonical form (the form as written kept beside it), in one
    transaction so a database is never half-migrated."""
    c = db.conn
    cols = db["recordings"].columns_dict
    missing = [col for col in CALL_COLUMNS if col not in cols]
    if not missing:
        return
    c.commit()  # sqlite-utils' create may have left a transaction open
    c.execute("BEGIN IMMEDIATE")
    try:
        for col in missing:
            c.execute(f"alter table recordings add column {col} text")
        rows = c.execute("select id, phone_number, call_time from recordings").fetchall()
        c.executemany(
            "update recordings set number_as_written = coalesce(number_as_written, ?),"
            " phone_number = ?, direction = coalesce(direction, 'unknown'),"
            " time_source = coalesce(time_source, ?) where id = ?",
            [(number, canonical(number), "file name" if when else "none", rid)
             for rid, number, when in rows])
        c.commit()
    except BaseException:
        c.rollback()
        raise
