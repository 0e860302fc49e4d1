"""Both engines behind one interface, on the same fixture and the same weights."""

import pytest

from pipeline.engines import EngineError, Segment, Transcript, Word, load_engine
from pipeline.engines.base import clean_segments
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


def _count_encodes(monkeypatch, engine) -> list:
    """Wrap the engine's encoder so a test can count its passes (the costly part on CPU)."""
    calls: list = []
    encode = engine._model.encode

    def counted(features):
        calls.append(features.shape)
        return encode(features)

    monkeypatch.setattr(engine._model, "encode", counted)
    return calls


def _as_tuples(t: Transcript) -> list:
    return [(s.start, s.end, s.text, [(w.start, w.end, w.text) for w in s.words]) for s in t.segments]


def test_short_audio_is_encoded_once_and_decodes_as_faster_whisper_does(audio, fw_engine, monkeypatch):
    """Detection and decoding share one encoder pass, and the result is what faster-whisper's
    own ``transcribe`` gives for the detected language (text and timestamps alike)."""
    model = fw_engine._model
    lang, _p, _all = model.detect_language(audio)
    segs, _info = model.transcribe(audio, **fw_engine._kwargs(lang))
    calls = _count_encodes(monkeypatch, fw_engine)
    got = fw_engine.transcribe(audio)
    assert len(calls) == 1, calls
    assert got.language == lang == "zh" and got.language_probability > 0.9
    library = clean_segments([Segment(round(s.start, 3), round(s.end, 3), s.text, s.avg_logprob,
                                      s.no_speech_prob, s.compression_ratio,
                                      [Word(round(w.start, 3), round(w.end, 3), w.word, w.probability)
                                       for w in s.words]) for s in segs])
    assert _as_tuples(got) == _as_tuples(Transcript("zh", None, library))


def test_given_language_is_not_detected(audio, fw_engine, monkeypatch):
    calls = _count_encodes(monkeypatch, fw_engine)
    t = fw_engine.transcribe(audio, language="zh")
    assert len(calls) == 1 and t.language == "zh" and t.language_probability is None


def test_close_language_call_is_confirmed_on_faster_whisper_window(audio, fw_engine, monkeypatch):
    """Below ``CONFIRM_LANGUAGE_BELOW`` the language is read again from the window that
    faster-whisper's own detection uses (one more encoder pass, never a second decode)."""
    from pipeline.engines import faster

    model = fw_engine._model
    _lang, _p, probs = model.detect_language(audio)
    monkeypatch.setattr(faster, "CONFIRM_LANGUAGE_BELOW", 1.01)
    calls = _count_encodes(monkeypatch, fw_engine)
    t = fw_engine.transcribe(audio)
    assert len(calls) == 2
    assert t.language_probability == pytest.approx(dict(probs)["zh"])


def test_options_are_faster_whisper_defaults_copied_per_call(fw_engine):
    """The options template comes from faster-whisper itself; each call gets its own copy,
    since ``generate_segments`` rewrites ``clip_timestamps`` in place."""
    a, b = fw_engine._options("zh"), fw_engine._options("zh")
    assert a is not b and a == b
    assert (a.beam_size, a.word_timestamps, a.condition_on_previous_text) == (5, True, False)
    assert a.temperatures == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    a.clip_timestamps = [0.0]
    assert fw_engine._options("zh").clip_timestamps == "0"


def test_hallucinated_captions_are_dropped_but_real_sentences_kept():
    from pipeline.engines.base import is_hallucination

    for invented in ("请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", "字幕由Amara.org社区提供",
                     "Thanks for watching!", "謝謝觀看", "中文字幕志愿者 李宗盛"):
        assert is_hallucination(invented), invented
    for said in ("你订阅的那个会员服务也欠费了，今天必须还钱", "谢谢观看？你还有心思看电视，欠钱不还",
                 "Please subscribe to our payment plan or we will call your employer"):
        assert not is_hallucination(said), said
