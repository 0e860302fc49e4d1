"""Tables for evidence that is not a recording: the phone's call log, call-pattern
findings, and text messages (SMS/chat) with their findings; and what a recording's
names say about its call (the aliases of the same bytes, the reading kept, a truncated
copy superseded by its whole).

Kept apart from ``store`` (which owns recordings, transcripts and their
findings) so each module stays about one kind of evidence; both write through
``Store.write()``, one short transaction at a time.
"""

from __future__ import annotations

import json

from .. import message_reviews
from ..store import Store, now
from ..textnorm import search_index_text
from .callpattern import Call, PatternFinding
from .numbers import canonical


def ensure_tables(store: Store) -> None:
    db = store.db
    db["call_log"].create({
        "id": int, "phone_number": str, "started_at": str, "connected": int, "incoming": int,
        "source": str, "line": str, "imported_at": str,
    }, pk="id", if_not_exists=True)
    db["pattern_findings"].create({
        "id": int, "rule_id": str, "category": str, "severity": str, "phone_number": str,
        "day": str, "window_start": str, "window_end": str, "count": int, "threshold": str,
        "detail": str, "refs": str, "citations": str, "note": str, "jurisdiction": str,
        "run_id": int,
    }, pk="id", if_not_exists=True, foreign_keys=[("run_id", "runs", "id")])
    db["messages"].create({
        "id": int, "source": str, "line": str, "phone_number": str, "sent_at": str, "text": str,
        "text_index": str, "imported_at": str,
    }, pk="id", if_not_exists=True)
    db["message_findings"].create({
        "id": int, "message_id": int, "rule_id": str, "category": str, "severity": str,
        "matched_text": str, "quote": str, "sent_at": str, "phone_number": str, "citations": str,
        "note": str, "review_status": str, "method": str, "pattern": str, "score": float,
        "tier": str,
    }, pk="id", if_not_exists=True, foreign_keys=[("message_id", "messages", "id")],
        defaults={"review_status": "unreviewed", "tier": "finding"})
    for col, kind in (("method", "text"), ("pattern", "text"), ("score", "real"),
                      ("tier", "text not null default 'finding'")):
        if col not in db["message_findings"].columns_dict:  # made before schema 4 (tier: 5)
            db.conn.execute(f"alter table message_findings add column {col} {kind}")
    for table, cols in (("call_log", ["phone_number"]), ("call_log", ["started_at"]),
                        ("pattern_findings", ["category"]), ("pattern_findings", ["phone_number"]),
                        ("messages", ["phone_number"]), ("message_findings", ["category"]),
                        ("message_findings", ["message_id"])):
        db[table].create_index(cols, if_not_exists=True)
    if not db["messages_fts"].exists():
        db["messages"].enable_fts(["text_index"], create_triggers=True)
    message_reviews.ensure_table(db.conn)  # verdicts on message findings, kept apart
    db.conn.commit()


def replace_call_log(store: Store, calls: list[Call], source: str) -> int:
    """Import a call log; a re-import of the same file replaces its rows (no duplicates)."""
    with store.write() as c:
        c.execute("delete from call_log where source = ?", [source])
        c.executemany(
            "insert into call_log (phone_number, started_at, connected, incoming, source, line,"
            " imported_at) values (?, ?, ?, ?, ?, ?, ?)",
            [(x.number, x.start.isoformat(timespec="seconds"), int(x.connected), int(x.incoming),
              source, x.ref, now()) for x in calls])
    return len(calls)


def stored_calls(store: Store) -> list[tuple[str, str | None, str, bool, bool, str | None]]:
    """(kind, number, start ISO, connected, incoming, ref) for recordings and log entries.

    A recording whose name says the borrower dialled (``direction = 'outgoing'``) is
    not incoming; one of unknown direction is counted as incoming."""
    rows = [("recording", r[0], r[1], True, r[3] != "outgoing", r[2]) for r in store.conn.execute(
        "select phone_number, call_time, id, direction from recordings where status = 'done'"
        " and call_time is not null")]
    if not has_table(store, "call_log"):  # read-only: a database no call log was imported into
        return rows
    rows += [("call_log", r[0], r[1], bool(r[2]), bool(r[3]), f"call_log:{r[4]}")
             for r in store.conn.execute(
                 "select phone_number, started_at, connected, incoming, id from call_log")]
    return rows


def has_table(store: Store, name: str) -> bool:
    return store.conn.execute("select 1 from sqlite_master where type = 'table' and name = ?",
                              [name]).fetchone() is not None


def call_log_size(store: Store) -> int:
    """How many calls the imported call log holds (0 when none was imported)."""
    if not has_table(store, "call_log"):
        return 0
    return store.conn.execute("select count(*) from call_log").fetchone()[0]


