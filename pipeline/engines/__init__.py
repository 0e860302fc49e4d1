"""Whisper engines behind one interface (``Engine.transcribe(audio) -> Transcript``).

``load_engine`` imports an engine's heavy library only when that engine is
asked for, so detection, storage and the browser never pay for torch.
"""

from __future__ import annotations

from .base import Engine, EngineError, Segment, Transcript, Word

ENGINES = ("faster-whisper", "openai-whisper")


def load_engine(name: str, model: str | None = None, device: str = "auto", threads: int = 0,
                workers: int = 1) -> Engine:
    """Load ``name`` once with ``model`` (``None``/``"base"``: the bundled base model).

    ``workers`` > 1 lets that many threads transcribe at once (faster-whisper only);
    ``threads`` is then the CPU threads each of them uses.
    """
    if name == "faster-whisper":
        from .faster import FasterWhisperEngine

        return FasterWhisperEngine(model, device=device, threads=threads, workers=workers)
    if name == "openai-whisper":
        from .openai_whisper import OpenAIWhisperEngine

        return OpenAIWhisperEngine(model, device=device, threads=threads)
    raise EngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "EngineError", "Segment", "Transcript", "Word", "load_engine"]
