"""Crashes, concurrency and a hostile machine: the evidence database survives them all.

Most tests run the real pipeline (real ffmpeg, real SQLite, real Datasette)
with a tiny stand-in for Whisper, because they are about files and the
database, not speech recognition.  The kill -9 test runs the real CLI with
the real model on the committed fixtures.

``StandInEngine`` and ``tone_wav`` are shared with the other reliability tests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline import filework
from pipeline.calls import callstore
from pipeline.cli import cli
from pipeline.engines import Segment, Transcript, Word
from pipeline.flow import FlowError, Options, Pipeline, run_lock
from pipeline.normalise import NormaliseError, save_wav
from pipeline.store import SCHEMA_VERSION, Store, StoreError

from .conftest import FIXTURES

CLI = Path(sys.executable).parent / "call-evidence"
THREAT = "你这个老赖，明天我们就上门找你家人"


class StandInEngine:
    """Whisper's interface without Whisper: one segment where the audio is loudest.

    The segment's words carry a threat phrase so detection and findings are
    exercised.  ``calls`` counts transcriptions and ``longest`` the longest
    array received (in samples), so tests can prove what the engine was given.
    """

    name = "stand-in"
    model_name = "stand-in"
    model_sha256 = None

    def __init__(self, text: str = THREAT, delay: float = 0.0, segments: int = 1, on_call=None):
        self.text, self.delay, self.n, self.on_call = text, delay, segments, on_call
        self.calls = 0
        self.longest = 0
        self.lock = threading.Lock()

    def version(self) -> str:
        return "0"

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        with self.lock:
            self.calls += 1
            self.longest = max(self.longest, len(audio))
        if self.on_call:
            self.on_call(self)
        if self.delay:
            time.sleep(self.delay)
        loud = np.flatnonzero(np.abs(audio) > 0.01)
        if not len(loud):
            return Transcript(language or "zh", 0.9, [])
        a, b = loud[0] / 16000, loud[-1] / 16000
        segs = []
        step = max((b - a) / self.n, 0.01)
        for i in range(self.n):
            s, e = round(a + i * step, 3), round(a + (i + 1) * step, 3)
            half = round((s + e) / 2, 3)
            segs.append(Segment(s, e, self.text, words=[
                Word(s, half, self.text[: len(self.text) // 2], 0.9),
                Word(half, e, self.text[len(self.text) // 2:], 0.9)]))
        return Transcript(language or "zh", 0.9, segs)


def tone_wav(path: Path, seconds: float = 1.0, freq: float = 440.0, rate: int = 8000,
             seed: int = 0) -> Path:
    """A short tone with a little noise; ``seed``/``freq`` make each file's content unique."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    save_wav(path, x, rate)
    return path


def pipeline(tmp_path: Path, engine=None, **kw) -> Pipeline:
    return Pipeline(Options(cache_dir=tmp_path / "cache", **kw), engine=engine or StandInEngine(),
                    log=lambda m: None)


def db_rows(db: Path, sql: str, args=()) -> list[tuple]:
    c = sqlite3.connect(db)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def assert_consistent(db: Path) -> None:
    """No half-written recording: children only for 'done' ones, counts matching."""
    assert db_rows(db, "pragma integrity_check") == [("ok",)]
    assert db_rows(db, "select count(*) from segments s join recordings r on r.id = s.recording_id"
                       " where r.status != 'done'") == [(0,)]
    bad = db_rows(db, "select r.id from recordings r where r.status = 'done' and r.n_segments !="
                      " (select count(*) from segments s where s.recording_id = r.id)")
    assert bad == []
    assert db_rows(db, "select recording_id, idx, count(*) from segments group by 1, 2"
                       " having count(*) > 1") == []
    assert db_rows(db, "select path, recording_id from recording_files group by 1, 2"
                       " having count(*) > 1") == []


