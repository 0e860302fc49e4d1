"""What a findings list's CSV and JSON carry: the same story as its page (issue 24).

A findings row of the canned queries exports its finding number, the jurisdiction
that judges its call, and only that jurisdiction's verified citations, as the short
labels the page shows (``citations``); the whole stored set, every jurisdiction's,
checked or not, stays for experts as raw JSON under ``citations_stored``.  The
filter runs when the rows are read, never when they are stored, so a later
``numbers.yaml`` (or a citation checked since) re-judges the old findings, as the
report and the pages do: the jurisdiction is decided by ``pipeline/calls/jurisdiction.py``
exactly as ``lookup.CallLaw`` decides it for the pages.

The review goes with each row: ``verdict`` (``confirmed``, ``dismissed``,
``own_words`` — "these are my own words", its own value — or ``unreviewed``), the
note as the person typed it, who (in both languages) and when (local time with
its zone).  The verdict is the one the store applies (``store.verdict_rows``).

These are SQL functions (``ce_law``, ``ce_cited``, ``ce_review``, and
``ce_review_finding`` for the review history's finding numbers) so that every
format Datasette offers, and the pages, read the same columns.  They answer from a
snapshot of the database read on a connection of their own (never re-entering the
query's), kept ``TTL_S`` seconds.

``csv_download`` makes a ``.csv`` answer a file (``Content-Disposition``) that begins
with a UTF-8 byte-order mark, so Excel on Windows opens Chinese correctly.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

from ..calls.jurisdiction import JurisdictionError, rules_for_database, shown_citations
from ..store import REVIEW_REASONS, verdict_rows
from . import cells, labels, lookup

TTL_S = 2.0
BOM = b"\xef\xbb\xbf"
FIELDS = ("verdict", "note", "reviewer", "reviewed_at", "reviewer_code")
_lock = threading.Lock()
_snapshots: dict[str, tuple[float, dict]] = {}


def local_time(iso: str | None) -> str | None:
    """A stored UTC time (``2026-12-07T03:20:00+00:00``) in this computer's local time, with
    its zone: ``2026-12-07 11:20:00 +08:00``.  A time without a zone is returned as it is
    (call times are already local, from the recorder's file names)."""
    if not iso:
        return None
    try:
        when = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if when.tzinfo is None:
        return str(iso).replace("T", " ")
    local = when.astimezone()
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S ") + f"{offset[:3]}:{offset[3:]}" \
        + (f" {local.tzname()}" if local.tzname() and not local.tzname().startswith(("+", "-"))
           else "")


def own_note(note: str | None, reason: str | None) -> str | None:
    """The note as the person typed it: the stored "These are my own words — " prefix off."""
    if note and reason in REVIEW_REASONS:
        prefix = REVIEW_REASONS[reason]
        if note.startswith(prefix):
            note = note[len(prefix):].lstrip(" —") or None
    return note


