"""Real ffmpeg on every committed format, and clear errors for broken input."""

import wave

import pytest

from pipeline import normalise as norm_mod
from pipeline.calls.ingest import sha256_of
from pipeline.normalise import NormaliseError, normalise, probe

from .conftest import FIXTURES, load_scenes, make_broken_files

SCENES = load_scenes()


@pytest.mark.parametrize("scene", SCENES, ids=[s["scene"] for s in SCENES])
def test_every_fixture_format_normalises_to_16k_mono(scene, tmp_path):
    src = FIXTURES / scene["file"]
    before = sha256_of(src)
    out = normalise(src, "x", tmp_path)
    assert out.info.channels == scene["channels"]
    assert abs(out.info.duration - scene["duration"]) < 0.5
    with wave.open(str(out.mix)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert abs(w.getnframes() / 16000 - scene["duration"]) < 0.5
    assert sha256_of(src) == before
    assert bool(out.channel_paths) == (scene["channels"] == 2)


def test_formats_cover_what_phones_make():
    codecs = {probe(FIXTURES / s["file"]).codec for s in SCENES}
    assert {"amr_nb", "aac", "opus", "mp3", "flac", "pcm_s16le"} <= codecs


def test_second_normalise_reuses_the_cache(tmp_path):
    src = FIXTURES / SCENES[0]["file"]
    first = normalise(src, "y", tmp_path)
    mtime = first.mix.stat().st_mtime_ns
    second = normalise(src, "y", tmp_path)
    assert second.mix.stat().st_mtime_ns == mtime


def test_broken_inputs_raise_readable_errors(tmp_path):
    broken = make_broken_files(tmp_path / "rec")
    for kind, path in broken.items():
        with pytest.raises(NormaliseError) as e:
            normalise(path, kind, tmp_path / "cache")
        assert str(e.value) and "Traceback" not in str(e.value)
    assert not list((tmp_path / "cache").glob("*.partial*"))


def test_imageio_ffmpeg_is_the_fallback(monkeypatch):
    monkeypatch.delenv("CALL_EVIDENCE_FFMPEG", raising=False)
    monkeypatch.setattr(norm_mod.shutil, "which", lambda name: None)
    norm_mod.ffmpeg_exe.cache_clear()
    try:
        assert "imageio_ffmpeg" in norm_mod.ffmpeg_exe()
    finally:
        norm_mod.ffmpeg_exe.cache_clear()


def test_stereo_with_the_same_signal_twice_is_not_split(tmp_path):
    import subprocess

    from pipeline.normalise import ffmpeg_exe

    src = tmp_path / "dual_mono.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=300:duration=2", "-ac", "2", str(src)], check=True)
    out = normalise(src, "dual", tmp_path / "cache")
    assert out.info.channels == 2 and out.channel_paths == []
    assert not list((tmp_path / "cache").glob("dual.c*.wav"))


def test_stereo_fixture_channels_are_split_left_and_right(tmp_path):
    import numpy as np

    from pipeline.normalise import load_wav

    scene = next(s for s in SCENES if s["channels"] == 2)
    out = normalise(FIXTURES / scene["file"], "st", tmp_path)
    left, right = (load_wav(p) for p in out.channel_paths)
    for sent in scene["sentences"]:
        a, b = int(sent["start"] * 16000), int(sent["end"] * 16000)
        loud, quiet = (left, right) if sent["channel"] == 0 else (right, left)
        assert np.abs(loud[a:b]).mean() > 10 * np.abs(quiet[a:b]).mean()


def test_samples_equal_what_the_bare_engine_decodes(tmp_path):
    """Resampling as faster-whisper's own decoder does (PyAV, in float): the pipeline
    and the bare engine feed Whisper the very same samples, so a difference in their
    transcripts comes from settings, never from one LSB of resampling."""
    from faster_whisper.audio import decode_audio

    from pipeline.normalise import load_wav

    src = FIXTURES / "audio" / "en_short_call.wav"  # 8 kHz telephone band
    norm = normalise(src, sha256_of(src), tmp_path)
    ours, bare = load_wav(norm.mix), decode_audio(str(src))
    assert len(ours) == len(bare) and (ours == bare).all()
