"""The systems ``eval-asr`` compares, all on the bundled Whisper base weights.

The pipeline with either engine, exactly as ``call-evidence transcribe`` runs it,
and the two bare libraries with their default settings.  Each loads its model
once (``load``); the engines are imported only then.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .asr_clips import EvalError


@dataclass
class Hypothesis:
    text: str
    language: str | None = None


class System:
    """One way of transcribing: loads its model once, then ``transcribe(path)``."""

    name = ""
    description = ""

    def load(self) -> None: ...

    def transcribe(self, path: Path) -> Hypothesis:
        raise NotImplementedError

    def versions(self) -> dict:
        return {}

    def close(self) -> None:
        pass


class PipelineSystem(System):
    def __init__(self, engine_name: str, engine=None, cache_dir: Path | None = None):
        self.engine_name = engine_name
        self.name = "pipeline-" + engine_name.split("-")[0]
        self.description = (f"flow.transcribe_path(load_engine({engine_name!r}), path, "
                            "language=None)")
        self._engine = engine
        self.cache_dir = cache_dir

    def load(self) -> None:
        if self._engine is None:
            from ..engines import load_engine

            self._engine = load_engine(self.engine_name)

    def transcribe(self, path: Path) -> Hypothesis:
        from ..flow import transcribe_path

        t = transcribe_path(self._engine, path, language=None, cache_dir=self.cache_dir)
        return Hypothesis(" ".join(s.text for s in t.segments), t.language)

    def versions(self) -> dict:
        v = {"engine": self.engine_name}
        if self._engine is not None:
            v["engine_version"] = self._engine.version()
            v["model"] = self._engine.model_name
            v["model_sha256"] = self._engine.model_sha256
            if hasattr(self._engine, "settings"):
                v["settings"] = self._engine.settings()
        return v

    def close(self) -> None:
        self._engine = None


class BareFasterWhisper(System):
    name = "bare-faster"
    description = ('faster_whisper.WhisperModel(bundled_ct2_dir(), device="cpu", '
                   'compute_type="int8").transcribe(path)  (library defaults)')

    def __init__(self, model=None):
        self._model = model

    def load(self) -> None:
        if self._model is None:
            from faster_whisper import WhisperModel

            from .. import models

            self._model = WhisperModel(str(models.bundled_ct2_dir()), device="cpu", compute_type="int8")

    def transcribe(self, path: Path) -> Hypothesis:
        segments, info = self._model.transcribe(str(path))
        return Hypothesis("".join(s.text for s in segments).strip(), info.language)

    def versions(self) -> dict:
        import faster_whisper

        return {"faster_whisper": faster_whisper.__version__}

    def close(self) -> None:
        self._model = None


class BareOpenAIWhisper(System):
    name = "bare-openai"
    description = ('whisper.load_model(openai_checkpoint(bundled_ct2_dir()), device="cpu")'
                   ".transcribe(path, fp16=False)  (library defaults)")

    def __init__(self, model=None):
        self._model = model

    def load(self) -> None:
        if self._model is None:
            import whisper

            from .. import models

            ckpt = models.openai_checkpoint(models.bundled_ct2_dir())
            self._model = whisper.load_model(str(ckpt), device="cpu")

    def transcribe(self, path: Path) -> Hypothesis:
        result = self._model.transcribe(str(path), fp16=False)
        return Hypothesis(str(result.get("text", "")).strip(), result.get("language"))

    def versions(self) -> dict:
        import whisper

        return {"openai_whisper": whisper.__version__}

    def close(self) -> None:
        self._model = None


SYSTEMS = ("pipeline-faster", "pipeline-openai", "bare-faster", "bare-openai")
BARE = ("bare-faster", "bare-openai")
PIPELINES = ("pipeline-faster", "pipeline-openai")


def make_system(name: str, cache_dir: Path | None = None) -> System:
    if name == "pipeline-faster":
        return PipelineSystem("faster-whisper", cache_dir=cache_dir)
    if name == "pipeline-openai":
        return PipelineSystem("openai-whisper", cache_dir=cache_dir)
    if name == "bare-faster":
        return BareFasterWhisper()
    if name == "bare-openai":
        return BareOpenAIWhisper()
    raise EvalError(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}")

