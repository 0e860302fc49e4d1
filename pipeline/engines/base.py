"""Shared result types and post-processing for every engine.

Both engines return the same ``Transcript`` shape so the rest of the pipeline
(and the engine-comparison tests) never need to know which one ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .. import textnorm

# Captions Whisper is known to invent on silence/music (training-data credits).
HALLUCINATIONS = (
    "请不吝点赞",
    "订阅",
    "字幕由",
    "字幕志愿者",
    "明镜与点点",
    "谢谢观看",
    "感谢观看",
    "thanks for watching",
    "thank you for watching",
    "please subscribe",
    "subtitles by",
)


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


def is_hallucination(text: str) -> bool:
    folded = textnorm.fold(text)
    return any(h in folded for h in HALLUCINATIONS)


def clean_segments(segments: list[Segment], script: str = "simplified") -> list[Segment]:
    """Simplified characters everywhere, and drop empty or known-invented segments.

    Conversion is applied to words as well as segment text so that clip
    timestamps and searchable text agree.
    """
    convert = textnorm.to_traditional if script == "traditional" else textnorm.to_simplified
    out = []
    for s in segments:
        text = convert(s.text).strip()
        if not text or is_hallucination(text):
            continue
        s.text = text
        for w in s.words:
            w.text = convert(w.text)
        out.append(s)
    return out
