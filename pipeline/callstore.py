"""Tables for evidence that is not a recording: the phone's call log, call-pattern
findings, and text messages (SMS/chat) with their findings.

Kept apart from ``store`` (which owns recordings, transcripts and their
findings) so each module stays about one kind of evidence; both write through
``Store.write()``, one short transaction at a time.
"""

from __future__ import annotations

import json

from .callpattern import Call, PatternFinding
from .store import Store, now
from .textnorm import search_index_text


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
    """(kind, number, start ISO, connected, incoming, ref) for recordings and log entries."""
    rows = [("recording", r[0], r[1], True, True, r[2]) for r in store.conn.execute(
        "select phone_number, call_time, id from recordings where status = 'done'"
        " and call_time is not null")]
    rows += [("call_log", r[0], r[1], bool(r[2]), bool(r[3]), f"call_log:{r[4]}")
             for r in store.conn.execute(
                 "select phone_number, started_at, connected, incoming, id from call_log")]
    return rows


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
    """Store scanned messages and their findings; re-scanning a source replaces it."""
    with store.write() as c:
        old = [r[0] for r in c.execute("select id from messages where source = ?", [source])]
        c.executemany("delete from message_findings where message_id = ?", [(i,) for i in old])
        c.execute("delete from messages where source = ?", [source])
        ids = {}
        for m in messages:
            cur = c.execute(
                "insert into messages (source, line, phone_number, sent_at, text, text_index,"
                " imported_at) values (?, ?, ?, ?, ?, ?, ?)",
                [source, m.ref, m.number, m.sent_at, m.text, search_index_text(m.text), now()])
            ids[m.ref] = int(cur.lastrowid)
        c.executemany(
            "insert into message_findings (message_id, rule_id, category, severity, matched_text,"
            " quote, sent_at, phone_number, citations, note, method, pattern, score, tier)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(ids[f["source"]], f["rule_id"], f["category"], f["severity"], f["matched_text"],
              f["quote"], f["sent_at"], f["number"], json.dumps(f["citations"], ensure_ascii=False),
              f["note"], f.get("method", "rule"), f.get("pattern"), f.get("score"), f.get("tier", "finding"))
             for f in findings])
    return sum(f.get("tier", "finding") == "finding" for f in findings)


