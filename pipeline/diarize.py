"""An estimated two-speaker split of a mono call: who spoke, when the recorder kept one channel.

Stereo calls with one party per channel are labelled by channel (``transcribe.py``) and
that is a fact of the recording.  A mono call mixes both parties, so the split here is a
guess from the voices alone and every label says so: ``speaker A (estimated)``.  A finding
in speech labelled ``speaker B (estimated)`` came from the other voice than one in
``speaker A``; nothing says which of them is the collector (A is simply the voice heard
first).  The split is off unless asked for (``--diarize``).

How: every transcribed segment is cut into 1.5 s windows (0.75 s hop; a shorter segment
is one window of its own length), each window becomes a 256-d voice embedding, the
embeddings are clustered into two groups (spherical k-means started from the first
principal direction), and a recording whose two groups sound alike (centroid cosine
similarity at or above ``SAME_SPEAKER_SIMILARITY``) is one speaker: it is not split.
Segments take the majority label of their windows; a segment whose windows change voice
for long enough is split at the nearest word boundary.

The voice model is Resemblyzer's ``VoiceEncoder`` (a GE2E speaker encoder: 3-layer LSTM
over 40 mel bands), whose weights (``pretrained.pt``, 17 MB, Apache-2.0) ship inside the
``resemblyzer`` wheel, so nothing is downloaded at run time.  The ``resemblyzer`` package
itself is never imported, on purpose: its ``__init__`` imports its audio helpers, which
import ``webrtcvad``, whose module runs ``import pkg_resources`` (removed from
setuptools 81; torch 2.13 needs setuptools >= 77, so pinning setuptools below 81 would be
a narrow, deprecated window).  ``webrtcvad-wheels`` ships a fixed module of the same name,
but resemblyzer still requires the ``webrtcvad`` distribution, so pip installs both and
whichever unpacks last owns ``webrtcvad.py``: not robust.  We need neither that voice
activity detector nor librosa (slow to import), only the network and its weights: this
module rebuilds the same network (same parameter names, loaded strictly) and computes the
same mel frontend in numpy.  ``tests/test_diarize.py`` checks both against librosa and
resemblyzer's own encoder when those import.  The weights are read with
``weights_only=True``, so no pickled code runs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import threading
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .engines.base import Segment

SAMPLE_RATE = 16000
ESTIMATED = "(estimated)"
LABELS = (f"speaker A {ESTIMATED}", f"speaker B {ESTIMATED}")

WINDOW_SECONDS = 1.5  # about the 1.6 s partial utterances the encoder was trained on
HOP_SECONDS = 0.75
MIN_WINDOW_SECONDS = 0.5  # a shorter segment is widened (centred) to this much audio
# Two clusters whose centroids are at least this similar are one voice.  Measured with
# benchmarks/diarize_eval.py (docs/accuracy.md, "Who spoke"): two different voices gave
# 0.53-0.78 (real speakers, clean and telephone-band, and two TTS voices); one voice with
# at least MIN_WINDOWS windows, forced into two groups, gave 0.85-0.93.
SAME_SPEAKER_SIMILARITY = 0.82
# Below this many windows (about 6 s of speech) there is too little to tell voices apart:
# one voice cut into 4-6 windows scored 0.68-0.88, as low as two voices.  Such a recording
# is left as one estimated speaker.
MIN_WINDOWS = 8
# The smaller voice needs at least this many windows (about 2 s of speech) to exist:
# a lone odd window is a cough or a noise, not a second person.
MIN_SPEAKER_WINDOWS = 2
# A segment is split only where each side holds this many windows of one voice
# (about 2 s); shorter changes are too few windows to trust, so the majority wins.
MIN_SPLIT_WINDOWS = 2

# Resemblyzer's hyper-parameters (resemblyzer/hparams.py), fixed by its trained weights.
_N_FFT = 400  # 25 ms at 16 kHz
_HOP = 160  # 10 ms
_N_MELS = 40
_HIDDEN = 256
_LAYERS = 3
_TARGET_DBFS = -30.0  # resemblyzer normalises the volume of its input to this
_EMBED_CHUNK = 256  # windows embedded at a time (about 25 MB of audio)


class DiarizeError(RuntimeError):
    """The speaker model is not installed or cannot be loaded; the message says what to do."""


INSTALL_HINT = ("the estimated speaker split (--diarize) needs the resemblyzer package, which ships the "
                "voice model: pip install 'call-evidence[diarize]' (or: pip install --no-deps "
                "resemblyzer==0.1.4)")


# ------------------------------------------------------------------------- model files
def weights_path() -> Path:
    """``pretrained.pt`` inside the installed resemblyzer, found without importing it."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise DiarizeError(INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise DiarizeError(f"resemblyzer is installed but has no {path.name} ({path}); {INSTALL_HINT}")
    return path


