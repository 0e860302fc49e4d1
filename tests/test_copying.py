"""A phone's folder as it arrives (issue 23): a file still being copied is left for the
next run and said so; an earlier truncated copy is superseded by the whole one; a
container that states its length and ends early fails clearly, a cut AMR frame is
noted; the same bytes under several names keep every name and the best reading.

The fast tests use a stub engine (this is about files and rows, not words); the
acceptance run at the end uses the real Whisper model and is marked slow."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pipeline.calls import container, ingest
from pipeline.flow import Options, Pipeline
from pipeline.normalise import ffmpeg_exe

from .test_filework_meta import SilentEngine


def mp3(path: Path, seconds: float, freq: int = 440) -> Path:
    import subprocess

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency={freq}:duration={seconds}", "-c:a", "libmp3lame", "-b:a",
                    "32k", str(path)], check=True)
    return path


def rows(db, sql):
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    return [dict(r) for r in c.execute(sql)]


def run(folder, db, engine=None, cache=None):
    pipe = Pipeline(Options(cache_dir=cache or db.parent / "cache"), engine=engine or SilentEngine())
    return pipe.run(folder, db, progress=False)


def grow(path: Path, data: bytes, start: int, seconds: float) -> threading.Thread:
    """Write ``data`` to ``path`` the way a slow copy does: ``start`` bytes now, the rest
    in small pieces over ``seconds``."""
    path.write_bytes(data[:start])

    def more():
        pieces = 20
        step = (len(data) - start) // pieces + 1
        for i in range(start, len(data), step):
            time.sleep(seconds / pieces)
            with open(path, "ab") as f:
                f.write(data[i:i + step])

    t = threading.Thread(target=more)
    t.start()
    return t


def test_settled_tells_a_growing_file_from_a_still_one(tmp_path):
    still = tmp_path / "still.mp3"
    still.write_bytes(b"x" * 100)
    moving = tmp_path / "moving.mp3"
    writer = grow(moving, b"y" * 10_000, 100, 1.5)
    try:
        ok, copying = ingest.settled([still, moving], seconds=0.6)
    finally:
        writer.join()
    assert (ok, copying) == ([still], [moving])
    assert ingest.settled([still, moving], seconds=0) == ([still, moving], [])


def test_a_file_still_growing_is_skipped_then_done_on_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "SETTLE_SECONDS", 0.6)
    folder, db = tmp_path / "phone", tmp_path / "evidence.db"
    mp3(folder / "13900001111_20261015091500.mp3", 1.0)
    whole = mp3(tmp_path / "whole.mp3", 6.0, 330).read_bytes()
    target = folder / "13900002222_20261015230000.mp3"
    writer = grow(target, whole, 2000, 2.0)
    try:
        first = run(folder, db)
    finally:
        writer.join()
    assert first.copying == [str(target)] and "1 still being copied, skipped" in first.line()
    assert first.processed == 1
    second = run(folder, db)
    assert (second.processed, second.copying) == (1, [])
    done = rows(db, "select file_name, phone_number from recordings where status = 'done'")
    assert sorted(r["phone_number"] for r in done) == ["+8613900001111", "+8613900002222"]
    assert len(rows(db, "select id from recordings")) == 2  # the partial never made a row


def test_an_earlier_truncated_copy_is_superseded_not_counted_twice(tmp_path, monkeypatch):
    """The first run took a half-copied mp3 (mp3 states no length); the next run finds the
    whole file at the same name, whose first bytes are the old copy's."""
    monkeypatch.setattr(ingest, "SETTLE_SECONDS", 0)
    folder, db = tmp_path / "phone", tmp_path / "evidence.db"
    whole = mp3(tmp_path / "whole.mp3", 6.0).read_bytes()
    name = folder / "通话录音@张经理(13900001111)_20261015230000.mp3"
    folder.mkdir()
    name.write_bytes(whole[: len(whole) // 3])
    assert run(folder, db).processed == 1
    name.write_bytes(whole)
    second = run(folder, db)
    assert second.processed == 1 and len(second.superseded) == 1
    recs = rows(db, "select id, status, superseded_by, note from recordings order by size")
    assert [r["status"] for r in recs] == ["superseded", "done"]
    assert recs[0]["superseded_by"] == recs[1]["id"] and "truncated copy" in recs[0]["note"]
    # counted once: the call-pattern rules see one call (one night call, not two)
    assert len(rows(db, "select * from pattern_findings where category = 'night_call'")) == 1
    assert run(folder, db).processed == 0  # nothing comes back on a third run


def test_a_container_that_ends_early_fails_clearly_and_a_cut_amr_frame_is_noted(tmp_path):
    folder, db = tmp_path / "phone", tmp_path / "evidence.db"
    fixtures = Path(__file__).parent / "fixtures" / "audio"
    folder.mkdir()
    m4a = next(fixtures.glob("*.m4a")).read_bytes()
    (folder / "cut.m4a").write_bytes(m4a[: len(m4a) * 2 // 3])
    wav = next(fixtures.glob("*.wav")).read_bytes()
    (folder / "cut.wav").write_bytes(wav[: len(wav) // 2])
    amr = next(fixtures.glob("*.amr")).read_bytes()
    (folder / "cut.amr").write_bytes(amr[: len(amr) // 2 + 3])
    summary = run(folder, db)
    recs = {r["file_name"]: r for r in rows(db, "select * from recordings")}
    assert summary.failed == 2
    for name in ("cut.m4a", "cut.wav"):
        assert recs[name]["status"] == "failed"
        assert recs[name]["error"].startswith("the file ends early")
    assert recs["cut.amr"]["status"] == "done"
    assert "last AMR frame is incomplete" in recs["cut.amr"]["note"]


def test_amr_nb_made_by_ffmpeg_frames_check_out(tmp_path):
    """A whole AMR-NB file (encoded by imageio-ffmpeg's static ffmpeg, which has the
    encoder Debian's lacks) has no cut frame; the same file cut mid-frame has one."""
    import subprocess

    import imageio_ffmpeg

    path = tmp_path / "call.amr"
    r = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                        "sine=frequency=300:duration=2", "-ar", "8000", "-ac", "1", "-c:a",
                        "libopencore_amrnb", "-b:a", "12.2k", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"this ffmpeg cannot encode AMR-NB: {r.stderr[-200:]!r}")
    assert container.check(path) is None
    path.write_bytes(path.read_bytes()[:-7])
    assert "incomplete (25 of 32 bytes)" in container.check(path)


def test_the_same_bytes_under_several_names_keep_every_name_and_the_best_reading(tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setattr(ingest, "SETTLE_SECONDS", 0)
    folder, db = tmp_path / "phone", tmp_path / "evidence.db"
    backup = mp3(folder / "A_backup" / "录音 (1).mp3", 1.0)
    assert run(folder, db).processed == 1  # first only the backup name: nothing to read
    rec = rows(db, "select * from recordings")[0]
    assert rec["phone_number"] is None and rec["call_time"] is None
    miui = folder / "MIUI" / "sound_recorder" / "call_rec" / "通话录音@张经理(13900001111)_20261015231000.mp3"
    miui.parent.mkdir(parents=True)
    miui.write_bytes(backup.read_bytes())
    (folder / "Recording_20261015_231000.mp3").write_bytes(backup.read_bytes())
    second = run(folder, db)
    assert (second.processed, second.skipped) == (0, 3)
    rec = rows(db, "select * from recordings")
    assert len(rec) == 1
    assert (rec[0]["phone_number"], rec[0]["call_time"], rec[0]["contact"]) == (
        "+8613900001111", "2026-10-15T23:10:00", "张经理")
    paths = {Path(r["path"]).name for r in rows(db, "select path from recording_files")}
    assert paths == {"录音 (1).mp3", miui.name, "Recording_20261015_231000.mp3"}


def test_duplicates_in_one_run_take_the_best_name(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "SETTLE_SECONDS", 0)
    folder, db = tmp_path / "phone", tmp_path / "evidence.db"
    first = mp3(folder / "A_backup" / "录音 (1).mp3", 1.0)  # sorts first, is processed first
    (folder / "B" ).mkdir()
    (folder / "B" / "20261015_230000.000+0800_out_13900002222_李经理.mp3").write_bytes(
        first.read_bytes())
    summary = run(folder, db)
    assert (summary.processed, summary.skipped) == (1, 1)
    rec = rows(db, "select * from recordings")[0]
    assert (rec["phone_number"], rec["direction"], rec["contact"], rec["time_source"]) == (
        "+8613900002222", "outgoing", "李经理", "file name")


@pytest.mark.slow
def test_acceptance_a_phone_folder_with_a_growing_file_real_whisper(tmp_path, monkeypatch,
                                                                    fw_engine):
    """Issue 23's acceptance, end to end with the real model: a folder copied from a phone
    with a file still growing gives one done recording per call after two runs, and the
    first run's summary says what it skipped."""
    monkeypatch.setattr(ingest, "SETTLE_SECONDS", 0.6)
    fixtures = Path(__file__).parent / "fixtures" / "audio"
    folder, db = tmp_path / "phone", tmp_path / "evidence.db"
    folder.mkdir()
    done_call = next(fixtures.glob("*.amr"))
    (folder / done_call.name).write_bytes(done_call.read_bytes())
    growing = folder / "通话录音@李经理(13900002222)_20261015230000.mp3"
    writer = grow(growing, (fixtures / "zh_neutral_reminder.mp3").read_bytes(), 3000, 2.5)
    try:
        first = run(folder, db, engine=fw_engine)
    finally:
        writer.join()
    assert "still being copied, skipped" in first.line() and first.copying == [str(growing)]
    run(folder, db, engine=fw_engine)
    done = rows(db, "select file_name, duration from recordings where status = 'done'")
    assert sorted(r["file_name"] for r in done) == sorted([done_call.name, growing.name])
    assert all(r["duration"] > 3 for r in done)
