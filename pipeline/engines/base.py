"""Shared result types and post-processing for every engine.

Both engines return the same ``Transcript`` shape so the rest of the pipeline
(and the engine-comparison tests) never need to know which one ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .. import textnorm

# Captions Whisper is known to invent on silence/music (training-data credits).  A
# segment is dropped only when such captions make up most of it, so a collector who
# happens to say "订阅" in a real sentence is still transcribed.
HALLUCINATIONS = (
    "请不吝点赞",
    "订阅",
    "转发",
    "打赏支持",
    "明镜与点点栏目",
    "明镜与点点",
    "字幕由amara.org社区提供",
    "amara.org",
    "字幕由",
    "中文字幕志愿者",
    "字幕志愿者",
    "优优独播剧场",
    "谢谢观看",
    "感谢观看",
    "谢谢大家观看",
    "thanks for watching",
    "thank you for watching",
    "please subscribe",
    "subtitles by",
    "the amara.org community",
)
# Share of a segment's letters that may be left once the captions are removed.
HALLUCINATION_REST = 0.5


# Languages this tool is built for; anything else Whisper guesses on a short or noisy
# start (Korean, Japanese, Welsh...) is treated as uncertain.
ALLOWED_LANGUAGES = ("zh", "en", "yue")
DEFAULT_LANGUAGE = "zh"  # Mandarin first: the founding case
MIN_LANGUAGE_PROBABILITY = 0.5
# Optional prompt that steers Whisper towards Simplified Mandarin; off by default: on the
# realspeech clips it raised CER from 7% to 30% (docs/accuracy.md), OpenCC does the job.
ZH_PROMPT = "以下是普通话的句子。"
SAMPLE_RATE = 16000
# Voice-activity detection pays off on long calls (silence, hold music, hallucinated
# captions) but trims the edges of short clips and cost accuracy there in
# ``make eval-asr``; it runs when a recording is longer than this.
VAD_MIN_SECONDS = 30.0


def choose_language(probs: dict[str, float], allowed: tuple[str, ...] = ALLOWED_LANGUAGES,
                    default: str = DEFAULT_LANGUAGE,
                    min_probability: float = MIN_LANGUAGE_PROBABILITY) -> tuple[str, float]:
    """Pick the spoken language from Whisper's language probabilities.

    Whisper answers a filler like "哦嗯" with English ("Oh.") at 44% and a noisy
    first window with whatever language is least unlikely.  Only the allowed
    languages compete, and an uncertain winner falls back to the default.
    """
    candidates = {k: v for k, v in probs.items() if k in allowed}
    if not candidates:
        return default, 0.0
    best = max(candidates, key=candidates.get)
    if candidates[best] < min_probability:
        return default, candidates[best]
    return best, candidates[best]


class EngineError(RuntimeError):
    """The engine or its model could not be loaded or run."""


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float


@dataclass
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    words: list[Word] = field(default_factory=list)
    channel: int | None = None
    # who spoke, when known per segment rather than per channel: an estimated voice label
    # from the optional mono speaker split (pipeline/diarize.py); None otherwise
    speaker: str | None = None


@dataclass
class Transcript:
    language: str | None
    language_probability: float | None
    segments: list[Segment]


class Engine(Protocol):
    name: str
    model_name: str
    model_sha256: str | None

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript: ...

    def version(self) -> str: ...


def use_vad(audio: np.ndarray, vad: str | bool) -> bool:
    if vad == "auto":
        return len(audio) / SAMPLE_RATE > VAD_MIN_SECONDS
    return bool(vad)


def speech_regions(audio: np.ndarray) -> list[tuple[float, float]]:
    """Speech spans (seconds) from Silero VAD as shipped in faster-whisper.

    Both engines decode only these spans, so they see the same speech.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(audio, VadOptions())
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in spans]


_LOOP = re.compile(r"(.{2,30}?)\1{3,}")


def collapse_loops(text: str) -> str:
    """Break Whisper's repetition loops: a phrase repeated 4+ times in a row is kept twice."""
    return _LOOP.sub(r"\1\1", text)


_SENTENCE_END = tuple("。！？!?.；;，,")
MAX_SEGMENT_SECONDS = 12.0


def split_long_segments(segments: list[Segment], max_seconds: float = MAX_SEGMENT_SECONDS) -> list[Segment]:
    """Cut segments longer than ``max_seconds`` at punctuation between words.

    Batched decoding returns one segment per speech chunk (up to 30 s); a row
    in the evidence index should be a sentence or so, so that its player and
    its search hit point at the moment, not at half a minute.
    """
    out: list[Segment] = []
    for seg in segments:
        if seg.end - seg.start <= max_seconds or len(seg.words) < 2:
            out.append(seg)
            continue
        current: list[Word] = []
        for i, w in enumerate(seg.words):
            current.append(w)
            last = i == len(seg.words) - 1
            long_enough = current[-1].end - current[0].start >= 2.0
            if last or (long_enough and w.text.strip().endswith(_SENTENCE_END)):
                out.append(Segment(start=current[0].start, end=current[-1].end,
                                   text="".join(x.text for x in current).strip(),
                                   avg_logprob=seg.avg_logprob, no_speech_prob=seg.no_speech_prob,
                                   compression_ratio=seg.compression_ratio, words=current,
                                   channel=seg.channel))
                current = []
    return out


def is_hallucination(text: str) -> bool:
    """True when known invented captions make up most of ``text`` (letters only counted)."""
    folded = textnorm.fold(text)
    if not any(h in folded for h in HALLUCINATIONS):
        return False
    rest = folded
    for h in HALLUCINATIONS:  # longest captions are listed before their parts
        rest = rest.replace(h, "")
    letters = lambda t: sum(ch.isalnum() for ch in t)  # noqa: E731
    return letters(rest) <= HALLUCINATION_REST * letters(folded)


def clean_segments(segments: list[Segment], script: str = "simplified") -> list[Segment]:
    """Simplified characters everywhere; drop empty, silent or known-invented segments;
    break repetition loops.

    Conversion is applied to words as well as segment text so that clip
    timestamps and searchable text agree.
    """
    convert = textnorm.to_traditional if script == "traditional" else textnorm.to_simplified
    out = []
    for s in segments:
        text = collapse_loops(convert(s.text).strip())
        if not text or is_hallucination(text):
            continue
        # Whisper's own no-speech rule, applied after the fact: likely silence, low confidence.
        if (s.no_speech_prob or 0) > 0.6 and (s.avg_logprob if s.avg_logprob is not None else 0) < -1.0:
            continue
        s.text = text
        for w in s.words:
            w.text = convert(w.text)
        out.append(s)
    return split_long_segments(out)
