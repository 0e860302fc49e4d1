"""Watch mode: slow syncs, a folder that comes and goes, and a clean stop between recordings."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import pytest

from pipeline.flow import FlowError
from pipeline.store import Store
from pipeline.watch import StopFlag, Watcher

from .test_resilience import StandInEngine, assert_consistent, pipeline, tone_wav

CLI = Path(sys.executable).parent / "call-evidence"


def _watcher(tmp_path: Path, folder: Path, engine=None, workers: int = 1,
             **kw) -> tuple[Watcher, list[str]]:
    logs: list[str] = []
    w = Watcher(pipeline(tmp_path, engine, workers=workers), folder, tmp_path / "e.db",
                log=logs.append, **kw)
    return w, logs


def _statuses(db: Path) -> list[tuple]:
    c = sqlite3.connect(db)
    try:
        return c.execute("select file_name, status, duration from recordings order by file_name"
                         ).fetchall()
    finally:
        c.close()


def test_a_growing_file_is_taken_only_once_it_has_stopped_growing(tmp_path):
    folder = tmp_path / "rec"
    full = tone_wav(tmp_path / "full.wav", 3, 440).read_bytes()
    target = folder / "call.wav"
    folder.mkdir()
    w, _ = _watcher(tmp_path, folder, stable_polls=2)
    store = Store(tmp_path / "e.db")
    try:
        for end in (len(full) // 4, len(full) // 2, len(full)):  # the phone is still syncing
            with open(target, "ab") as f:
                f.write(full[f.tell():end] if f.tell() else full[:end])
            assert w.poll_once(store) is None
        batch = w.poll_once(store)  # unchanged since the last look: now it is taken
        assert batch is not None and batch.processed == 1
        assert [(n, s, round(d)) for n, s, d in _statuses(store.path)] == [("call.wav", "done", 3)]
        for _ in range(3):  # and never again while it stays the same
            assert w.poll_once(store) is None
        tone_wav(target, 2, 660, seed=5)  # replaced by a new recording under the same name
        assert w.poll_once(store) is None
        assert w.poll_once(store).processed == 1
        assert len(_statuses(store.path)) == 2
    finally:
        store.close()
    assert_consistent(tmp_path / "e.db")


def test_folder_that_goes_away_and_comes_back(tmp_path):
    folder = tmp_path / "phone"
    tone_wav(folder / "a.wav", 0.5, 400)
    engine = StandInEngine()
    w, logs = _watcher(tmp_path, folder, engine, stable_polls=1)
    store = Store(tmp_path / "e.db")
    try:
        assert w.poll_once(store).processed == 1
        away = tmp_path / "unmounted"
        folder.rename(away)  # unplugged / unmounted
        assert w.poll_once(store) is None and w.poll_once(store) is None
        assert sum("not available" in m for m in logs) == 1  # said once, not every poll
        tone_wav(away / "b.wav", 0.5, 500, seed=2)
        away.rename(folder)
        batch = w.poll_once(store)
        assert any("is back" in m for m in logs)
        assert (batch.processed, batch.skipped) == (1, 1)  # a.wav recognised by its hash
        assert engine.calls == 2
    finally:
        store.close()
    assert [s for _, s, _ in _statuses(tmp_path / "e.db")] == ["done", "done"]


def test_stop_requested_during_a_recording_finishes_it_then_stops(tmp_path):
    folder = tmp_path / "rec"
    for i in range(3):
        tone_wav(folder / f"{i}.wav", 0.5, 300 + 100 * i, seed=i)
    stop = StopFlag()
    engine = StandInEngine(on_call=lambda e: stop.set(), delay=0.2)  # Ctrl-C mid-transcription
    w, logs = _watcher(tmp_path, folder, engine, interval=0.05, stable_polls=2, stop=stop)
    t = threading.Thread(target=w.run)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert w.summary.totals.processed == 1 and engine.calls == 1
    assert [s for _, s, _ in _statuses(tmp_path / "e.db")] == ["done"]  # the others not begun
    # the next watch picks up the rest; nothing is done twice
    stop2 = StopFlag()
    engine2 = StandInEngine()
    w2, _ = _watcher(tmp_path, folder, engine2, interval=0.05, stable_polls=2, stop=stop2)
    t = threading.Thread(target=w2.run)
    t.start()
    deadline = time.monotonic() + 30
    while w2.summary.totals.processed < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop2.set()
    t.join(30)
    assert (w2.summary.totals.processed, w2.summary.totals.skipped, engine2.calls) == (2, 1, 2)
    assert_consistent(tmp_path / "e.db")


def test_watch_holds_the_run_lock(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    stop = StopFlag()
    w, _ = _watcher(tmp_path, folder, interval=0.05, stop=stop)
    t = threading.Thread(target=w.run)
    t.start()
    try:
        deadline = time.monotonic() + 10
        while w.summary.polls == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(FlowError, match="another call-evidence run"):
            pipeline(tmp_path).run(folder, tmp_path / "e.db", progress=False)
    finally:
        stop.set()
        t.join(10)


def test_cli_watch_stops_cleanly_on_ctrl_c(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    env = {**os.environ, "CALL_EVIDENCE_CACHE": str(tmp_path / "cache")}
    p = subprocess.Popen([str(CLI), "watch", str(folder), "--db", str(tmp_path / "e.db"),
                          "--interval", "0.2"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stderr.readline()
        assert "Watching" in line, line + p.stderr.read()
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "Stopping after the current recording" in err
    assert "Stopped watching" in out and "processed 0" in out


def test_zero_length_wav_header_only_while_syncing_is_not_taken_early(tmp_path):
    """A file that exists but is still being written is not hashed into a bogus recording."""
    folder = tmp_path / "rec"
    folder.mkdir()
    with wave.open(str(folder / "c.wav"), "wb") as f:  # header only so far
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(8000)
    w, _ = _watcher(tmp_path, folder, stable_polls=3)
    store = Store(tmp_path / "e.db")
    try:
        assert w.poll_once(store) is None
        (folder / "c.wav").write_bytes(tone_wav(tmp_path / "x.wav", 1, 500).read_bytes())
        assert w.poll_once(store) is None and w.poll_once(store) is None
        assert w.poll_once(store).processed == 1
    finally:
        store.close()
    assert [s for _, s, _ in _statuses(tmp_path / "e.db")] == ["done"]


def test_stop_with_two_workers_finishes_what_is_in_flight(tmp_path):
    folder = tmp_path / "rec"
    for i in range(5):
        tone_wav(folder / f"{i}.wav", 0.5, 300 + 100 * i, seed=i)
    stop = StopFlag()
    engine = StandInEngine(on_call=lambda e: stop.set(), delay=0.2)
    w, _ = _watcher(tmp_path, folder, engine, workers=2, interval=0.05, stable_polls=2, stop=stop)
    t = threading.Thread(target=w.run)
    t.start()
    t.join(30)
    assert not t.is_alive()
    done = [s for _, s, _ in _statuses(tmp_path / "e.db") if s == "done"]
    assert 1 <= w.summary.totals.processed == len(done) <= 2  # in-flight work is kept, no more
    assert_consistent(tmp_path / "e.db")
