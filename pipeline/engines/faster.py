"""faster-whisper (CTranslate2): the default engine, int8 on CPU, float16 on GPU."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from .. import models
from . import kernels
from .base import (
    SAMPLE_RATE,
    ZH_PROMPT,
    EngineError,
    Segment,
    Transcript,
    Word,
    choose_language,
    clean_segments,
    use_vad,
)

# Language detection is read from the encoder pass that decoding uses (the first window,
# all frames but the last).  faster-whisper detects on a window one frame longer; on a clear
# answer that frame changes nothing, but on a close one it can tip the choice (the "哦嗯"
# filler: English 0.44 on its window, 0.51 on ours).  Below this probability the language is
# detected again on faster-whisper's own window, so choices agree with it where they matter.
CONFIRM_LANGUAGE_BELOW = 0.75


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
        self._option_cache: dict = {}
        self._options_lock = threading.Lock()
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
        kernels.note_loaded()

    def version(self) -> str:
        import faster_whisper

        return faster_whisper.__version__

    def settings(self) -> dict:
        return {"device": self.device, "compute_type": self.compute_type, "vad": self.vad,
                "beam_size": self.beam_size, "word_timestamps": True, "zh_prompt": self.zh_prompt,
                "batch_size_long_audio": self.batch_size, "workers": self.workers,
                "cpu_threads": self.threads,
                "condition_on_previous_text": False,
                # the kernels the words came from (pipeline/engines/kernels.py)
                "kernels": kernels.describe() if self.device == "cpu" else {}}

    def _kwargs(self, language: str | None) -> dict:
        """Decoding settings shared by every path (so the fast path decodes exactly alike)."""
        return dict(
            language=language,
            initial_prompt=ZH_PROMPT if language == "zh" and self.zh_prompt else None,
            beam_size=self.beam_size,
            word_timestamps=True,
            # Conditioning on earlier text is what lets one bad guess loop for
            # minutes; evidence prefers a fresh start per window.
            condition_on_previous_text=False,
        )

    def _decode(self, audio: np.ndarray, language: str | None):
        """One decoding pass of long audio: the batched pipeline over VAD chunks."""
        kwargs = self._kwargs(language)
        if self.batch_size > 1:
            return self._batched().transcribe(audio, batch_size=self.batch_size, **kwargs)
        return self._model.transcribe(audio, vad_filter=True, language_detection_segments=4, **kwargs)

    def _batched(self):
        if self._batched_pipeline is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched_pipeline = BatchedInferencePipeline(model=self._model)
        return self._batched_pipeline

    def _options(self, language: str):
        """faster-whisper's own ``TranscriptionOptions`` for our settings, made once per language.

        ``WhisperModel.transcribe`` builds them (defaults, suppressed tokens) and returns
        them without decoding anything while its generator is not consumed; asking it
        with a tenth of a second of silence keeps every default theirs, not a copy of it.
        A fresh copy is handed out per call: ``generate_segments`` rewrites a field.
        """
        with self._options_lock:
            template = self._option_cache.get(language)
            if template is None:
                _segments, info = self._model.transcribe(np.zeros(SAMPLE_RATE // 10, np.float32),
                                                         **self._kwargs(language))
                template = self._option_cache[language] = info.transcription_options
        return dataclasses.replace(template)

    def _transcribe_windows(self, audio: np.ndarray, language: str | None):
        """Audio without VAD (up to 30 s in the pipeline): one encoder pass serves both
        language detection and decoding of the first window.

        ``WhisperModel.transcribe(language=None)`` runs the encoder once to detect the
        language and again to decode the same window; on a short clip the encoder over the
        padded 30 s window is about two thirds of the work, so that nearly doubled the cost.
        Here the first window is encoded exactly as ``generate_segments`` encodes it (all
        frames but the last, padded: decoding is unchanged, down to the timestamps), language
        is read from that output, and ``generate_segments`` reuses it; later windows (audio
        over 30 s) it encodes itself.  A language changed by ``choose_language`` costs no
        second decode; a close call costs one more encoder pass (``CONFIRM_LANGUAGE_BELOW``).
        """
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        model = self._model
        frames = model.feature_extractor.nb_max_frames
        features = model.feature_extractor(audio)
        encoder_output = model.encode(pad_or_trim(features[:, :min(frames, features.shape[-1] - 1)]))
        probability = None
        if language is None and not model.model.is_multilingual:
            language = "en"
        elif language is None:
            language, probability = _language(model.model.detect_language(encoder_output)[0])
            if probability < CONFIRM_LANGUAGE_BELOW:
                full = model.encode(pad_or_trim(features[:, :frames]))
                language, probability = _language(model.model.detect_language(full)[0])
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                              language=language)
        segments = model.generate_segments(features, tokenizer, self._options(language), False,
                                           encoder_output)
        return segments, language, probability

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        """Transcribe; when the language is not given, Whisper's own detection (from the
        encoder pass that decoding uses too) is checked by ``choose_language``.  Long
        audio goes through VAD and the batched pipeline, where a language changed by
        ``choose_language`` means decoding again."""
        probability = None
        if use_vad(audio, self.vad):
            segments, info = self._decode(audio, language)
            if language is None:
                language, probability = choose_language(dict(info.all_language_probs or []))
                if language != info.language:
                    segments, info = self._decode(audio, language)
        else:
            segments, language, probability = self._transcribe_windows(audio, language)
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


def _language(probs: list[tuple[str, float]]) -> tuple[str, float]:
    """``choose_language`` over CTranslate2's ``("<|zh|>", p)`` pairs."""
    return choose_language({token[2:-2]: p for token, p in probs})


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
