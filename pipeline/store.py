"""The evidence database: schema, and one atomic write per recording.

sqlite-utils creates the tables, indexes and full-text search; the per-
recording write uses plain SQL inside one transaction because sqlite-utils
commits after each ``insert_all``, and a recording must land whole or not at
all (an interrupted run never leaves half a transcript behind).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from .textnorm import search_index_text

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StoreError(RuntimeError):
    """The database cannot be opened or written; the message says why."""


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
            raise StoreError(f"cannot open database {self.path}: {e}") from e
        except OSError as e:
            raise StoreError(f"cannot create database {self.path}: {e}") from e

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        self.db.conn.close()

    # ------------------------------------------------------------------ schema
    def ensure_schema(self) -> None:
        db = self.db
        db["runs"].create({
            "id": int, "started_at": str, "finished_at": str, "status": str,
            "tool_version": str, "engine": str, "engine_version": str, "model": str,
            "model_sha256": str, "settings": str, "folder": str,
            "processed": int, "skipped": int, "failed": int, "findings": int,
        }, pk="id", if_not_exists=True)
        db["recordings"].create({
            "id": str, "path": str, "file_name": str, "size": int, "mtime": str,
            "phone_number": str, "call_time": str,
            "container": str, "codec": str, "sample_rate": int, "channels": int,
            "duration": float, "language": str, "language_probability": float,
            "status": str, "error": str, "engine": str, "model": str,
            "n_segments": int, "n_findings": int, "run_id": int, "processed_at": str,
        }, pk="id", if_not_exists=True, foreign_keys=[("run_id", "runs", "id")])
        db["recording_files"].create({
            "path": str, "recording_id": str, "size": int, "mtime": str,
            "first_seen": str, "last_seen": str,
        }, pk="path", if_not_exists=True, foreign_keys=[("recording_id", "recordings", "id")])
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
        }, pk="id", if_not_exists=True, foreign_keys=[
            ("recording_id", "recordings", "id"), ("segment_id", "segments", "id"),
            ("run_id", "runs", "id")], defaults={"review_status": "unreviewed"})
        for table, cols, unique in (
            ("recordings", ["status"], False), ("recordings", ["phone_number"], False),
            ("recordings", ["call_time"], False), ("recording_files", ["recording_id"], False),
            ("segments", ["recording_id", "idx"], True), ("words", ["segment_id"], False),
            ("words", ["recording_id"], False), ("findings", ["recording_id"], False),
            ("findings", ["category"], False), ("findings", ["severity"], False),
            ("findings", ["segment_id"], False), ("findings", ["rule_id"], False),
        ):
            db[table].create_index(cols, unique=unique, if_not_exists=True)
        if not db["segments_fts"].exists():
            db["segments"].enable_fts(["text_index"], create_triggers=True)
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
        fields = {**fields, "started_at": now(), "status": "running"}
        if isinstance(fields.get("settings"), dict):
            fields["settings"] = json.dumps(fields["settings"], ensure_ascii=False, sort_keys=True)
        with self.conn:
            cur = self.conn.execute(
                f"insert into runs ({', '.join(fields)}) values ({', '.join('?' * len(fields))})",
                list(fields.values()))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "finished", **counts) -> None:
        fields = {**counts, "finished_at": now(), "status": status}
        with self.conn:
            self.conn.execute(
                f"update runs set {', '.join(f'{k} = ?' for k in fields)} where id = ?",
                [*fields.values(), run_id])

    # ------------------------------------------------------------------ writes
    def note_file(self, sha256: str, path: str, size: int, mtime: str) -> None:
        """Remember that ``path`` held content ``sha256`` (several paths may share one)."""
        t = now()
        with self.conn:
            self._ensure_recording_stub(sha256, path, size, mtime)
            self.conn.execute(
                "insert into recording_files (path, recording_id, size, mtime, first_seen, last_seen)"
                " values (?, ?, ?, ?, ?, ?) on conflict(path) do update set"
                " recording_id = excluded.recording_id, size = excluded.size,"
                " mtime = excluded.mtime, last_seen = excluded.last_seen",
                [path, sha256, size, mtime, t, t])

    def _ensure_recording_stub(self, sha256: str, path: str, size: int, mtime: str) -> None:
        self.conn.execute(
            "insert into recordings (id, path, file_name, size, mtime, status) values (?, ?, ?, ?, ?,"
            " 'pending') on conflict(id) do nothing",
            [sha256, path, Path(path).name, size, mtime])

    def save_failure(self, recording: dict, error: str) -> None:
        rec = {**recording, "status": "failed", "error": error, "processed_at": now()}
        with self.conn:
            self._upsert_recording(rec)

    def _upsert_recording(self, rec: dict) -> None:
        cols = list(rec)
        self.conn.execute(
            f"insert into recordings ({', '.join(cols)}) values ({', '.join('?' * len(cols))})"
            f" on conflict(id) do update set {', '.join(f'{c} = excluded.{c}' for c in cols if c != 'id')}",
            [rec[c] for c in cols])

    def save_recording(self, recording: dict, segments: list[SegmentRow],
                       findings: list[FindingRow], run_id: int | None) -> None:
        """Replace everything known about one recording in a single transaction."""
        sha = recording["id"]
        rec = {**recording, "status": "done", "error": None, "processed_at": now(),
               "n_segments": len(segments), "n_findings": len(findings), "run_id": run_id}
        c = self.conn
        with c:
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
            " matched_text, quote, start, end, confidence, speaker, citations, note, run_id)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(sha, seg_ids.get(f.segment_idx) if f.segment_idx is not None else None, f.rule_id,
              f.category, f.severity, f.matched_text, f.quote, f.start, f.end, f.confidence,
              f.speaker, json.dumps(f.citations, ensure_ascii=False), f.note, run_id)
             for f in findings])

    def replace_findings(self, sha: str, findings: list[FindingRow], run_id: int | None) -> None:
        """Re-detection: swap a recording's findings without touching its transcript."""
        seg_ids = dict(self.conn.execute(
            "select idx, id from segments where recording_id = ?", [sha]).fetchall())
        with self.conn:
            self._delete_children(sha, findings_only=True)
            self._insert_findings(sha, findings, seg_ids, run_id)
            self.conn.execute("update recordings set n_findings = ? where id = ?",
                              [len(findings), sha])

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
