"""The transcription stage: a normalised recording in, one timestamped transcript out.

Long recordings are read in windows (cut at quiet points) so a 3-hour call never
sits in memory whole; digital silence is not sent to the engine; split stereo
channels are transcribed apart and merged by time with their channel labels.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import models
from .engines import Engine, Transcript
from .normalise import NormaliseError, normalise

CHANNEL_LABELS = {0: "channel 1 (left)", 1: "channel 2 (right)"}

# Long recordings are read and transcribed in windows of this length, so a 3-hour
# call never sits in memory as one float32 array (and Whisper's features for it).
# Calls shorter than a window are transcribed in one pass, exactly as before.
WINDOW_SECONDS = 30 * 60
# A window is cut at the quietest 100 ms in its last minute, so no word is split.
BOUNDARY_SEARCH_SECONDS = 60
# A window whose loudest sample is below this (-66 dBFS: digital silence, far
# below any speech a phone records) is not sent to the engine at all.
SILENCE_PEAK = 16 / 32768
SILENT_NOTE = "silent recording: no sound above -66 dBFS, nothing to transcribe"
NO_SPEECH_NOTE = "no speech recognised"


def _read_float(w: wave.Wave_read, frames: int) -> np.ndarray:
    """``frames`` 16-bit samples as float32 in [-1, 1], converted in place (one copy)."""
    out = np.frombuffer(w.readframes(frames), dtype="<i2").astype(np.float32)
    out *= np.float32(1 / 32768)
    return out


def _quiet_cut(x: np.ndarray, rate: int) -> int:
    """Where to end a window: the quietest 100 ms in its last minute (a pause in speech)."""
    frame = rate // 10
    region = min(len(x), BOUNDARY_SEARCH_SECONDS * rate) // frame * frame
    if region < frame:
        return len(x)
    tail = x[len(x) - region:].reshape(-1, frame)
    quietest = int(np.argmin(np.square(tail).mean(axis=1)))
    return len(x) - region + (quietest + 1) * frame - frame // 2


def audio_windows(path: Path, window_seconds: float = WINDOW_SECONDS) -> Iterator[tuple[float, np.ndarray]]:
    """(offset in seconds, float32 samples) for a 16 kHz mono 16-bit wav, one window at a time."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise NormaliseError(f"unexpected normalised audio format in {path}")
        rate, total = w.getframerate(), w.getnframes()
        size = max(1, int(window_seconds * rate))
        pos = 0
        while pos < total:
            w.setpos(pos)
            x = _read_float(w, min(size, total - pos))
            if pos + len(x) < total:
                x = x[:_quiet_cut(x, rate)]
            yield pos / rate, x
            pos += len(x)


def _shift(t: Transcript, offset: float) -> Transcript:
    if offset:
        for s in t.segments:
            s.start, s.end = round(s.start + offset, 3), round(s.end + offset, 3)
            for w in s.words:
                w.start, w.end = round(w.start + offset, 3), round(w.end + offset, 3)
    return t


def _transcribe_wav(engine: Engine, path: Path, language: str | None) -> tuple[Transcript, bool]:
    """The transcript of a normalised wav, and whether any of it was loud enough to transcribe."""
    parts: list[Transcript] = []
    for offset, x in audio_windows(path):
        if not len(x) or float(np.abs(x).max()) < SILENCE_PEAK:
            continue  # digital silence: nothing to hear, and VAD over hours of it is slow
        parts.append(_shift(engine.transcribe(x, language=language), offset))
    if not parts:
        return Transcript(language, None, []), False
    main = max(parts, key=lambda t: sum(len(s.text) for s in t.segments))
    segments = [s for t in parts for s in t.segments]
    return Transcript(main.language, main.language_probability, segments), True


def transcribe_path(engine: Engine, path: Path, language: str | None = None,
                    cache_dir: Path | None = None, split_stereo: bool = True) -> Transcript:
    """The pipeline's transcription of one file (normalise + engine + clean-up), no database.

    Used by evaluation and benchmarks so they measure exactly what ``transcribe`` stores.
    """
    from .calls.ingest import sha256_of

    cache = cache_dir or (models.cache_root() / "audio")
    norm = normalise(Path(path), sha256_of(Path(path)), cache, split_stereo)
    return _transcribe_normalised(engine, norm, language)[0]


def _transcribe_normalised(engine: Engine, norm, language: str | None) -> tuple[Transcript, dict]:
    return transcribe_normalised_noted(engine, norm, language)[:2]


def transcribe_normalised_noted(engine: Engine, norm, language: str | None, diarize: bool = False
                                 ) -> tuple[Transcript, dict, str | None]:
    """Mono: one pass.  Split stereo: one pass per channel, merged by time.  Plus a note.

    With ``diarize``, mono segments also get an estimated voice label each (``speaker A
    (estimated)``...; pipeline/diarize.py); split stereo keeps its channel labels, which are facts.
    """
    if not norm.channel_paths:
        t, heard = _transcribe_wav(engine, norm.mix, language)
        if diarize and t.segments:
            from .diarize import diarize_wav

            t.segments = diarize_wav(norm.mix, t.segments)[0]
        return t, {None: None}, _note(t, heard)
    parts, heard = [], False
    for ch, path in enumerate(norm.channel_paths):
        t, h = _transcribe_wav(engine, path, language)
        heard = heard or h
        for s in t.segments:
            s.channel = ch
        parts.append(t)
    main = max(parts, key=lambda t: sum(len(s.text) for s in t.segments))
    merged = sorted((s for t in parts for s in t.segments), key=lambda s: (s.start, s.channel))
    t = Transcript(main.language, main.language_probability, merged)
    return t, dict(CHANNEL_LABELS), _note(t, heard)


def _note(t: Transcript, heard: bool) -> str | None:
    if not heard:
        return SILENT_NOTE
    return None if t.segments else NO_SPEECH_NOTE
