"""faster-whisper (CTranslate2): the default engine, int8 on CPU, float16 on GPU."""

from __future__ import annotations

import numpy as np

from .. import models
from .base import EngineError, Segment, Transcript, Word, clean_segments


def pick_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:
        return "cpu"


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, model: str | None = None, device: str = "auto", threads: int = 0,
                 compute_type: str | None = None, vad: bool = True, beam_size: int = 5):
        from faster_whisper import WhisperModel

        info = models.resolve(model)
        self.model_name = info.name
        self.model_sha256 = info.sha256
        self.device = pick_device(device)
        self.compute_type = compute_type or ("float16" if self.device == "cuda" else "int8")
        self.vad = vad
        self.beam_size = beam_size
        try:
            self._model = WhisperModel(
                str(info.ct2_dir) if info.ct2_dir else info.name,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=threads,
                local_files_only=info.ct2_dir is None and _offline(),
            )
        except Exception as e:
            raise EngineError(f"faster-whisper could not load model {info.name!r}: {e}") from e

    def version(self) -> str:
        import faster_whisper

        return faster_whisper.__version__

    def settings(self) -> dict:
        return {"device": self.device, "compute_type": self.compute_type, "vad": self.vad,
                "beam_size": self.beam_size, "word_timestamps": True,
                "condition_on_previous_text": False}

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=self.vad,
            vad_parameters={"min_silence_duration_ms": 500},
            # Conditioning on earlier text is what lets one bad guess loop for
            # minutes; evidence prefers a fresh start per window.
            condition_on_previous_text=False,
        )
        out = [
            Segment(
                start=round(s.start, 3),
                end=round(s.end, 3),
                text=s.text,
                avg_logprob=s.avg_logprob,
                no_speech_prob=s.no_speech_prob,
                compression_ratio=s.compression_ratio,
                words=[Word(round(w.start, 3), round(w.end, 3), w.word, w.probability)
                       for w in (s.words or [])],
            )
            for s in segments
        ]
        return Transcript(info.language, info.language_probability, clean_segments(out))


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
