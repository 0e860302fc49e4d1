"""An hour of hold-music-like noise: no findings, at most a handful of words (real model)."""

import sqlite3
import subprocess

import imageio_ffmpeg
import pytest

from pipeline.flow import Options, Pipeline

pytestmark = [pytest.mark.slow, pytest.mark.long]  # make test-long (CI runs it)


def test_an_hour_of_hold_music_yields_no_findings(tmp_path, fw_engine):
    folder = tmp_path / "rec"
    folder.mkdir()
    out = folder / "hold_1h.amr"
    subprocess.run([  # imageio-ffmpeg's static build: Debian's ffmpeg cannot encode AMR-NB
        imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.02:duration=3600:sample_rate=8000",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=3600:sample_rate=8000,volume=0.05",
        "-f", "lavfi", "-i",
        "sine=frequency=660:duration=3600:sample_rate=8000,tremolo=f=0.5:d=0.9,volume=0.05",
        "-filter_complex", "[0][1][2]amix=inputs=3:normalize=0",
        "-ac", "1", "-ar", "8000", "-c:a", "libopencore_amrnb", "-b:a", "12.2k", str(out),
    ], check=True)
    db = tmp_path / "e.db"
    summary = Pipeline(Options(cache_dir=tmp_path / "cache"), engine=fw_engine).run(
        folder, db, progress=False)
    assert summary.processed == 1 and summary.findings == 0
    c = sqlite3.connect(db)
    assert c.execute("select duration from recordings").fetchone()[0] == pytest.approx(3600, abs=1)
    assert c.execute("select count(*) from words").fetchone()[0] <= 10
    assert c.execute("select count(*) from findings").fetchone()[0] == 0
