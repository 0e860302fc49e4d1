"""The evidence database: schema, and one atomic write per recording.

sqlite-utils creates the tables, indexes and full-text search; the per-
recording write uses plain SQL inside one transaction because sqlite-utils
commits after each ``insert_all``, and a recording must land whole or not at
all (an interrupted run never leaves half a transcript behind).

Every write is a short ``BEGIN IMMEDIATE`` transaction in WAL mode with a busy
timeout, so a browser (Datasette) reading the file never sees "database is
locked" and never sees half a recording.  SQLite errors on write (disk full,
read-only file) become ``StoreError`` with a message that says what to do; the
transaction is rolled back, so the file is never left half-written.

Schema history (``PRAGMA user_version``):

1. the first release;
2. ``recording_files`` keeps one row per (path, content): a file replaced by
   different content under the same name keeps its old row, marked
   ``superseded_at``; ``derived_files`` (files made from a recording, with
   their sha256, for ``call-evidence verify``); ``recordings.note``.
   Version-1 databases are migrated in place, in one transaction.
3. ``finding_reviews``: a person's verdict on a finding (confirmed or
   dismissed, with a note).  Findings are rebuilt on every re-run and
   re-detection, so verdicts live in their own table, keyed by what a finding
   is (recording, rule, time) rather than by its row id, and are applied again
   to the rebuilt findings in the same transaction.  Since issue 24 an append-only
   history (the newest entry counts; older rows are each a history of one, as they are).
4. ``finding_reviews.reviewed_by`` (who gave the verdict: an account, or the
   command line's user) and ``finding_reviews.reason`` (``own_words``: the
   borrower repeating a threat), so a verdict given in the browser says who
   and why.  Older tables gain the two columns in place (``alter table``).
5. Why each finding was flagged: ``findings.method`` (``rule``, ``rule+meaning``,
   ``sound+meaning``, ``meaning``), ``findings.pattern`` (the rule's pattern as written)
   and ``findings.score`` (the meaning layer's score); ``runs.detection`` says whether the
   meaning layer ran or why not.  Older databases gain the columns in place (empty).
6. Who and which way: ``recordings.direction`` (``incoming``, ``outgoing``, ``unknown``),
   ``recordings.contact`` (the name the phone saved), ``recordings.number_as_written``
   and ``recordings.time_source`` (``file name``, ``container tag``, ``none``);
   ``phone_number`` holds the canonical form (``pipeline.calls.numbers``).  Older databases
   gain the columns and have their numbers canonicalised in place, in one transaction
   (the written form is kept in ``number_as_written``).  ``recordings.superseded_by``:
   a recording found to be a truncated copy of a later, longer one (status
   ``superseded``) names the one that replaces it.
7. ``findings.tier`` (and ``message_findings.tier``): ``finding``, or ``listen`` (值得复听:
   review queue only, until confirmed).  Older databases gain the column in place.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from . import migrations
from .textnorm import search_index_text
from .verdicts import REVIEW_TIME_TOLERANCE_S, pair_reviews, verdict_rows  # noqa: F401

SCHEMA_VERSION = 7
REVIEW_STATUSES = ("unreviewed", "confirmed", "dismissed")
# Why a finding was dismissed, when a reason has a name: ``own_words`` is the
# borrower repeating (or quoting) the collector, the most common false finding.
REVIEW_REASONS = {"own_words": "These are my own words / 这是我说的"}
# A note is a sentence or a paragraph; anything longer is a mistake or an attack.
REVIEW_NOTE_MAX = 2000
BUSY_TIMEOUT_MS = 30_000
# Test-only: seconds to sleep inside the recording's write transaction, just
# before COMMIT, so a test can kill the process at that exact point.
PAUSE_BEFORE_COMMIT_ENV = "CALL_EVIDENCE_TEST_PAUSE_BEFORE_COMMIT"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StoreError(RuntimeError):
    """The database cannot be opened or written; the message says why."""


def explain(e: sqlite3.Error, path: Path, doing: str = "write to") -> str:
    """A message a user can act on, for an SQLite error on ``path``."""
    msg = str(e)
    low = msg.lower()
    if "full" in low:
        why = ("the disk is full. Nothing was half-written: the last recording was rolled back. "
               "Free some space and run again")
    elif "readonly" in low or "read-only" in low:
        why = "the database file or its folder is read-only. Make both writable and run again"
    elif "locked" in low or "busy" in low:
        why = (f"another program kept the database locked for more than {BUSY_TIMEOUT_MS // 1000}"
               " s. Close it (or wait) and run again")
    elif "unable to open" in low:
        why = "the file cannot be opened or created (does the folder exist, and is it writable?)"
    elif "disk i/o" in low:
        why = ("disk I/O error (disk full, removed or failing?). Nothing was half-written; "
               "check the disk and run again")
    else:
        why = msg
    return f"cannot {doing} database {path}: {why} [{msg}]"


@dataclass
class SegmentRow:
    idx: int
    start: float
    end: float
    text: str
    channel: int | None = None
    speaker: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    words: list[tuple[float, float, str, float | None]] = field(default_factory=list)


@dataclass
class FindingRow:
    segment_idx: int | None
    rule_id: str
    category: str
    severity: str
    matched_text: str
    quote: str
    start: float | None
    end: float | None
    confidence: float | None
    speaker: str | None
    citations: list[dict]
    note: str
    method: str = "rule"
    pattern: str | None = None
    score: float | None = None
    tier: str = "finding"  # or "listen": a listen suggestion (detect/combine.py)


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            self.db = sqlite_utils.Database(conn)
            self.db.enable_wal()
            self.ensure_schema()
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError):
                raise StoreError(explain(e, self.path, "open")) from e
            raise StoreError(f"cannot open database {self.path}: {e}") from e
        except OSError as e:
            raise StoreError(f"cannot create database {self.path}: {e}") from e

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        self.db.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; rolled back whole on any error.

        ``BEGIN IMMEDIATE`` takes the write lock up front (waiting up to the
        busy timeout), so the transaction never fails half-way on a lock, and
        readers in WAL mode keep reading the last committed state meanwhile.
        """
        c = self.conn
        try:
            c.execute("BEGIN IMMEDIATE")
            yield c
            c.commit()
        except BaseException as e:
            if c.in_transaction:
                try:
                    c.rollback()
                except sqlite3.Error:
                    pass  # SQLite rolls back itself on the next open (WAL)
            if isinstance(e, sqlite3.OperationalError):
                raise StoreError(explain(e, self.path)) from e
            raise

    # ------------------------------------------------------------------ schema
    def ensure_schema(self) -> None:
        db = self.db
        db["runs"].create({
            "id": int, "started_at": str, "finished_at": str, "status": str,
            "tool_version": str, "engine": str, "engine_version": str, "model": str,
            "model_sha256": str, "settings": str, "folder": str,
            "processed": int, "skipped": int, "failed": int, "findings": int, "detection": str,
        }, pk="id", if_not_exists=True)
        db["recordings"].create({
            "id": str, "path": str, "file_name": str, "size": int, "mtime": str,
            "phone_number": str, "call_time": str, "direction": str, "contact": str,
            "number_as_written": str, "time_source": str, "superseded_by": str,
            "container": str, "codec": str, "sample_rate": int, "channels": int,
            "duration": float, "language": str, "language_probability": float,
            "status": str, "error": str, "note": str, "engine": str, "model": str,
            "n_segments": int, "n_findings": int, "run_id": int, "processed_at": str,
        }, pk="id", if_not_exists=True, foreign_keys=[("run_id", "runs", "id")])
        if "note" not in db["recordings"].columns_dict:
            db.conn.execute("alter table recordings add column note text")
        migrations.call_columns(self.db)
        migrations.recording_files(self.db)
        db["derived_files"].create({
            "id": int, "recording_id": str, "kind": str, "path": str, "sha256": str,
            "size": int, "created_at": str,
        }, pk="id", if_not_exists=True, foreign_keys=[("recording_id", "recordings", "id")])
        db["segments"].create({
            "id": int, "recording_id": str, "idx": int, "start": float, "end": float,
            "text": str, "text_index": str, "channel": int, "speaker": str,
            "avg_logprob": float, "no_speech_prob": float, "compression_ratio": float,
        }, pk="id", if_not_exists=True, foreign_keys=[("recording_id", "recordings", "id")])
        db["words"].create({
            "id": int, "segment_id": int, "recording_id": str, "idx": int,
            "start": float, "end": float, "text": str, "probability": float,
        }, pk="id", if_not_exists=True, foreign_keys=[
            ("segment_id", "segments", "id"), ("recording_id", "recordings", "id")])
        db["findings"].create({
            "id": int, "recording_id": str, "segment_id": int, "rule_id": str,
            "category": str, "severity": str, "matched_text": str, "quote": str,
            "start": float, "end": float, "confidence": float, "speaker": str,
            "citations": str, "note": str, "review_status": str, "run_id": int,
            "method": str, "pattern": str, "score": float, "tier": str,
        }, pk="id", if_not_exists=True, foreign_keys=[
            ("recording_id", "recordings", "id"), ("segment_id", "segments", "id"),
            ("run_id", "runs", "id")], defaults={"review_status": "unreviewed", "tier": "finding"})
        for table, col, kind in (("findings", "method", "text"), ("findings", "pattern", "text"),
                                 ("findings", "score", "real"), ("runs", "detection", "text"),
                                 ("findings", "tier", "text not null default 'finding'")):
            if col not in db[table].columns_dict:  # schema 4 (tier: 5) on an older database
                db.conn.execute(f"alter table {table} add column {col} {kind}")
        db["finding_reviews"].create({
            "id": int, "recording_id": str, "rule_id": str, "category": str, "start": float,
            "end": float, "quote": str, "status": str, "note": str, "reviewed_at": str,
            "reviewed_by": str, "reason": str,
        }, pk="id", if_not_exists=True, foreign_keys=[("recording_id", "recordings", "id")])
        review_cols = db["finding_reviews"].columns_dict
        for col in ("reviewed_by", "reason"):  # schema 4
            if col not in review_cols:
                db.conn.execute(f"alter table finding_reviews add column {col} text")
        for table, cols, unique in (
            ("finding_reviews", ["recording_id"], False),
            ("recordings", ["status"], False), ("recordings", ["phone_number"], False),
            ("recordings", ["call_time"], False), ("recordings", ["direction"], False),
            ("recording_files", ["recording_id"], False),
            ("recording_files", ["path", "recording_id"], True),
            ("derived_files", ["path"], True), ("derived_files", ["recording_id"], False),
            ("segments", ["recording_id", "idx"], True), ("words", ["segment_id"], False),
            ("words", ["recording_id"], False), ("findings", ["recording_id"], False),
            ("findings", ["category"], False), ("findings", ["severity"], False),
            ("findings", ["segment_id"], False), ("findings", ["rule_id"], False),
        ):
            db[table].create_index(cols, unique=unique, if_not_exists=True)
        if not db["segments_fts"].exists():
            db["segments"].enable_fts(["text_index"], create_triggers=True)
        if db.conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            db.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.conn.commit()

    # ------------------------------------------------------------------ reads
    def status_of(self, sha256: str) -> str | None:
        row = self.conn.execute("select status from recordings where id = ?", [sha256]).fetchone()
        return row[0] if row else None

    def known_statuses(self) -> dict[str, str]:
        """All recording hashes and statuses, read once per run (not once per file)."""
        return dict(self.conn.execute("select id, status from recordings").fetchall())

    # ------------------------------------------------------------------ runs
    def start_run(self, **fields) -> int:
        """A new ``runs`` row.  The caller holds the run lock, so any run still marked
        ``running`` died without finishing (killed, power cut): it is marked so."""
        fields = {**fields, "started_at": now(), "status": "running"}
        if isinstance(fields.get("settings"), dict):
            fields["settings"] = json.dumps(fields["settings"], ensure_ascii=False, sort_keys=True)
        with self.write():
            self.conn.execute("update runs set status = 'interrupted' where status = 'running'")
            cur = self.conn.execute(
                f"insert into runs ({', '.join(fields)}) values ({', '.join('?' * len(fields))})",
                list(fields.values()))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "finished", **counts) -> None:
        fields = {**counts, "finished_at": now(), "status": status}
        with self.write():
            self.conn.execute(
                f"update runs set {', '.join(f'{k} = ?' for k in fields)} where id = ?",
                [*fields.values(), run_id])

    # ------------------------------------------------------------------ writes
    def note_file(self, sha256: str, path: str, size: int, mtime: str) -> None:
        """Remember that ``path`` holds content ``sha256``.

        Several paths may share one content (one recording, several rows), and
        one path may hold several contents over time (a file replaced under the
        same name): each (path, content) pair keeps its own row, and rows for
        other contents at that path are marked ``superseded_at``.
        """
        t = now()
        with self.write() as c:
            self._ensure_recording_stub(sha256, path, size, mtime)
            c.execute(
                "insert into recording_files (path, recording_id, size, mtime, first_seen, last_seen)"
                " values (?, ?, ?, ?, ?, ?) on conflict(path, recording_id) do update set"
                " size = excluded.size, mtime = excluded.mtime, last_seen = excluded.last_seen,"
                " superseded_at = null",
                [path, sha256, size, mtime, t, t])
            c.execute("update recording_files set superseded_at = ? where path = ? and"
                      " recording_id != ? and superseded_at is null", [t, path, sha256])

    def add_derived(self, recording_id: str, kind: str, path: str, sha256: str, size: int) -> None:
        """Register a file made from a recording (clip, export) so ``verify`` re-hashes it."""
        with self.write():
            self._insert_derived(recording_id, [(kind, path, sha256, size)])

    def _insert_derived(self, recording_id: str, derived: list[tuple[str, str, str, int]]) -> None:
        self.conn.executemany(
            "insert into derived_files (recording_id, kind, path, sha256, size, created_at)"
            " values (?, ?, ?, ?, ?, ?) on conflict(path) do update set"
            " recording_id = excluded.recording_id, kind = excluded.kind,"
            " sha256 = excluded.sha256, size = excluded.size, created_at = excluded.created_at",
            [(recording_id, kind, p, sha, size, now()) for kind, p, sha, size in derived])

    def _ensure_recording_stub(self, sha256: str, path: str, size: int, mtime: str) -> None:
        self.conn.execute(
            "insert into recordings (id, path, file_name, size, mtime, status) values (?, ?, ?, ?, ?,"
            " 'pending') on conflict(id) do nothing",
            [sha256, path, Path(path).name, size, mtime])

    def save_failure(self, recording: dict, error: str) -> None:
        rec = {**recording, "status": "failed", "error": error, "processed_at": now()}
        with self.write():
            self._upsert_recording(rec)

    def _upsert_recording(self, rec: dict) -> None:
        cols = list(rec)
        self.conn.execute(
            f"insert into recordings ({', '.join(cols)}) values ({', '.join('?' * len(cols))})"
            f" on conflict(id) do update set {', '.join(f'{c} = excluded.{c}' for c in cols if c != 'id')}",
            [rec[c] for c in cols])

    def save_recording(self, recording: dict, segments: list[SegmentRow],
                       findings: list[FindingRow], run_id: int | None,
                       derived: list[tuple[str, str, str, int]] | None = None) -> None:
        """Replace everything known about one recording in a single transaction.

        ``derived``: ``(kind, path, sha256, size)`` of files made from it (the
        normalised audio), registered in the same transaction.
        """
        sha = recording["id"]
        rec = {**recording, "status": "done", "error": None, "processed_at": now(),
               "n_segments": len(segments), "run_id": run_id,
               "n_findings": sum(f.tier == "finding" for f in findings)}
        with self.write() as c:
            self._upsert_recording(rec)
            self._delete_children(sha)
            seg_ids: dict[int, int] = {}
            for s in segments:
                cur = c.execute(
                    "insert into segments (recording_id, idx, start, end, text, text_index, channel,"
                    " speaker, avg_logprob, no_speech_prob, compression_ratio)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [sha, s.idx, s.start, s.end, s.text, search_index_text(s.text), s.channel,
                     s.speaker, s.avg_logprob, s.no_speech_prob, s.compression_ratio])
                seg_ids[s.idx] = int(cur.lastrowid)
                c.executemany(
                    "insert into words (segment_id, recording_id, idx, start, end, text, probability)"
                    " values (?, ?, ?, ?, ?, ?, ?)",
                    [(seg_ids[s.idx], sha, i, w[0], w[1], w[2], w[3]) for i, w in enumerate(s.words)])
            self._insert_findings(sha, findings, seg_ids, run_id)
            self._apply_reviews(sha)
            if derived:
                self._insert_derived(sha, derived)
            _test_pause_before_commit(sha)

    def _delete_children(self, sha: str, findings_only: bool = False) -> None:
        c = self.conn
        c.execute("delete from findings where recording_id = ?", [sha])
        if not findings_only:
            c.execute("delete from words where recording_id = ?", [sha])
            c.execute("delete from segments where recording_id = ?", [sha])

    def _insert_findings(self, sha: str, findings: list[FindingRow], seg_ids: dict[int, int],
                         run_id: int | None) -> None:
        self.conn.executemany(
            "insert into findings (recording_id, segment_id, rule_id, category, severity,"
            " matched_text, quote, start, end, confidence, speaker, citations, note, run_id,"
            " method, pattern, score, tier) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(sha, seg_ids.get(f.segment_idx) if f.segment_idx is not None else None, f.rule_id,
              f.category, f.severity, f.matched_text, f.quote, f.start, f.end, f.confidence,
              f.speaker, json.dumps(f.citations, ensure_ascii=False), f.note, run_id,
              f.method, f.pattern, f.score, f.tier)
             for f in findings])

    def replace_findings(self, sha: str, findings: list[FindingRow], run_id: int | None) -> None:
        """Re-detection: swap a recording's findings without touching its transcript."""
        seg_ids = dict(self.conn.execute(
            "select idx, id from segments where recording_id = ?", [sha]).fetchall())
        with self.write():
            self._delete_children(sha, findings_only=True)
            self._insert_findings(sha, findings, seg_ids, run_id)
            self._apply_reviews(sha)
            self.conn.execute("update recordings set n_findings = ? where id = ?",
                              [sum(f.tier == "finding" for f in findings), sha])

    # ------------------------------------------------------------------ reviews
    def set_review(self, finding_ids: list[int], status: str, note: str | None = None, *,
                   reviewed_by: str | None = None, reason: str | None = None,
                   expect: str | None = None) -> int:
        """Record a person's verdict on findings; returns how many findings it now covers.

        ``unreviewed`` takes the verdict back (as a new entry: the history is append-only,
        the newest entry of a finding counts).  The verdict is stored apart from
        the finding row (which a re-run rebuilds), keyed by recording, rule and
        time, so it survives re-transcription and re-detection.  The command line
        and the browser both come here, so they agree.

        ``expect``: the status the caller last saw; if a finding's status is no
        longer that (someone else reviewed it, or a form is sent twice), nothing
        is written and ``ReviewConflict`` says so.  The check and the write are
        one transaction.
        """
        note = verdict_note(status, note, reason)
        if not finding_ids:
            raise ValueError("no finding ids given")
        with self.write() as c:
            rows = c.execute(
                f"select id, recording_id, rule_id, category, start, end, quote,"
                f" coalesce(review_status, 'unreviewed') from findings"
                f" where id in ({', '.join('?' * len(finding_ids))})", list(finding_ids)).fetchall()
            check_review_rows(rows, finding_ids, expect, 7, "finding")
            stamp = now()
            for _fid, sha, rule_id, category, start, end, quote, _st in rows:
                # append-only: the newest verdict on a finding counts, a reset is one more
                c.execute("insert into finding_reviews (recording_id, rule_id, category, start, end,"
                          " quote, status, note, reviewed_at, reviewed_by, reason)"
                          " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          [sha, rule_id, category, start, end, quote, status, note, stamp,
                           reviewed_by, reason])
            for sha in {r[1] for r in rows}:
                self._apply_reviews(sha)
        return len(rows)

    def _apply_reviews(self, sha: str) -> None:
        """Give a recording's rebuilt findings their verdicts (inside the caller's transaction)."""
        findings, verdicts = self.review_matches(sha)
        self.conn.executemany("update findings set review_status = ? where id = ?",
                              [(verdicts[fid]["status"] if fid in verdicts else "unreviewed", fid)
                               for fid, *_ in findings])

    def review_matches(self, sha: str) -> tuple[list[tuple], dict[int, dict]]:
        """A recording's findings (id, rule, category, start) and, per finding id, the
        stored verdict that applies to it (its ``finding_reviews`` row: status, note,
        reviewed_at, reviewed_by, reason).  The store applies the status with it; the
        report prints the note and reviewer from it.  Pairing: ``verdict_rows``."""
        c = self.conn
        cur = c.execute("select * from finding_reviews where recording_id = ?"
                        " order by reviewed_at desc, id desc", [sha])
        cols = [d[0] for d in cur.description]
        reviews = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        findings = c.execute("select id, rule_id, category, start from findings where recording_id = ?",
                             [sha]).fetchall()
        return findings, verdict_rows(reviews, findings)

    def load_segments(self, sha: str) -> list[SegmentRow]:
        rows = self.conn.execute(
            "select id, idx, start, end, text, channel, speaker from segments"
            " where recording_id = ? order by idx", [sha]).fetchall()
        words: dict[int, list] = {}
        for seg_id, s, e, t, p in self.conn.execute(
                "select segment_id, start, end, text, probability from words"
                " where recording_id = ? order by segment_id, idx", [sha]):
            words.setdefault(seg_id, []).append((s, e, t, p))
        return [SegmentRow(idx=r[1], start=r[2], end=r[3], text=r[4], channel=r[5], speaker=r[6],
                           words=words.get(r[0], [])) for r in rows]


