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


def test_choose_language_falls_back_on_uncertain_or_foreign_guesses():
    from pipeline.engines.base import choose_language

    assert choose_language({"en": 0.93, "zh": 0.01}) == ("en", 0.93)
    assert choose_language({"en": 0.439, "zh": 0.038, "cy": 0.2})[0] == "zh"  # filler "哦嗯"
    assert choose_language({"ko": 0.9, "zh": 0.05})[0] == "zh"
    assert choose_language({"yue": 0.7, "zh": 0.2})[0] == "yue"  # Cantonese stays Cantonese


def test_clean_segments_loops_captions_and_long_segments():
    from pipeline.engines.base import clean_segments

    words = [Word(i * 1.0, i * 1.0 + 0.9, t, 0.9) for i, t in enumerate(
        ["你好，", "我是", "催收", "专员。", "你的", "借款", "已经", "逾期", "三十天", "了。",
         "今天", "必须", "还。", "不然", "上门。"])]
    segs = [Segment(0.0, 15.0, "".join(w.text for w in words), -0.2, 0.01, 1.2, words),
            Segment(15.0, 20.0, "請不吝點贊訂閱轉發打賞支持明鏡與點點欄目", -0.5, 0.1, 1.0),
            Segment(20.0, 25.0, "还钱还钱还钱还钱还钱还钱", -0.3, 0.1, 3.0),
            Segment(25.0, 26.0, "嗯", -1.5, 0.9, 1.0)]
    out = clean_segments(segs)
    assert all(s.end - s.start <= 12.0 for s in out)
    assert "".join(s.text for s in out[:-1]).startswith("你好，我是催收专员。")
    assert out[-1].text == "还钱还钱"
    assert not any("明镜" in s.text for s in out)