def _read(path: str) -> dict:
    """Everything the functions answer from, read on a connection of their own."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        try:
            rules: object = rules_for_database(path, conn)
        except JurisdictionError as e:
            rules = e
        calls = {r[0]: r[1:] for r in conn.execute(
            "select id, phone_number, call_time, language from recordings")}
        verdicts: dict[int, dict] = {}
        review_finding: dict[int, int] = {}  # a history entry's id -> the finding it is about
        if "finding_reviews" in tables:
            cur = conn.execute("select * from finding_reviews order by recording_id,"
                               " reviewed_at desc, id desc")
            cols = [d[0] for d in cur.description]
            reviews: dict[str, list[dict]] = {}
            for r in cur:
                row = dict(zip(cols, r, strict=True))
                reviews.setdefault(row["recording_id"], []).append(row)
            findings: dict[str, list[tuple]] = {}
            for fid, rid, rule, cat, start in conn.execute(
                    "select id, recording_id, rule_id, category, start from findings"):
                findings.setdefault(rid, []).append((fid, rule, cat, start))
            for rid, rows in reviews.items():
                applied = verdict_rows(rows, findings.get(rid, []))
                verdicts.update(applied)
                # every entry of the history names the finding its newest entry applies to
                by_review = {v["id"]: fid for fid, v in applied.items()}
                for row in rows:
                    newest = next((v for v in rows if v["rule_id"] == row["rule_id"] and abs(
                        (v["start"] if v["start"] is not None else -1)
                        - (row["start"] if row["start"] is not None else -1)) < 0.01), None)
                    if newest is not None and newest["id"] in by_review:
                        review_finding[row["id"]] = by_review[newest["id"]]
        status = dict(conn.execute("select id, coalesce(review_status, 'unreviewed') from findings"))
    finally:
        conn.close()
    laws = {}
    for rid, (number, call_time, language) in calls.items():
        if isinstance(rules, JurisdictionError):
            laws[rid] = lookup.CallLaw(None, "", call_time, str(rules))
        else:
            j = rules.judge(number or None, language)  # type: ignore[union-attr]
            laws[rid] = lookup.CallLaw(j.jurisdiction, j.reason, call_time)
    return {"laws": laws, "verdicts": verdicts, "status": status, "review_finding": review_finding}


def snapshot(path: str) -> dict:
    with _lock:
        hit = _snapshots.get(path)
        if hit and hit[0] > time.monotonic():
            return hit[1]
    data = _read(path)
    with _lock:
        _snapshots[path] = (time.monotonic() + TTL_S, data)
    return data


def forget() -> None:
    """Drop every snapshot (after a verdict: the next read shows it at once)."""
    with _lock:
        _snapshots.clear()


def cited(citations: str | None, jurisdiction: str | None, call_time: str | None) -> str:
    """The labels of the citations a call shows, "; "-separated (the page's ``ce-cite``)."""
    items = shown_citations(lookup.citation_items(citations), jurisdiction, call_time,
                            labels.known_citations())
    return "; ".join(cells.citation_label(c) for c in items)


def review_field(verdict: dict | None, status: str, field: str) -> str | None:
    """One field of a finding's review for export (``FIELDS``)."""
    if field == "verdict":
        if status == "dismissed" and verdict and verdict.get("reason") == "own_words":
            return "own_words"
        return status
    if verdict is None or status == "unreviewed" or verdict.get("status") != status:
        return None
    if field == "note":
        return own_note(verdict.get("note"), verdict.get("reason"))
    if field == "reviewer":
        return labels.reviewer(verdict.get("reviewed_by"))
    if field == "reviewer_code":
        return verdict.get("reviewed_by")
    if field == "reviewed_at":
        return local_time(verdict.get("reviewed_at"))
    raise ValueError(f"unknown review field {field!r}")


def register(conn, path_of) -> None:
    """The SQL functions on one of Datasette's connections; ``path_of()``: the database
    file (None for an in-memory one: the functions then answer nothing)."""
    def law(rid):
        path = path_of()
        found = snapshot(path)["laws"].get(rid) if path else None
        return found.jurisdiction if found else None

    def citations(value, rid):
        path = path_of()
        found = snapshot(path)["laws"].get(rid) if path else None
        if found is None:
            return None
        return cited(value, found.jurisdiction, found.call_time)

    def review(fid, field):
        path = path_of()
        if not path or fid is None:
            return None
        snap = snapshot(path)
        status = snap["status"].get(int(fid), "unreviewed")
        return review_field(snap["verdicts"].get(int(fid)), status, str(field))

    def review_finding(review_id):
        path = path_of()
        return snapshot(path)["review_finding"].get(review_id) if path and review_id else None

    conn.create_function("ce_review_finding", 1, review_finding)
    conn.create_function("ce_law", 1, law)
    conn.create_function("ce_cited", 2, citations)
    conn.create_function("ce_review", 2, review)


def database_path(datasette, name: str | None):
    def path_of() -> str | None:
        if not name or name not in datasette.databases:
            return None
        db = datasette.databases[name]
        return None if db.is_memory or not db.path else str(Path(db.path))

    return path_of


# ---------------------------------------------------------------- CSV as a file
_CSV_PATH = re.compile(r"/(?P<name>[^/]+)\.csv$")


def is_csv(scope: dict) -> bool:
    return scope.get("type") == "http" and bool(_CSV_PATH.search(scope.get("path", "")))


def csv_download(scope: dict, send):
    """``send`` for a ``.csv`` request: the answer becomes a download named after the page,
    as ``text/csv``, with a byte-order mark before the first byte (Excel reads UTF-8)."""
    name = _CSV_PATH.search(scope["path"]).group("name")
    state = {"ok": False, "first": True}

    async def wrapped(message):
        if message["type"] == "http.response.start":
            state["ok"] = message.get("status") == 200
            if state["ok"]:
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"content-type", b"content-disposition",
                                                b"content-length")]
                headers += [(b"content-type", b"text/csv; charset=utf-8"),
                            (b"content-disposition",
                             f'attachment; filename="{re.sub(r"[^A-Za-z0-9_.-]", "_", name)}.csv"'
                             .encode())]
                message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and state["ok"] and state["first"]:
            state["first"] = False
            message = {**message, "body": BOM + message.get("body", b"")}
        await send(message)

    return wrapped