class ReviewConflict(ValueError):
    """A verdict was refused because the finding changed since the caller looked."""


def check_review_rows(rows: list, ids: list[int], expect: str | None, status_at: int,
                      what: str) -> None:
    """Before a verdict is written (call and message findings alike): every id asked for
    exists, and none changed status since the page that sent it was shown."""
    missing = sorted(set(ids) - {r[0] for r in rows})
    if missing:
        raise ValueError(f"no {what} with id {', '.join(map(str, missing))}")
    changed = [r for r in rows if expect is not None and r[status_at] != expect]
    if changed:
        raise ReviewConflict(
            f"{what} {changed[0][0]} is now {changed[0][status_at]}, not {expect}: it was reviewed"
            " since this page was shown (or the form was sent twice). Nothing was changed;"
            " reload the page to see the current verdict.")


def verdict_note(status: str, note: str | None, reason: str | None) -> str | None:
    """The note stored with a verdict, after the checks every verdict passes (call findings
    and message findings alike): a known status, a known reason given only with a
    dismissal and written before the note, a clean note."""
    if status not in REVIEW_STATUSES:
        raise ValueError(f"review status must be one of {', '.join(REVIEW_STATUSES)}")
    note = clean_note(note)
    if reason is not None:
        if reason not in REVIEW_REASONS:
            raise ValueError(f"unknown reason {reason!r}; known: {', '.join(REVIEW_REASONS)}")
        if status != "dismissed":
            raise ValueError(f"reason {reason!r} only goes with a dismissal")
        note = REVIEW_REASONS[reason] + (f" — {note}" if note else "")
    return note


def clean_note(note: str | None) -> str | None:
    """A review note as stored: control characters out, surrounding space trimmed, bounded.

    Notes are shown in the browser (escaped) and printed in reports, so a note
    of a megabyte, or one full of terminal control codes, is refused or cleaned
    here for every caller alike.
    """
    if note is None:
        return None
    note = "".join(ch for ch in note if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
    if len(note) > REVIEW_NOTE_MAX:
        raise ValueError(f"the note is {len(note)} characters long; at most {REVIEW_NOTE_MAX} are kept")
    return note or None


def _test_pause_before_commit(sha: str) -> None:
    """Test-only hook (see ``PAUSE_BEFORE_COMMIT_ENV``): announce, then sleep inside the transaction."""
    pause = os.environ.get(PAUSE_BEFORE_COMMIT_ENV)
    if pause:
        print(f"TEST: pausing before commit of {sha}", file=sys.stderr, flush=True)
        time.sleep(float(pause))
