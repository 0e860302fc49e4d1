"""openai-whisper (PyTorch): the design card's engine, fp32 on CPU.

It runs the same base weights as faster-whisper, converted once from the
bundled CTranslate2 model (see ``models.openai_checkpoint``).
"""

from __future__ import annotations

import numpy as np

from .. import models
from .base import (
    SAMPLE_RATE,
    ZH_PROMPT,
    EngineError,
    Segment,
    Transcript,
    Word,
    choose_language,
    clean_segments,
    speech_regions,
    use_vad,
)


class OpenAIWhisperEngine:
    name = "openai-whisper"

    def __init__(self, model: str | None = None, device: str = "auto", threads: int = 0,
                 beam_size: int = 5, vad: str | bool = "auto", zh_prompt: bool = False):
        import torch
        import whisper

        if threads:
            torch.set_num_threads(threads)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.beam_size = beam_size
        self.vad = vad
        self.zh_prompt = zh_prompt
        info = models.resolve(model)
        self.model_name = info.name
        self.model_sha256 = info.sha256
        try:
            if info.ct2_dir is not None:
                ckpt_path = models.openai_checkpoint(info.ct2_dir)
                self._model = whisper.load_model(str(ckpt_path), device=self.device)
                heads = torch.load(ckpt_path, map_location="cpu", weights_only=False).get(
                    "alignment_heads")
                if heads:
                    dims = self._model.dims
                    mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
                    for layer, head in heads:
                        mask[layer, head] = True
                    self._model.register_buffer("alignment_heads", mask.to_sparse(),
                                                persistent=False)
            else:
                self._model = whisper.load_model(info.name, device=self.device)
        except Exception as e:
            raise EngineError(f"openai-whisper could not load model {info.name!r}: {e}") from e

    def version(self) -> str:
        import whisper

        return whisper.__version__

    def settings(self) -> dict:
        return {"device": self.device, "fp16": self.device == "cuda", "beam_size": self.beam_size,
                "word_timestamps": True, "condition_on_previous_text": False, "vad": self.vad,
                "zh_prompt": self.zh_prompt}

    def detect_language(self, audio: np.ndarray, regions: list[tuple[float, float]] | None) -> tuple:
        """Language from the first 30 s of speech, restricted to the allowed languages."""
        import whisper

        if regions:
            pieces = [audio[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)] for a, b in regions]
            audio = np.concatenate(pieces)[: 30 * SAMPLE_RATE]
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), self._model.dims.n_mels)
        _tokens, probs = self._model.detect_language(mel.to(self._model.device))
        return choose_language(dict(probs))

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        regions = speech_regions(audio) if use_vad(audio, self.vad) else None
        if regions is not None and not regions:
            return Transcript(language, None, [])  # no speech at all: nothing to decode
        probability = None
        if language is None:
            language, probability = self.detect_language(audio, regions)
        clips = ",".join(f"{a:.2f},{b:.2f}" for a, b in regions) if regions else "0"
        result = self._model.transcribe(
            audio,
            language=language,
            initial_prompt=ZH_PROMPT if language == "zh" and self.zh_prompt else None,
            clip_timestamps=clips,
            word_timestamps=True,
            fp16=self.device == "cuda",
            beam_size=self.beam_size,
            best_of=self.beam_size,
            condition_on_previous_text=False,
            verbose=None,
        )
        out = [
            Segment(
                start=round(float(s["start"]), 3),
                end=round(float(s["end"]), 3),
                text=s["text"],
                avg_logprob=float(s["avg_logprob"]),
                no_speech_prob=float(s["no_speech_prob"]),
                compression_ratio=float(s["compression_ratio"]),
                words=[Word(round(float(w["start"]), 3), round(float(w["end"]), 3), w["word"],
                            float(w["probability"])) for w in s.get("words", [])],
            )
            for s in result["segments"]
        ]
        return Transcript(language, probability, clean_segments(out))
