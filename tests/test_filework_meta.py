"""What a file's reading becomes in its recording row (pipeline/filework.py): the name's
reading, and the container's creation tag for a name without time (never the mtime).

The engine here is a stub (speed: this is about the row, not the words); the end-to-end
runs with real Whisper are in tests/test_copying.py."""

import subprocess
from pathlib import Path

from pipeline.calls import ingest
from pipeline.engines.base import Transcript
from pipeline.filework import FileWork
from pipeline.normalise import ffmpeg_exe, probe
from pipeline.options import Options


class SilentEngine:
    name = "stub"
    model_name = "stub"
    model_sha256 = None

    def transcribe(self, audio, language=None):
        return Transcript("zh", 1.0, [])

    def version(self):
        return "stub"


def tone(path: Path, seconds: float = 1.0, creation_time: str | None = None) -> Path:
    args = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
            f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    if creation_time:
        args += ["-metadata", f"creation_time={creation_time}"]
    subprocess.run([*args, str(path)], check=True)
    return path


def test_probe_reads_the_container_creation_tag(tmp_path):
    info = probe(tone(tmp_path / "a.m4a", creation_time="2026-10-15T15:00:00Z"))
    assert info.creation_time.startswith("2026-10-15T15:00:00")
    assert probe(tone(tmp_path / "b.m4a")).creation_time is None


def _row(tmp_path, name, creation_time=None):
    p = tone(tmp_path / name, creation_time=creation_time)
    work = FileWork(Options(cache_dir=tmp_path / "cache"), engine=SilentEngine())
    return work.prepare(ingest.describe(p, tmp_path), run_id=1).rec


def test_a_name_without_time_is_dated_by_the_container_tag(tmp_path):
    rec = _row(tmp_path, "New Recording 3.m4a", "2026-10-15T15:00:00Z")
    assert (rec["call_time"], rec["time_source"]) == ("2026-10-15T15:00:00+00:00", "container tag")
    assert rec["phone_number"] is None and rec["direction"] == "unknown"


def test_the_name_wins_over_the_tag_and_no_tag_means_no_time(tmp_path):
    rec = _row(tmp_path, "20261015_230000.000+0800_out_13900002222_李经理.m4a", "2026-01-01T00:00:00Z")
    assert (rec["call_time"], rec["time_source"], rec["direction"], rec["contact"],
            rec["phone_number"], rec["number_as_written"]) == (
        "2026-10-15T23:00:00", "file name", "outgoing", "李经理", "+8613900002222", "13900002222")
    bare = _row(tmp_path, "voice 001.m4a")  # mtime is now, and is never taken as the call time
    assert (bare["call_time"], bare["time_source"]) == (None, "none")