# ------------------------------------------------------------------ names of one recording
def paths_of(store: Store, sha256: str) -> list[str]:
    """Every name the same bytes were found under (aliases), first seen first."""
    return [r[0] for r in store.conn.execute(
        "select path from recording_files where recording_id = ? order by first_seen, id",
        [sha256])]


def reading_of(store: Store, sha256: str) -> dict:
    """The stored reading of a recording's name (number, time, direction, contact...)."""
    cur = store.conn.execute(
        "select phone_number, call_time, direction, contact, number_as_written, time_source"
        " from recordings where id = ?", [sha256])
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else {}


def set_reading(store: Store, sha256: str, columns: dict) -> None:
    """Replace a recording's reading (another name of the same bytes tells more)."""
    with store.write() as c:
        c.execute(f"update recordings set {', '.join(f'{k} = ?' for k in columns)} where id = ?",
                  [*columns.values(), sha256])


def shorter_relatives(store: Store, path: str, size: int, phone_number: str | None,
                      call_time: str | None) -> list[tuple[str, int, str]]:
    """Recordings that may be a truncated copy of a file of ``size`` bytes: smaller, not
    superseded, and found at the same path or read as the same call (number and time).
    (id, size, status) each; whether the bytes agree is the caller's to check."""
    return [tuple(r) for r in store.conn.execute(
        "select distinct r.id, r.size, r.status from recordings r"
        " left join recording_files f on f.recording_id = r.id"
        " where r.size < ? and r.status != 'superseded' and (f.path = ?"
        " or (r.phone_number = ? and r.call_time = ?))",
        [size, path, phone_number, call_time]).fetchall()]


def supersede(store: Store, old: str, new: str, note: str) -> None:
    """Mark ``old`` a truncated copy that ``new`` replaces: it stays (nothing is
    deleted), out of every count, its findings with it."""
    with store.write() as c:
        c.execute("update recordings set status = 'superseded', superseded_by = ?, note = ?"
                  " where id = ?", [new, note, old])


def recordings_with_stop_requests(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute(
        "select distinct recording_id from findings where category = 'stop_request'")}


def replace_pattern_findings(store: Store, findings: list[PatternFinding], jurisdiction: str,
                             run_id: int | None) -> None:
    """Replace every call-pattern finding; each keeps the jurisdiction that judged it
    (``jurisdiction``, the run's default, only for findings made without one)."""
    with store.write() as c:
        c.execute("delete from pattern_findings")
        c.executemany(
            "insert into pattern_findings (rule_id, category, severity, phone_number, day,"
            " window_start, window_end, count, threshold, detail, refs, citations, note,"
            " jurisdiction, run_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(f.rule_id, f.category, f.severity, f.phone_number, f.day, f.window_start,
              f.window_end, f.count, f.threshold, f.detail, json.dumps(f.refs),
              json.dumps(f.citations, ensure_ascii=False), f.note, f.jurisdiction or jurisdiction,
              run_id)
             for f in findings])


def save_messages(store: Store, source: str, messages: list, findings: list[dict]) -> int:
    """Store scanned messages and their findings; re-scanning a source replaces it.

    Numbers are stored canonical, as the recordings' and the call log's are, so a lender
    that texts from the number it calls from is one counterparty (a sender with no digits,
    "中国银行", keeps its name)."""
    with store.write() as c:
        old = [r[0] for r in c.execute("select id from messages where source = ?", [source])]
        c.executemany("delete from message_findings where message_id = ?", [(i,) for i in old])
        c.execute("delete from messages where source = ?", [source])
        ids = {}
        for m in messages:
            cur = c.execute(
                "insert into messages (source, line, phone_number, sent_at, text, text_index,"
                " imported_at) values (?, ?, ?, ?, ?, ?, ?)",
                [source, m.ref, canonical(m.number) or m.number, m.sent_at, m.text,
                 search_index_text(m.text), now()])
            ids[m.ref] = int(cur.lastrowid)
        c.executemany(
            "insert into message_findings (message_id, rule_id, category, severity, matched_text,"
            " quote, sent_at, phone_number, citations, note, method, pattern, score, tier)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(ids[f["source"]], f["rule_id"], f["category"], f["severity"], f["matched_text"],
              f["quote"], f["sent_at"], canonical(f["number"]) or f["number"],
              json.dumps(f["citations"], ensure_ascii=False),
              f["note"], f.get("method", "rule"), f.get("pattern"), f.get("score"),
              f.get("tier", "finding"))
             for f in findings])
        message_reviews.apply(c)  # a re-scan keeps the verdicts given before
    return sum(f.get("tier", "finding") == "finding" for f in findings)


