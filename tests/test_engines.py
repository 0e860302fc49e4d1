"""Both engines behind one interface, on the same fixture and the same weights."""

import pytest

from pipeline.engines import EngineError, Segment, Transcript, Word, load_engine
from pipeline.normalise import load_wav, normalise

from .conftest import FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    src = FIXTURES / "audio" / "zh_threat_harm.flac"
    norm = normalise(src, "fixture-flac", tmp_path_factory.mktemp("cache"))
    return load_wav(norm.mix)


def _check_shape(t: Transcript):
    assert isinstance(t, Transcript) and t.language == "zh"
    assert t.segments and all(isinstance(s, Segment) for s in t.segments)
    for s in t.segments:
        assert s.text and 0 <= s.start < s.end
        assert s.words and all(isinstance(w, Word) for w in s.words)
        assert all(s.start - 0.5 <= w.start <= w.end <= s.end + 0.5 for w in s.words)
        assert all(0 <= w.probability <= 1 for w in s.words)
        assert "".join(w.text for w in s.words).strip() == s.text


def test_both_engines_give_the_same_shape(audio, fw_engine):
    ow = load_engine("openai-whisper")
    a, b = fw_engine.transcribe(audio), ow.transcribe(audio)
    _check_shape(a)
    _check_shape(b)
    assert fw_engine.model_sha256 == ow.model_sha256
    text_a = "".join(s.text for s in a.segments)
    text_b = "".join(s.text for s in b.segments)
    for word in ("小心", "家人", "知道"):
        assert word in text_a and word in text_b, (text_a, text_b)
    assert abs(a.segments[0].start - b.segments[0].start) < 1.0


def test_unknown_engine_is_a_clear_error():
    with pytest.raises(EngineError, match="unknown engine"):
        load_engine("whisper.cpp")