def model_description() -> dict:
    """What to record in a run's settings: which voice model made the estimated labels."""
    path = weights_path()
    try:
        version = importlib.metadata.version("resemblyzer")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - found above
        version = "unknown"
    return {"model": f"resemblyzer {version} VoiceEncoder", "weights_sha256": _sha256(path),
            "same_speaker_similarity": SAME_SPEAKER_SIMILARITY, "labels": "estimated"}


@lru_cache(maxsize=4)
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -------------------------------------------------------------------------- frontend
@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): Slaney mel scale and area norm."""
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        mel = f / (200.0 / 3)
        log = f >= 1000.0
        return np.where(log, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        hz = m * (200.0 / 3)
        log = m >= 15.0
        return np.where(log, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), hz)

    fft_freqs = np.fft.rfftfreq(_N_FFT, 1.0 / SAMPLE_RATE)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), _N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)).astype(np.float32)  # periodic Hann


def mel_frames(wav: np.ndarray) -> np.ndarray:
    """(frames, 40) power mel spectrogram, as resemblyzer's ``wav_to_mel_spectrogram``
    computes it with librosa 0.11 (centred frames, zero padding, not log-scaled)."""
    x = np.pad(np.asarray(wav, dtype=np.float32), _N_FFT // 2)
    n = 1 + (len(x) - _N_FFT) // _HOP
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n, _N_FFT), strides=(x.strides[0] * _HOP, x.strides[0]), writeable=False)
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    return (power.astype(np.float32) @ _mel_filters().T).astype(np.float32)


def _normalise_volume(wav: np.ndarray) -> np.ndarray | None:
    """The window at -30 dBFS (the level the encoder was trained at); None if silent.

    Both directions, unlike resemblyzer's increase-only file-level step: on a call the far
    party is often much quieter, and loudness must not decide who is speaking.
    """
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if len(wav) else 0.0
    if rms < 1e-4:  # -80 dBFS: nothing to hear
        return None
    return (wav * (10 ** (_TARGET_DBFS / 20) / rms)).astype(np.float32)


# ----------------------------------------------------------------------------- model
_model_lock = threading.Lock()
_embed_lock = threading.Lock()
_model = None


def _build_model():
    import torch
    from torch import nn

    class VoiceEncoder(nn.Module):
        """resemblyzer.VoiceEncoder's network, parameter for parameter."""

        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(_N_MELS, _HIDDEN, _LAYERS, batch_first=True)
            self.linear = nn.Linear(_HIDDEN, _HIDDEN)
            self.relu = nn.ReLU()

        def forward(self, mels: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(mels)
            raw = self.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-12)

    path = weights_path()
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in checkpoint["model_state"].items()
                 if k.startswith(("lstm.", "linear."))}  # the training-only similarity_* go
        model = VoiceEncoder()
        model.load_state_dict(state, strict=True)
    except Exception as e:  # a changed or damaged weights file
        raise DiarizeError(f"cannot load the voice model {path}: {type(e).__name__}: {e}") from e
    return model.eval()


def load_model():
    """The voice encoder, loaded once per process (worker threads share it: inference only)."""
    global _model
    with _model_lock:
        if _model is None:
            _model = _build_model()
        return _model


