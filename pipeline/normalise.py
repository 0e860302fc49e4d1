"""Normalise any phone/recorder audio to 16 kHz mono PCM for Whisper.

Originals are only ever read.  Decoded audio goes to a cache folder keyed by
the original's sha256, so a re-run (or a second path with the same content)
never decodes twice.  The system ffmpeg is used when present; otherwise the
static binary inside ``imageio-ffmpeg`` (which also decodes AMR-NB), so a pip
install alone is enough.
"""

from __future__ import annotations

import os
import shutil
import wave
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
# PyAV reports decoder names; store the codec names ffprobe users know.
_CODEC_NAMES = {"mp3float": "mp3", "amrnb": "amr_nb", "amrwb": "amr_wb", "aac_fixed": "aac",
                "libopus": "opus", "libopencore_amrnb": "amr_nb", "libvorbis": "vorbis"}


class NormaliseError(RuntimeError):
    """The file could not be read as audio; the message is meant for the user."""


@dataclass
class AudioInfo:
    """What the original file is, recorded in the database as found."""

    container: str | None
    codec: str | None
    sample_rate: int | None
    channels: int | None
    duration: float | None
    # the container's creation tag (m4a, 3gp, mov: ISO 8601 UTC), which dates a call whose
    # file name holds no time; None where the container has none
    creation_time: str | None = None


@dataclass
class NormalisedAudio:
    info: AudioInfo
    mix: Path  # 16 kHz mono, all channels mixed
    channel_paths: list[Path] = field(default_factory=list)  # per channel, only when split


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """System ffmpeg if installed, else the one shipped in imageio-ffmpeg."""
    found = os.environ.get("CALL_EVIDENCE_FFMPEG") or shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as e:  # pragma: no cover - dependency of the package
        raise NormaliseError("no ffmpeg found: install ffmpeg or imageio-ffmpeg") from e
    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path) -> AudioInfo:
    """Read container/codec/rate/channels/duration with PyAV (ffmpeg's libraries).

    PyAV is already a faster-whisper dependency; using it avoids needing an
    ``ffprobe`` binary, which imageio-ffmpeg does not ship.
    """
    import av

    if path.stat().st_size == 0:
        raise NormaliseError("empty file (0 bytes)")
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            streams = [s for s in c.streams if s.type == "audio"]
            if not streams:
                raise NormaliseError("no audio stream in file")
            s = streams[0]
            duration = None
            if s.duration is not None and s.time_base is not None:
                duration = float(s.duration * s.time_base)
            elif c.duration is not None:
                duration = c.duration / 1_000_000
            return AudioInfo(
                container=c.format.name,
                codec=_CODEC_NAMES.get(s.codec_context.name, s.codec_context.name),
                sample_rate=s.codec_context.sample_rate or None,
                channels=s.codec_context.channels or None,
                duration=duration,
                creation_time=(c.metadata or {}).get("creation_time") or None,
            )
    except NormaliseError:
        raise
    except Exception as e:  # av raises many subclasses; all mean "not readable audio"
        reason = getattr(e, "strerror", None) or str(e)
        raise NormaliseError(f"not a readable audio file ({reason})") from e


_PCM = {"ac": 1, "ar": SAMPLE_RATE, "acodec": "pcm_s16le"}
# Resample in float, as PyAV does inside faster-whisper's own decode_audio: the samples
# then equal, bit for bit, what the bare engine would decode from the same file.  ffmpeg's
# default (resampling in 16-bit) differs by one LSB here and there, and on 8 kHz phone
# audio that alone changed Whisper's words (docs/accuracy.md, tel8k).
_RESAMPLE = {"internal_sample_fmt": "fltp"}


def _partial(dst: Path) -> Path:
    # per-process name: an ffmpeg orphaned by a killed run must not write into ours
    return dst.with_name(f"{dst.name}.{os.getpid()}.partial.wav")


