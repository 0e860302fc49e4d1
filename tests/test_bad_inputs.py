"""Every kind of bad or awkward input: a clear recorded outcome, and the batch goes on.

Real ffmpeg and SQLite; a stand-in engine except where marked ``slow`` (the
3-hour file through real Whisper).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import flow
from pipeline.calls.ingest import display_path
from pipeline.cli import cli
from pipeline.engines import Transcript
from pipeline.flow import SILENT_NOTE, WINDOW_SECONDS, Options, Pipeline
from pipeline.normalise import ffmpeg_exe
from pipeline.verify import verify

from .conftest import FIXTURES
from .test_resilience import StandInEngine, assert_consistent, tone_wav

LONG_SECONDS = 3 * 3600
SPEECH_AT = 7195.0  # straddles the 4th window boundary (7200 s): the cut must not split it


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True, capture_output=True)


def rows(db: Path, sql: str, args=()) -> list[sqlite3.Row]:
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def run(tmp_path: Path, folder: Path, engine=None, **options):
    engine = engine or StandInEngine()
    db = tmp_path / "e.db"
    summary = Pipeline(Options(cache_dir=tmp_path / "cache", **options), engine=engine,
                       log=lambda m: None).run(folder, db, progress=False)
    return summary, db, engine


def by_name(db: Path) -> dict[str, sqlite3.Row]:
    return {r["file_name"]: r for r in rows(db, "select * from recordings")}


# ------------------------------------------------------------------ broken files
def test_broken_files_each_get_a_clear_error_and_the_batch_goes_on(tmp_path):
    folder = tmp_path / "rec"
    good_m4a = next((FIXTURES / "audio").glob("*.m4a")).read_bytes()
    tone_wav(folder / "a_good.wav", 1, 500, seed=1)
    (folder / "b_empty.amr").write_bytes(b"")
    (folder / "c_truncated.m4a").write_bytes(good_m4a[:2000])
    (folder / "d_notes.mp3").write_text("this is a shopping list, not a recording\n" * 20)
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:d=1", "-an", "-c:v", "mpeg4",
           str(folder / "e_video_only.mp4"))
    wav = tone_wav(tmp_path / "full.wav", 4, 300, seed=2).read_bytes()
    (folder / "f_cut_short.wav").write_bytes(wav[: len(wav) // 2])  # sync stopped half-way
    tone_wav(folder / "z_good.wav", 1, 600, seed=3)

    summary, db, engine = run(tmp_path, folder)
    recs = by_name(db)
    assert (summary.processed, summary.failed) == (2, 5)
    assert {n for n, r in recs.items() if r["status"] == "done"} == {"a_good.wav", "z_good.wav"}
    errors = {n: r["error"] for n, r in recs.items() if r["status"] == "failed"}
    assert errors["b_empty.amr"] == "empty file (0 bytes)"
    assert errors["c_truncated.m4a"].startswith("the file ends early")
    assert "not a readable audio file" in errors["d_notes.mp3"]
    assert errors["e_video_only.mp4"] == "no audio stream in file"
    assert all(len(e) < 400 for e in errors.values())
    # a WAV states its length: one that stops half-way is an incomplete copy (issue 23)
    assert errors["f_cut_short.wav"].startswith("the file ends early: its RIFF header says")
    assert_consistent(db)
    # the CLI lists each failure and exits 1
    r = CliRunner().invoke(cli, ["transcribe", str(folder), "--db", str(db), "--quiet"])
    assert r.exit_code == 1 and "no audio stream" in r.output and "empty file" in r.output


def test_many_empty_files_are_one_content_with_every_path_kept(tmp_path):
    folder = tmp_path / "rec"
    for name in ("x.amr", "y.m4a", "sub/z.mp3"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    summary, db, _ = run(tmp_path, folder)
    assert (summary.failed, summary.skipped) == (1, 2)  # tried once, not three times
    assert len(rows(db, "select * from recordings")) == 1
    assert len(rows(db, "select * from recording_files")) == 3


# ------------------------------------------------------------------ long files
def test_an_hour_of_silence_is_done_quickly_with_a_note(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "3600", "-c:a", "aac",
           "-b:a", "8k", str(folder / "silence.m4a"))
    summary, db, engine = run(tmp_path, folder)
    rec = by_name(db)["silence.m4a"]
    assert (rec["status"], rec["n_segments"], rec["note"]) == ("done", 0, SILENT_NOTE)
    assert abs(rec["duration"] - 3600) < 1
    assert engine.calls == 0  # nothing to hear: Whisper is not asked


@pytest.fixture(scope="module")
def three_hours(tmp_path_factory) -> Path:
    """A 3-hour low-bitrate call: silence, one sentence at 1:59:55, silence (~700 kB)."""
    folder = tmp_path_factory.mktemp("long") / "rec"
    folder.mkdir()
    speech = FIXTURES / "audio" / "en_short_call.wav"
    ffmpeg("-f", "lavfi", "-i", f"anullsrc=r=8000:cl=mono:d={SPEECH_AT}", "-i", str(speech),
           "-f", "lavfi", "-i", f"anullsrc=r=8000:cl=mono:d={LONG_SECONDS - SPEECH_AT - 4.83:.2f}",
           "-filter_complex",
           "[1]aresample=8000,aformat=channel_layouts=mono[s];[0][s][2]concat=n=3:v=0:a=1",
           "-c:a", "aac", "-b:a", "8k", str(folder / "13812345678_20261102223015.m4a"))
    return folder


def test_three_hour_file_is_read_in_windows_with_timestamps_kept(tmp_path, three_hours):
    summary, db, engine = run(tmp_path, three_hours)
    rec = by_name(db)["13812345678_20261102223015.m4a"]
    assert rec["status"] == "done" and abs(rec["duration"] - LONG_SECONDS) < 1
    # never more than one window of float32 in memory, and silent windows skipped
    assert engine.longest <= WINDOW_SECONDS * 16000
    assert engine.calls == 1
    segs = rows(db, "select start, end from segments")
    assert len(segs) == 1
    assert SPEECH_AT - 1 < segs[0]["start"] < SPEECH_AT + 1 < segs[0]["end"] < SPEECH_AT + 6
    found = rows(db, "select start from findings")
    assert found and all(SPEECH_AT - 1 < f["start"] < SPEECH_AT + 6 for f in found)


@pytest.mark.slow
@pytest.mark.long
def test_three_hour_file_through_real_whisper(tmp_path, three_hours, fw_engine):
    # language given: this test is about windows and timestamps, not language detection
    summary, db, _ = run(tmp_path, three_hours, engine=fw_engine, language="en")
    assert summary.processed == 1
    segs = rows(db, "select start, end, text from segments order by start")
    assert segs, "the sentence at 1:59:55 was not transcribed"
    assert all(SPEECH_AT - 1 < s["start"] < SPEECH_AT + 6 for s in segs)
    text = " ".join(s["text"] for s in segs).lower()
    assert "your house" in text, text  # "We know where you live, and we will come to your house"
    found = rows(db, "select category, start from findings")
    assert "visit_shaming" in {f["category"] for f in found}
    assert all(SPEECH_AT < f["start"] < SPEECH_AT + 6 for f in found)


# ------------------------------------------------------------------ names and links
NAMES = [
    '通话录音 "引号" \'单引号\' 😀 13812345678_20261102223015.wav',
    "with  two spaces .wav",
    "-starts-with-a-dash.wav",
    "emoji_📞☎️_only.wav",
    "line\nbreak.wav",
]


def test_unicode_space_quote_emoji_and_non_utf8_names(tmp_path):
    folder = tmp_path / "rec"
    paths = [tone_wav(folder / n, 0.5, 300 + 40 * i, seed=i) for i, n in enumerate(NAMES)]
    gbk = Path(os.fsdecode(os.fsencode(folder) + b"/gbk_\xb5\xe7\xbb\xb0.wav"))  # 电话 in GBK
    gbk.write_bytes(tone_wav(tmp_path / "g.wav", 0.5, 900, seed=99).read_bytes())
    paths.append(gbk)
    summary, db, _ = run(tmp_path, folder)
    assert (summary.processed, summary.failed) == (len(paths), 0), summary.failures
    stored = {r["path"] for r in rows(db, "select path from recording_files")}
    assert stored == {display_path(p) for p in paths}
    assert "gbk_\\xb5" in display_path(gbk)
    rec = by_name(db)[NAMES[0]]
    assert (rec["phone_number"], rec["call_time"]) == ("+8613812345678", "2026-11-02T22:30:15")
    report = verify(db)
    assert report.ok and report.originals_ok == len(paths), [p.line() for p in report.problems]


def test_symlinks_followed_inside_the_folder_only(tmp_path):
    folder = tmp_path / "rec"
    real = tone_wav(folder / "real.wav", 0.5, 440)
    secret = tone_wav(tmp_path / "elsewhere" / "secret.wav", 0.5, 880, seed=7)
    os.symlink(real, folder / "link.wav")
    os.symlink(secret, folder / "escape.wav")
    os.symlink(tmp_path / "nowhere.wav", folder / "dangling.wav")
    summary, db, engine = run(tmp_path, folder)
    assert (summary.processed, summary.skipped, summary.failed) == (1, 1, 0)
    assert engine.calls == 1
    assert sorted(summary.ignored) == [
        (str(folder / "dangling.wav"), "link points to nothing"),
        (str(folder / "escape.wav"), "link points outside the recordings folder")]
    files = {r["path"] for r in rows(db, "select path from recording_files")}
    assert files == {str(folder / "real.wav"), str(folder / "link.wav")}
    assert len(rows(db, "select * from recordings")) == 1  # secret.wav never read
    r = CliRunner().invoke(cli, ["transcribe", str(folder), "--db", str(db), "--quiet"])
    assert r.exit_code == 0 and "link points outside the recordings folder" in r.output


# ------------------------------------------------------------------ same and changed content
def test_same_content_under_two_names_is_transcribed_once_with_both_paths(tmp_path):
    folder = tmp_path / "rec"
    a = tone_wav(folder / "a.wav", 0.5, 500)
    (folder / "copies").mkdir()
    (folder / "copies" / "b.wav").write_bytes(a.read_bytes())
    summary, db, engine = run(tmp_path, folder)
    assert (summary.processed, summary.skipped, engine.calls) == (1, 1, 1)
    recs = rows(db, "select id from recordings")
    assert len(recs) == 1
    assert {(r["path"], r["recording_id"]) for r in rows(db, "select * from recording_files")} == {
        (str(a), recs[0]["id"]), (str(folder / "copies" / "b.wav"), recs[0]["id"])}


def test_file_replaced_under_the_same_name_keeps_both_versions(tmp_path):
    folder = tmp_path / "rec"
    x = tone_wav(folder / "x.wav", 0.5, 500, seed=1)
    v1 = x.read_bytes()
    _, db, _ = run(tmp_path, folder)
    tone_wav(x, 0.7, 650, seed=2)  # a new recording under the same name
    summary, db, engine = run(tmp_path, folder)
    assert (summary.processed, engine.calls) == (1, 1)
    recs = rows(db, "select id, status from recordings")
    assert len(recs) == 2 and {r["status"] for r in recs} == {"done"}
    hist = rows(db, "select recording_id, superseded_at from recording_files where path = ?"
                    " order by id", [str(x)])
    assert len(hist) == 2 and hist[0]["superseded_at"] and hist[1]["superseded_at"] is None
    report = verify(db)
    assert report.ok and report.superseded == 1
    x.write_bytes(v1)  # and back again: recognised, not re-transcribed
    summary, db, engine = run(tmp_path, folder)
    assert (summary.processed, summary.skipped) == (0, 1)
    hist = rows(db, "select superseded_at is null as current from recording_files order by id")
    assert [h["current"] for h in hist] == [1, 0]
    assert verify(db).ok


def test_failed_file_is_retried_and_a_transcription_error_is_recorded(tmp_path, monkeypatch):
    folder = tmp_path / "rec"
    tone_wav(folder / "a.wav")

    def boom(self):
        raise RuntimeError("engine crashed")

    summary, db, _ = run(tmp_path, folder, StandInEngine(on_call=boom))
    assert summary.failed == 1
    assert rows(db, "select error from recordings")[0]["error"] == (
        "transcription failed: RuntimeError: engine crashed")
    summary, db, _ = run(tmp_path, folder)
    assert summary.processed == 1 and rows(db, "select status from recordings")[0]["status"] == "done"


def test_sound_without_words_is_done_with_a_note(tmp_path):
    class Deaf(StandInEngine):
        def transcribe(self, audio, language=None):
            super().transcribe(audio, language)
            return Transcript("zh", 0.5, [])

    tone_wav(tmp_path / "rec" / "hum.wav", 1, 50)
    summary, db, engine = run(tmp_path, tmp_path / "rec", Deaf())
    rec = rows(db, "select status, n_segments, note from recordings")[0]
    assert (tuple(rec), engine.calls) == (("done", 0, flow.NO_SPEECH_NOTE), 1)