def embed(wavs: Sequence[np.ndarray]) -> np.ndarray:
    """One L2-normalised 256-d voice embedding per 16 kHz waveform (rows may be NaN for silence)."""
    import torch

    model = load_model()
    out = np.full((len(wavs), _HIDDEN), np.nan, dtype=np.float32)
    mels: dict[int, list[tuple[int, np.ndarray]]] = {}
    for i, w in enumerate(wavs):
        w = _normalise_volume(np.asarray(w, dtype=np.float32))
        if w is not None:
            m = mel_frames(w)
            mels.setdefault(len(m), []).append((i, m))
    # One torch thread, for this call only.  Small LSTM batches gain little from more, and
    # the pipeline already runs a transcription next to this one: with torch's default (one
    # thread per core) the split took 17-25x longer on a busy 2-core machine (75-112 s
    # against 4.4-5.6 s for the same 295 s of speech).  The lock makes the change and
    # its undoing one step for concurrent workers.
    with _embed_lock, torch.inference_mode():
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for group in mels.values():  # windows of one length run as one batch
                for k in range(0, len(group), 128):
                    chunk = group[k:k + 128]
                    vecs = model(torch.from_numpy(np.stack([m for _, m in chunk]))).numpy()
                    for (i, _), v in zip(chunk, vecs, strict=True):
                        out[i] = v
        finally:
            torch.set_num_threads(previous)
    return out


