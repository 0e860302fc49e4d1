"""A person's verdicts on text-message findings, kept apart from the findings (issue 24).

``scan-text --db`` replaces a source's messages and findings on every re-scan (new
ids), as a re-run rebuilds call findings.  So verdicts live in ``message_reviews``,
keyed by what a message finding is, not by its row id: the message's number, time and
text (its sha256) and the rule.  A re-scan of the same export (or of a renamed copy)
gets its verdicts again in the same transaction (``apply``).

Like ``finding_reviews`` the table is an append-only history: every verdict and every
reset is a new row, the newest row of a message finding counts.  The browser and the
``review --messages`` command both come here, so they agree.
"""

from __future__ import annotations

import hashlib
import sqlite3

from .store import Store, check_review_rows, now, verdict_note

TABLE = "message_reviews"
_KEY_SQL = ("select f.id, coalesce(f.phone_number, ''), coalesce(f.sent_at, ''), m.text, f.rule_id,"
            " f.category, coalesce(f.review_status, 'unreviewed') from message_findings f"
            " left join messages m on m.id = f.message_id")


def text_sha(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(f"""create table if not exists {TABLE} (
    id integer primary key,
    phone_number text,
    sent_at text,
    text_sha256 text,
    rule_id text,
    category text,
    quote text,
    status text,
    note text,
    reviewed_at text,
    reviewed_by text,
    reason text
)""")
    conn.execute(f"create index if not exists idx_{TABLE}_key on {TABLE}"
                 " (phone_number, sent_at, text_sha256, rule_id)")


def _has_tables(conn: sqlite3.Connection) -> bool:
    names = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    return {"message_findings", "messages"} <= names


def latest(conn: sqlite3.Connection) -> dict[tuple, dict]:
    """{(number, sent_at, text sha256, rule): the newest verdict row} (the one that counts)."""
    names = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    if TABLE not in names:
        return {}
    cur = conn.execute(f"select * from {TABLE} order by reviewed_at, id")
    cols = [d[0] for d in cur.description]
    out: dict[tuple, dict] = {}
    for r in cur:
        row = dict(zip(cols, r, strict=True))
        out[(row["phone_number"] or "", row["sent_at"] or "", row["text_sha256"], row["rule_id"])] = row
    return out


def verdicts(conn: sqlite3.Connection) -> dict[int, dict]:
    """{message finding id: the verdict row that applies to it} (newest per finding)."""
    if not _has_tables(conn):
        return {}
    rows = latest(conn)
    out = {}
    for fid, number, sent, text, rule, _cat, _st in conn.execute(_KEY_SQL):
        hit = rows.get((number, sent, text_sha(text), rule))
        if hit is not None:
            out[fid] = hit
    return out


def apply(conn: sqlite3.Connection) -> None:
    """Give the message findings their verdicts (inside the caller's transaction)."""
    if not _has_tables(conn):
        return
    found = verdicts(conn)
    conn.executemany("update message_findings set review_status = ? where id = ?",
                     [(found[fid]["status"] if fid in found else "unreviewed", fid)
                      for (fid,) in conn.execute("select id from message_findings").fetchall()])


def set_review(store: Store, ids: list[int], status: str, note: str | None = None, *,
               reviewed_by: str | None = None, reason: str | None = None,
               expect: str | None = None) -> int:
    """Record a verdict on message findings, as ``Store.set_review`` does for call findings
    (same statuses, reasons, note rules and ``expect`` check)."""
    note = verdict_note(status, note, reason)
    if not ids:
        raise ValueError("no message finding ids given")
    with store.write() as c:
        if not _has_tables(c):
            raise ValueError("this database has no text messages (scan-text --db adds them)")
        ensure_table(c)
        rows = c.execute(_KEY_SQL.replace(" from message_findings f", ", f.quote from message_findings f")
                         + f" where f.id in ({', '.join('?' * len(ids))})", list(ids)).fetchall()
        check_review_rows(rows, ids, expect, 6, "message finding")
        stamp = now()
        c.executemany(
            f"insert into {TABLE} (phone_number, sent_at, text_sha256, rule_id, category, quote,"
            " status, note, reviewed_at, reviewed_by, reason) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(number, sent, text_sha(text), rule, cat, quote, status, note, stamp, reviewed_by, reason)
             for _fid, number, sent, text, rule, cat, _st, quote in rows])
        apply(c)
    return len(rows)