# ------------------------------------------------------------------ kill -9, real CLI
def _spawn(folder: Path, db: Path, cache: Path, **env) -> subprocess.Popen:
    e = {**os.environ, "CALL_EVIDENCE_CACHE": str(cache.parent), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.Popen([str(CLI), "transcribe", str(folder), "--db", str(db), "--quiet",
                             "--threads", "2", "--workers", "1"], env=e, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(proc: subprocess.Popen, needle: str, count: int = 1, timeout: float = 120) -> list[str]:
    seen, lines = 0, []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            seen += 1
            if seen == count:
                return lines
    proc.kill()
    raise AssertionError(f"never saw {needle!r}: {''.join(lines)[-2000:]}")


@pytest.mark.slow
@pytest.mark.long
def test_kill_9_during_transcription_and_during_commit_then_resume(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    names = ["en_short_call.wav", "zh_threat_harm.flac", "en_neutral_reminder.mp4"]  # the shortest
    for n in names:
        (folder / n).write_bytes((FIXTURES / "audio" / n).read_bytes())
    db, cache = tmp_path / "e.db", tmp_path / "cache" / "audio"

    # 1. killed while Whisper is transcribing the second file (the first is committed)
    p = _spawn(folder, db, cache, CALL_EVIDENCE_TEST_TRACE="1")
    _wait_for(p, "TEST: committed")
    _wait_for(p, "TEST: transcribing")
    time.sleep(0.1)  # inside engine.transcribe (a fixture takes seconds on CPU)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert_consistent(db)
    assert db_rows(db, "select count(*) from recordings where status = 'done'") == [(1,)]
    first_done = db_rows(db, "select id, processed_at from recordings where status = 'done'")

    # 2. killed inside the database transaction of the next file, before COMMIT
    p = _spawn(folder, db, cache, CALL_EVIDENCE_TEST_PAUSE_BEFORE_COMMIT="60")
    _wait_for(p, "TEST: pausing before commit")
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert_consistent(db)
    assert db_rows(db, "select id, processed_at from recordings where status = 'done'") == first_done
    assert db_rows(db, "select count(*) from segments s join recordings r on r.id = s.recording_id"
                       " where r.status != 'done'") == [(0,)]

    # 3. a plain run finishes the rest: nothing lost, nothing twice, finished work untouched
    p = _spawn(folder, db, cache)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert_consistent(db)
    assert db_rows(db, "select count(*), count(distinct id) from recordings where status = 'done'"
                   ) == [(3, 3)]
    assert set(db_rows(db, "select id, processed_at from recordings where status = 'done'")
               ) >= set(first_done)
    assert db_rows(db, "select count(*) from recording_files") == [(3,)]
    # the two killed runs are marked as such; the last one finished
    assert [r[0] for r in db_rows(db, "select status from runs order by id")] == [
        "interrupted", "interrupted", "finished"]


# ------------------------------------------------------------------ Datasette while writing
def test_datasette_reads_while_a_run_writes_without_lock_errors(tmp_path):
    from datasette.app import Datasette

    from pipeline.browse import metadata

    folder = tmp_path / "rec"
    n = 40
    for i in range(n):
        tone_wav(folder / f"1381234{i:04d}_20261102{i % 24:02d}3015.wav", 0.5, 300 + 10 * i, seed=i)
    db = tmp_path / "evidence.db"
    store = Store(db)  # the browser opens a database an earlier run made: all its tables
    callstore.ensure_tables(store)
    store.close()
    engine = StandInEngine(segments=40)  # many rows per recording: real write transactions
    result: dict = {}

    def write():
        try:
            result["summary"] = pipeline(tmp_path, engine).run(folder, db, progress=False)
        except BaseException as e:  # reported below
            result["error"] = e

    ds = Datasette([str(db)], metadata=metadata(db.stem))
    paths = [f"/{db.stem}/recordings.json?_shape=array&_size=5",
             f"/{db.stem}/findings.json?_shape=array&_sort_desc=id&_size=5",
             f"/{db.stem}/segments.json?_shape=array&_search=%E8%80%81&_size=5",
             f"/{db.stem}/recording_files.json?_shape=array",
             f"/{db.stem}/findings_newest.json?_shape=array",
             f"/{db.stem}.json"]
    statuses, bodies = [], []

    async def read_until_done(writer: threading.Thread):
        while writer.is_alive() or not statuses:
            for path in paths:
                r = await ds.client.get(path)
                statuses.append(r.status_code)
                if r.status_code != 200 or "locked" in r.text:
                    bodies.append((path, r.status_code, r.text[:300]))

    writer = threading.Thread(target=write)
    writer.start()
    asyncio.run(read_until_done(writer))
    writer.join()
    assert "error" not in result, result.get("error")
    assert result["summary"].processed == n and result["summary"].failed == 0
    assert bodies == []
    assert len(statuses) > len(paths)  # it really read while writing
    assert_consistent(db)
    assert db_rows(db, "select count(*) from segments") == [(40 * n,)]


# ------------------------------------------------------------------ two runs at once
def test_second_run_exits_with_a_clear_lock_message(tmp_path):
    tone_wav(tmp_path / "rec" / "a.wav")
    db = tmp_path / "e.db"
    with run_lock(db):
        with pytest.raises(FlowError, match=rf"another call-evidence run \(process {os.getpid()}\)"
                                            " is writing"):
            pipeline(tmp_path).run(tmp_path / "rec", db, progress=False)
        r = CliRunner().invoke(cli, ["transcribe", str(tmp_path / "rec"), "--db", str(db), "--quiet"])
        assert r.exit_code == 1 and "another call-evidence run" in r.output
    assert pipeline(tmp_path).run(tmp_path / "rec", db, progress=False).processed == 1


# ------------------------------------------------------------------ hostile machine
def _some_done(tmp_path: Path, n: int = 3) -> tuple[Path, Path]:
    folder = tmp_path / "rec"
    for i in range(n):
        tone_wav(folder / f"{i}.wav", 0.5, 400 + 50 * i, seed=i)
    db = tmp_path / "e.db"
    pipeline(tmp_path).run(folder, db, progress=False)
    return folder, db


def test_disk_full_at_database_write_is_clear_and_corrupts_nothing(tmp_path, monkeypatch):
    folder, db = _some_done(tmp_path)
    before = db_rows(db, "select id, n_segments, n_findings from recordings order by id")
    tone_wav(folder / "new.wav", 2, 700, seed=9)
    real_schema = Store.ensure_schema

    def full_disk(self):  # SQLite's own "database or disk is full" (SQLITE_FULL)
        real_schema(self)
        pages = self.conn.execute("pragma page_count").fetchone()[0]
        self.conn.execute(f"pragma max_page_count = {pages}")

    monkeypatch.setattr(Store, "ensure_schema", full_disk)
    big = StandInEngine(text="明天上门" * 50, segments=50)
    with pytest.raises(StoreError, match="disk is full.*Nothing was half-written"):
        pipeline(tmp_path, big).run(folder, db, progress=False)
    monkeypatch.setattr(filework, "load_engine", lambda *a, **k: big)  # the CLI, with the stand-in
    r = CliRunner().invoke(cli, ["transcribe", str(folder), "--db", str(db), "--quiet"])
    assert r.exit_code == 1 and "disk is full" in r.output and "Traceback" not in r.output
    monkeypatch.setattr(Store, "ensure_schema", real_schema)
    assert_consistent(db)
    assert db_rows(db, "select id, n_segments, n_findings from recordings where status = 'done'"
                       " order by id") == before
    s = pipeline(tmp_path).run(folder, db, progress=False)  # space freed: it resumes
    assert (s.processed, s.skipped, s.failed) == (1, 3, 0)


def test_disk_full_in_the_audio_cache_stops_the_run_and_marks_no_file_failed(tmp_path, monkeypatch):
    folder, db = _some_done(tmp_path, 1)
    for i in range(3):
        tone_wav(folder / f"new{i}.wav", 0.5, 900 + i, seed=20 + i)
    real = filework.normalise

    def no_space(src, sha, cache, split):
        raise NormaliseError("ffmpeg could not decode the file: Error writing trailer of "
                             f"{cache}/{sha}.wav.partial.wav: No space left on device")

    monkeypatch.setattr(filework, "normalise", no_space)
    with pytest.raises(FlowError, match="disk holding the audio cache .* is full"):
        pipeline(tmp_path).run(folder, db, progress=False)
    assert db_rows(db, "select count(*) from recordings where status = 'failed'") == [(0,)]
    assert db_rows(db, "select status from runs order by id desc limit 1") == [("failed",)]
    assert_consistent(db)
    monkeypatch.setattr(filework, "normalise", real)
    s = pipeline(tmp_path).run(folder, db, progress=False)
    assert (s.processed, s.skipped, s.failed) == (3, 1, 0)


def test_cache_not_writable_is_a_clear_message_before_anything_is_written(tmp_path):
    tone_wav(tmp_path / "rec" / "a.wav")
    (tmp_path / "blocker").write_text("a file where the cache folder should be")
    p = Pipeline(Options(cache_dir=tmp_path / "blocker" / "audio"), engine=StandInEngine())
    with pytest.raises(FlowError, match="audio cache .* is not writable.*CALL_EVIDENCE_CACHE"):
        p.run(tmp_path / "rec", tmp_path / "e.db", progress=False)
    assert not (tmp_path / "e.db").exists()


def test_database_not_writable_is_a_clear_message(tmp_path, monkeypatch):
    folder, db = _some_done(tmp_path, 1)
    tone_wav(folder / "b.wav", 0.5, 800, seed=5)
    real_schema = Store.ensure_schema

    def read_only(self):
        real_schema(self)
        self.conn.execute("pragma query_only = on")  # SQLite then answers SQLITE_READONLY

    monkeypatch.setattr(Store, "ensure_schema", read_only)
    r = CliRunner().invoke(cli, ["transcribe", str(folder), "--db", str(db), "--quiet"])
    assert r.exit_code == 1 and "read-only" in r.output and "Traceback" not in r.output
    monkeypatch.setattr(Store, "ensure_schema", real_schema)
    assert_consistent(db)
    # a database in a place that cannot hold files at all
    (tmp_path / "notadir").write_text("x")
    r = CliRunner().invoke(cli, ["transcribe", str(folder), "--db", str(tmp_path / "notadir" / "e.db")])
    assert r.exit_code == 1 and "cannot create the lock file" in r.output


# ------------------------------------------------------------------ schema upgrade
def test_version_1_database_is_upgraded_in_place(tmp_path):
    db = tmp_path / "old.db"
    c = sqlite3.connect(db)
    c.executescript("""
        create table runs (id integer primary key, started_at text, finished_at text, status text,
            tool_version text, engine text, engine_version text, model text, model_sha256 text,
            settings text, folder text, processed integer, skipped integer, failed integer,
            findings integer);
        create table recordings (id text primary key, path text, file_name text, size integer,
            mtime text, phone_number text, call_time text, container text, codec text,
            sample_rate integer, channels integer, duration real, language text,
            language_probability real, status text, error text, engine text, model text,
            n_segments integer, n_findings integer, run_id integer references runs(id),
            processed_at text);
        create table recording_files (path text primary key, recording_id text references
            recordings(id), size integer, mtime text, first_seen text, last_seen text);
        insert into recordings (id, path, file_name, status) values ('a', '/r/x.wav', 'x.wav', 'done');
        insert into recording_files values ('/r/x.wav', 'a', 3, 'm', 't0', 't1');
        insert into recording_files values ('/r/y.wav', 'a', 3, 'm', 't0', 't1');
        pragma user_version = 1;
    """)
    c.close()
    s = Store(db)
    assert s.conn.execute("pragma user_version").fetchone()[0] == SCHEMA_VERSION
    assert s.db["recording_files"].pks == ["id"]
    assert s.conn.execute("select path, recording_id, first_seen, superseded_at from recording_files"
                          " order by path").fetchall() == [
        ("/r/x.wav", "a", "t0", None), ("/r/y.wav", "a", "t0", None)]
    assert "note" in s.db["recordings"].columns_dict and s.db["derived_files"].exists()
    s.note_file("b", "/r/x.wav", 4, "m2")  # the file was replaced: both versions kept
    assert s.conn.execute("select recording_id, superseded_at is not null from recording_files"
                          " where path = '/r/x.wav' order by id").fetchall() == [("a", 1), ("b", 0)]
    s.close()
    Store(db).close()  # opening again changes nothing
