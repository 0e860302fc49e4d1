"""Property-based tests: the file-name parser, the text normaliser and the rule matcher
never crash on any input, and normalisation is idempotent."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from functools import lru_cache

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.calls.callmeta import CallMeta, parse_filename
from pipeline.detect import Detector, TimedText, TimedWord
from pipeline.textnorm import fold, search_index_text, search_query, sound_key, to_simplified

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOWER = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like what flows through the pipeline: Chinese (simplified and
# traditional), ASCII, full-width forms, punctuation, digits, emoji, and anything else.
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
FULLWIDTH = st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E)
PUNCT = st.sampled_from(list("，。？！、：；“”‘’（）《》…—~-_ .,?!\"'()[]{}*^$+|\\/\t\n"))
texts = st.one_of(
    st.text(),
    st.text(st.one_of(CJK, FULLWIDTH, PUNCT, st.characters(max_codepoint=0x7F)), max_size=80),
    st.text(st.one_of(CJK, st.sampled_from(list("老赖上门坐牢爆通讯录家人单位催收不会吗"))), max_size=40),
)


# ------------------------------------------------------------------ callmeta
@FAST
@given(st.text())
@example("13812345678_20261302223015.amr")  # month 13
@example("+_.m4a")
@example("录音 2026-11-02 22:30:15 13812345678.m4a")
def test_parse_filename_never_crashes_and_returns_what_is_in_the_name(name):
    meta = parse_filename(name)
    assert isinstance(meta, CallMeta)
    if meta.phone_number is not None:
        assert meta.phone_number.lstrip("+").isdigit() and meta.number_as_written in name
    if meta.call_time is not None:
        datetime.fromisoformat(meta.call_time)


@FAST
@given(phone=st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
       when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
       style=st.sampled_from(["{p}_{d:%Y%m%d%H%M%S}", "通话录音_{p}_{d:%Y%m%d_%H%M%S}",
                              "Call recording {p}_{d:%y%m%d_%H%M%S}", "{p}_{d:%Y-%m-%d_%H-%M-%S}",
                              "张三({p})_{d:%Y%m%d%H%M%S}"]),
       ext=st.sampled_from([".amr", ".m4a", ".mp3", ".3gp", ".ogg", ""]))
def test_parse_filename_round_trips_the_recorder_styles(phone, when, style, ext):
    when = when.replace(microsecond=0)
    meta = parse_filename(style.format(p=phone, d=when) + ext)
    assert (meta.phone_number, meta.number_as_written) == ("+86" + phone, phone)
    assert meta.call_time == when.isoformat(timespec="seconds")


def test_samsung_two_digit_year_69_is_2069():
    assert parse_filename("Call recording 13912345678_690101_000000.m4a").call_time == (
        "2069-01-01T00:00:00")


# ------------------------------------------------------------------ textnorm
@FAST
@given(texts)
def test_to_simplified_is_idempotent(text):
    once = to_simplified(text)
    assert isinstance(once, str)
    assert to_simplified(once) == once


@FAST
@given(texts)
def test_fold_is_idempotent(text):
    once = fold(text)
    assert fold(once) == once


@FAST
@example("薴")  # OpenCC maps it in two steps (薴 -> 苧 -> 苎): found by hypothesis in CI
@given(texts)
def test_search_index_text_is_idempotent_and_spaces_every_chinese_character(text):
    once = search_index_text(text)
    assert search_index_text(once) == once
    assert "  " not in once and once == once.strip()


@lru_cache(maxsize=1)
def _fts() -> sqlite3.Connection:
    c = sqlite3.connect(":memory:", check_same_thread=False)
    c.execute("create virtual table t using fts5(x)")
    c.execute("insert into t values (?)", [search_index_text("你这个老赖 call your employer 上门")])
    return c


@FAST
@given(texts)
@example('"')
@example("AND OR NOT ( ) * ^ : NEAR")
@example("老赖")
def test_search_query_is_always_a_valid_fts5_query(text):
    q = search_query(text)
    _fts().execute("select count(*) from t where t match ?", [q]).fetchone()  # never raises
    if text.strip() == "老赖":
        assert _fts().execute("select count(*) from t where t match ?", [q]).fetchone()[0] == 1


def test_search_query_with_a_nul_character():
    _fts().execute("select count(*) from t where t match ?", [search_query("a\x00b")]).fetchone()


@FAST
@given(texts)
def test_sound_key_keeps_length_and_is_idempotent(text):
    key = sound_key(text)
    assert len(key) == len(text)
    assert sound_key(key) == key


# ------------------------------------------------------------------ the rule matcher
@lru_cache(maxsize=1)
def _detector() -> Detector:
    return Detector()


@SLOWER
@given(texts, st.sampled_from([None, "zh", "en", "yue"]))
def test_detector_never_crashes_on_any_text(text, language):
    for f in _detector().detect_one(TimedText(text, 0.0, 1.0, language=language)):
        assert f.matched_text and f.start == 0.0 and f.end == 1.0


@SLOWER
@given(st.lists(st.tuples(texts, st.floats(0, 100, allow_nan=False),
                          st.floats(0, 5, allow_nan=False),
                          st.one_of(st.none(), st.floats(0, 1, allow_nan=False))), max_size=8))
def test_detector_times_come_from_the_words(words):
    t, timed = 0.0, []
    for text, gap, length, prob in words:
        timed.append(TimedWord(t + gap, t + gap + length, text, prob))
        t += gap + length
    u = TimedText("".join(w.text for w in timed), 0.0, t, words=timed)
    for f in _detector().detect_one(u):
        assert f.start is not None and f.end is not None and f.start <= f.end
        if f.confidence is not None:
            assert 0 <= f.confidence <= 1
