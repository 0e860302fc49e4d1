"""faster-whisper (CTranslate2): the default engine, int8 on CPU, float16 on GPU."""

from __future__ import annotations

import numpy as np

from .. import models
from .base import ZH_PROMPT, EngineError, Segment, Transcript, Word, choose_language, clean_segments, use_vad


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
                 compute_type: str | None = None, vad: str | bool = "auto", beam_size: int = 5,
                 zh_prompt: bool = False, batch_size: int = 8, workers: int = 1):
        from faster_whisper import WhisperModel

        info = models.resolve(model)
        self.model_name = info.name
        self.model_sha256 = info.sha256
        self.device = pick_device(device)
        self.compute_type = compute_type or ("float16" if self.device == "cuda" else "int8")
        self.vad = vad
        self.beam_size = beam_size
        self.zh_prompt = zh_prompt
        self.batch_size = batch_size
        self.workers = max(1, workers)
        self.threads = threads
        self._batched_pipeline = None
        try:
            self._model = WhisperModel(
                str(info.ct2_dir) if info.ct2_dir else info.name,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=threads,
                num_workers=max(1, workers),
                local_files_only=info.ct2_dir is None and _offline(),
            )
        except Exception as e:
            raise EngineError(f"faster-whisper could not load model {info.name!r}: {e}") from e

    def version(self) -> str:
        import faster_whisper

        return faster_whisper.__version__

    def settings(self) -> dict:
        return {"device": self.device, "compute_type": self.compute_type, "vad": self.vad,
                "beam_size": self.beam_size, "word_timestamps": True, "zh_prompt": self.zh_prompt,
                "batch_size_long_audio": self.batch_size, "workers": self.workers,
                "cpu_threads": self.threads,
                "condition_on_previous_text": False}

    def _decode(self, audio: np.ndarray, language: str | None):
        """One decoding pass; long audio goes through the batched pipeline (VAD chunks)."""
        long = use_vad(audio, self.vad)
        kwargs = dict(
            language=language,
            initial_prompt=ZH_PROMPT if language == "zh" and self.zh_prompt else None,
            beam_size=self.beam_size,
            word_timestamps=True,
            # Conditioning on earlier text is what lets one bad guess loop for
            # minutes; evidence prefers a fresh start per window.
            condition_on_previous_text=False,
        )
        if long and self.batch_size > 1:
            return self._batched().transcribe(audio, batch_size=self.batch_size, **kwargs)
        return self._model.transcribe(audio, vad_filter=long,
                                      language_detection_segments=4 if long else 1, **kwargs)

    def _batched(self):
        if self._batched_pipeline is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched_pipeline = BatchedInferencePipeline(model=self._model)
        return self._batched_pipeline

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        """Transcribe; when the language is not given, Whisper's own detection (made in
        the same pass, no extra encoder run) is checked by ``choose_language`` and the
        audio is decoded again only when that changes the answer (filler, noise)."""
        probability = None
        segments, info = self._decode(audio, language)
        if language is None:
            language, probability = choose_language(dict(info.all_language_probs or []))
            if language != info.language:
                segments, info = self._decode(audio, language)
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
        out = clean_segments(out)
        return Transcript(language if out else None, probability, out)


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