def _run(outputs, tmps: list[Path], dsts: list[Path]) -> None:
    """Run one ffmpeg command line; move its outputs into place only if all succeeded."""
    import ffmpeg

    try:
        (outputs.global_args("-nostdin", "-hide_banner", "-loglevel", "error")
         .overwrite_output().run(cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True))
    except ffmpeg.Error as e:
        for t in tmps:
            t.unlink(missing_ok=True)
        msg = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        reason = msg[-1] if msg else "unknown error"
        raise NormaliseError(f"ffmpeg could not decode the file: {reason}") from e
    if any(t.stat().st_size <= 44 for t in tmps):
        for t in tmps:
            t.unlink(missing_ok=True)
        raise NormaliseError("the file decodes to no audio samples")
    for t, d in zip(tmps, dsts, strict=True):
        os.replace(t, d)


def _run_ffmpeg(src: Path, dst: Path) -> None:
    """The mono mix of the first audio stream."""
    import ffmpeg

    tmp = _partial(dst)
    _run(ffmpeg.input(str(src)).output(str(tmp), map="0:a:0", vn=None,
                                       af=f"aresample={SAMPLE_RATE}:internal_sample_fmt=fltp", **_PCM),
         [tmp], [dst])


def _split_channels(src: Path, dsts: list[Path]) -> None:
    """Both channels of a stereo file, in one decoding pass."""
    import ffmpeg

    tmps = [_partial(d) for d in dsts]
    parts = ffmpeg.input(str(src))["a:0"].filter_multi_output("channelsplit",
                                                             channel_layout="stereo")
    outs = [parts[i].filter("aresample", SAMPLE_RATE, **_RESAMPLE).output(str(t), **_PCM)
            for i, t in enumerate(tmps)]
    _run(ffmpeg.merge_outputs(*outs), tmps, dsts)


def save_wav(path: Path, x: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """float samples in [-1, 1] -> 16-bit PCM mono wav (the inverse of ``load_wav``)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def load_wav(path: Path) -> np.ndarray:
    """16-bit PCM wav -> float32 in [-1, 1], the array both engines accept."""
    with wave.open(str(path), "rb") as w:
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768.0


def _channels_differ(a: Path, b: Path, block: int = 60 * SAMPLE_RATE) -> bool:
    """Two channels carry different parties only if they are not (nearly) the same signal.

    Read a minute at a time, so a 3-hour stereo call is never held in memory.
    """
    diff = level = 0.0
    with wave.open(str(a), "rb") as wa, wave.open(str(b), "rb") as wb:
        while True:
            x = np.frombuffer(wa.readframes(block), dtype="<i2").astype(np.float64)
            y = np.frombuffer(wb.readframes(block), dtype="<i2").astype(np.float64)
            n = min(len(x), len(y))
            if n == 0:
                break
            diff += float(np.sum((x[:n] - y[:n]) ** 2))
            level += float(np.sum(x[:n] ** 2) + np.sum(y[:n] ** 2))
    return level > 0 and (diff / level) ** 0.5 > 0.1


def normalise(src: Path, sha256: str, cache_dir: Path, split_stereo: bool = True) -> NormalisedAudio:
    """Probe ``src`` and write its 16 kHz mono mix (and channels) under ``cache_dir``.

    With ``split_stereo`` a two-channel file whose channels differ is also split
    into one file per channel: many call recorders put each party on its own
    channel, and transcribing them apart tells who said what.
    """
    info = probe(src)
    cache_dir.mkdir(parents=True, exist_ok=True)
    mix = cache_dir / f"{sha256}.wav"
    if not mix.exists():
        _run_ffmpeg(src, mix)
    # Container headers estimate some durations (AMR especially); the decoded
    # length is exact, and clips and timestamps are cut against it.
    with wave.open(str(mix), "rb") as w:
        info.duration = round(w.getnframes() / w.getframerate(), 3)
    result = NormalisedAudio(info=info, mix=mix)
    if split_stereo and info.channels == 2:
        paths = [cache_dir / f"{sha256}.c{ch}.wav" for ch in (0, 1)]
        if not all(p.exists() for p in paths):
            _split_channels(src, paths)
        if _channels_differ(*paths):
            result.channel_paths = paths
        else:  # the same signal twice (a mono call saved as stereo): keep only the mix
            for p in paths:
                p.unlink(missing_ok=True)
    return result