# ------------------------------------------------------------------------ clustering
@dataclass
class Clustering:
    """Window labels (0 = the voice heard first, 1 = the other) and how sure the split is."""

    labels: np.ndarray
    speakers: int  # 1 when the two groups sound like one voice
    similarity: float | None  # cosine similarity of the two centroids (None: under 2 windows)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cluster_two(emb: np.ndarray, weights: np.ndarray | None = None,
                same_speaker: float = SAME_SPEAKER_SIMILARITY,
                min_windows: int = MIN_SPEAKER_WINDOWS, min_total: int = MIN_WINDOWS,
                iterations: int = 30) -> Clustering:
    """Split embeddings (rows in time order) into at most two voices.

    Spherical k-means on cosine similarity, started from the sign of the first principal
    component (deterministic, and it is the direction along which two voices differ most).
    Memory is linear in the number of windows, so a 3-hour call clusters like a short one.
    """
    n = len(emb)
    if n < max(2, min_total):
        return Clustering(np.zeros(n, dtype=int), 1, None)
    x = _unit(np.asarray(emb, dtype=np.float64))
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    centred = x - np.average(x, axis=0, weights=w)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    labels = (centred @ vt[0] > 0).astype(int)
    for _ in range(iterations):
        if labels.min() == labels.max():
            break
        cents = _unit(np.stack([np.average(x[labels == k], axis=0, weights=w[labels == k])
                                for k in (0, 1)]))
        new = np.argmax(x @ cents.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    counts = np.bincount(labels, minlength=2)
    if counts.min() < min_windows:
        return Clustering(np.zeros(n, dtype=int), 1, None)
    cents = _unit(np.stack([np.average(x[labels == k], axis=0, weights=w[labels == k]) for k in (0, 1)]))
    similarity = float(cents[0] @ cents[1])
    if similarity >= same_speaker:
        return Clustering(np.zeros(n, dtype=int), 1, similarity)
    if labels[0] == 1:  # A is the voice heard first
        labels = 1 - labels
    return Clustering(labels, 2, similarity)


# --------------------------------------------------------------------------- segments
@dataclass
class Result:
    """What the split found, for the run log and tests."""

    speakers: int
    similarity: float | None
    windows: int
    split_segments: int  # segments cut in two at a word boundary


def _windows(start: float, end: float) -> list[tuple[float, float]]:
    """Analysis windows inside one segment (times in seconds)."""
    length = end - start
    if length <= WINDOW_SECONDS:
        if length < MIN_WINDOW_SECONDS:
            mid = (start + end) / 2
            return [(max(0.0, mid - MIN_WINDOW_SECONDS / 2), max(0.0, mid - MIN_WINDOW_SECONDS / 2)
                     + MIN_WINDOW_SECONDS)]
        return [(start, end)]
    count = int(np.ceil((length - WINDOW_SECONDS) / HOP_SECONDS)) + 1
    step = (length - WINDOW_SECONDS) / (count - 1)  # spread evenly: last window ends at `end`
    return [(start + i * step, start + i * step + WINDOW_SECONDS) for i in range(count)]


def _wav_reader(path: Path) -> Callable[[float, float], np.ndarray]:
    """Read [start, end) seconds of a 16 kHz mono 16-bit wav without loading all of it."""
    def read(start: float, end: float) -> np.ndarray:
        with wave.open(str(path), "rb") as w:
            rate, total = w.getframerate(), w.getnframes()
            a = min(total, max(0, int(round(start * rate))))
            b = min(total, max(a, int(round(end * rate))))
            w.setpos(a)
            return np.frombuffer(w.readframes(b - a), dtype="<i2").astype(np.float32) / 32768.0
    return read


def _array_reader(audio: np.ndarray) -> Callable[[float, float], np.ndarray]:
    def read(start: float, end: float) -> np.ndarray:
        a = max(0, int(round(start * SAMPLE_RATE)))
        return audio[a:max(a, int(round(end * SAMPLE_RATE)))]
    return read


def _runs(labels: np.ndarray) -> list[list[int]]:
    """[label, first, last] runs of equal window labels, runs shorter than
    ``MIN_SPLIT_WINDOWS`` folded into a neighbour (too few windows to trust)."""
    def merge(runs: list[list[int]]) -> list[list[int]]:
        out = [list(runs[0])]
        for r in runs[1:]:
            if r[0] == out[-1][0]:
                out[-1][2] = r[2]
            else:
                out.append(list(r))
        return out

    runs = merge([[int(v), i, i] for i, v in enumerate(labels)])
    while len(runs) > 1:
        size = [r[2] - r[1] + 1 for r in runs]
        short = int(np.argmin(size))
        if size[short] >= MIN_SPLIT_WINDOWS:
            break
        # the short run takes the voice of its longer neighbour
        after = short == 0 or (short < len(runs) - 1 and size[short + 1] > size[short - 1])
        runs[short][0] = runs[short + 1][0] if after else runs[short - 1][0]
        runs = merge(runs)
    return runs


def _pieces(seg: Segment, wins: list[tuple[float, float]], labels: np.ndarray) -> list[tuple[int, int]]:
    """(first word index, voice) of each part of a segment whose voice changes midway.

    One part (no split) unless the voice holds for ``MIN_SPLIT_WINDOWS`` windows on each
    side of a change, and only when the words spell the segment's text, so the parts keep
    exactly what was transcribed.  Each change is moved to the nearest word start, and each
    part then takes the voice heard over most of its own time span, not the voice of the
    change that opened it: when Whisper stretches one word over several turns (seen: one
    character given 12 s across both voices), two changes land on the same word start, and
    the part after them must not inherit the voice of the turn that fell between them.
    """
    runs = _runs(labels)
    if len(runs) == 1 or len(seg.words) < 2 or \
            "".join(w.text for w in seg.words).strip() != seg.text.strip():
        return [(0, runs[0][0] if len(runs) == 1 else int(np.bincount(labels).argmax()))]
    starts = [0]
    for prev, run in zip(runs, runs[1:], strict=False):
        # between the centres of the last window of one voice and the first of the other
        t = (sum(wins[prev[2]]) + sum(wins[run[1]])) / 4
        k = min(range(1, len(seg.words)), key=lambda i: abs(seg.words[i].start - t))
        if k > starts[-1]:
            starts.append(k)
    voices = np.empty(len(labels), dtype=int)  # window labels with too-short runs folded in
    for voice, first, last in runs:
        voices[first:last + 1] = voice
    pieces: list[tuple[int, int]] = []
    for n, k in enumerate(starts):
        a = seg.start if n == 0 else seg.words[k].start  # the span _cut gives this part
        b = seg.end if n == len(starts) - 1 else seg.words[starts[n + 1] - 1].end
        voice = _voice_over(wins, voices, a, b)
        if not pieces or pieces[-1][1] != voice:
            pieces.append((k, voice))
    return pieces


def _voice_over(wins: list[tuple[float, float]], voices: np.ndarray, a: float, b: float) -> int:
    """The voice whose windows overlap [a, b] the longest (the nearest window's if none does)."""
    time = np.zeros(2)
    for (wa, wb), v in zip(wins, voices, strict=True):
        time[v] += max(0.0, min(b, wb) - max(a, wa))
    if time.sum() > 0:
        return int(time.argmax())
    return int(voices[min(range(len(wins)), key=lambda i: abs(sum(wins[i]) - (a + b)))])


def _cut(seg: Segment, pieces: list[tuple[int, int]]) -> list[Segment]:
    """The segment as one segment per piece, words and text divided at the piece starts."""
    out = []
    for n, (k, voice) in enumerate(pieces):
        words = seg.words[k:pieces[n + 1][0] if n + 1 < len(pieces) else len(seg.words)]
        out.append(replace(seg, start=seg.start if n == 0 else words[0].start,
                           end=seg.end if n == len(pieces) - 1 else words[-1].end, words=list(words),
                           text="".join(w.text for w in words).strip(), speaker=LABELS[voice]))
    return out


def assign(segments: list[Segment], read: Callable[[float, float], np.ndarray]
           ) -> tuple[list[Segment], Result]:
    """Label ``segments`` (of one mono recording, in time order) with estimated speakers.

    Returns the segments with ``speaker`` set (a segment whose voice clearly changes
    midway is replaced by its parts) and a summary.  Segments with ``channel`` set come
    from a split stereo file and are left alone: their label is the channel, a fact.
    """
    todo = [i for i, s in enumerate(segments) if s.channel is None and s.text.strip()]
    wins: list[list[tuple[float, float]]] = []
    owner: list[int] = []
    durations: list[float] = []
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    for j, i in enumerate(todo):
        ws = _windows(segments[i].start, segments[i].end)
        lo = ws[0][0]
        piece = read(lo, ws[-1][1])  # one read per segment, windows cut from it
        wins.append(ws)
        for a, b in ws:
            x = int(round((a - lo) * SAMPLE_RATE))
            pending.append(piece[x:x + int(round((b - a) * SAMPLE_RATE))])
            owner.append(j)
            durations.append(len(pending[-1]) / SAMPLE_RATE)
        if len(pending) >= _EMBED_CHUNK:  # embedded as read: a 3-hour call's audio is never all held
            chunks.append(embed(pending))
            pending = []
    if pending:
        chunks.append(embed(pending))
    emb = np.concatenate(chunks) if chunks else np.zeros((0, _HIDDEN), np.float32)
    heard = ~np.isnan(emb).any(axis=1)
    durations_arr = np.array(durations)
    found = cluster_two(emb[heard], durations_arr[heard])
    window_labels = np.full(len(owner), -1)
    window_labels[heard] = found.labels
    owner_arr = np.array(owner, dtype=int)

    per_segment = [window_labels[owner_arr == j] for j in range(len(todo))]
    majority = []
    for j, mine in enumerate(per_segment):
        ok = mine >= 0
        weights = durations_arr[owner_arr == j][ok]
        majority.append(int(np.argmax(np.bincount(mine[ok], weights, minlength=2))) if ok.any() else -1)
    known = [j for j, v in enumerate(majority) if v >= 0]
    position = {i: j for j, i in enumerate(todo)}
    out: list[Segment] = []
    split = 0
    for i, seg in enumerate(segments):
        j = position.get(i)
        if j is None:
            out.append(seg)
            continue
        mine = per_segment[j]
        if found.speakers == 2 and (mine >= 0).all():
            pieces = _pieces(seg, wins[j], mine)
        else:
            label = majority[j]
            if label < 0:  # nothing audible: the voice of the nearest segment that was heard
                near = min(known, key=lambda q: abs(q - j), default=None)
                label = majority[near] if near is not None else 0
            pieces = [(0, label)]
        if len(pieces) > 1:
            out.extend(_cut(seg, pieces))
            split += 1
        else:
            seg.speaker = LABELS[pieces[0][1]]
            out.append(seg)
    return out, Result(found.speakers, found.similarity, int(heard.sum()), split)


def diarize_audio(audio: np.ndarray, segments: list[Segment]) -> tuple[list[Segment], Result]:
    """``assign`` over 16 kHz mono float audio held in memory."""
    return assign(segments, _array_reader(np.asarray(audio, dtype=np.float32)))


def diarize_wav(path: Path, segments: list[Segment]) -> tuple[list[Segment], Result]:
    """``assign`` over a normalised 16 kHz mono wav, read a segment at a time (long calls)."""
    return assign(segments, _wav_reader(Path(path)))


def is_estimated(label: str | None) -> bool:
    """Whether a stored speaker label is a voice estimate (not a recorder's channel)."""
    return bool(label) and label.endswith(ESTIMATED)
