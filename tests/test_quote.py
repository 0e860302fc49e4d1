"""Quotes start and end at word boundaries (pipeline/detect/quote.py).

The unit tests cover typed text and word lists in both languages; the slow test
checks every quote the real pipeline stored for the audio fixtures (real Whisper
words, Mandarin and English) and every quote of text messages scanned in both.
"""

from __future__ import annotations

import re
import sqlite3

import pytest

from pipeline.detect import Detector, TimedText, TimedWord
from pipeline.detect.quote import ELLIPSIS, QUOTE_MAX_CHARS, quote_around, strip_ellipsis
from pipeline.textnorm import has_cjk
from pipeline.textscan import read_messages, scan

CLAUSE = "，、；：,;:。！？!?.…\"'“”（）()"


@pytest.fixture(scope="module")
def detector():
    return Detector()


def whole_words_of(quote: str, words: list[str]) -> bool:
    """The quote (without its "…") is a run of consecutive whole words of ``words``."""
    core = re.sub(r"\s+", "", strip_ellipsis(quote))
    joined = [re.sub(r"\s+", "", w) for w in words]
    for i in range(len(joined)):
        acc = ""
        for j in range(i, len(joined)):
            acc += joined[j]
            if acc == core:
                return True
            if not core.startswith(acc):
                break
    return False


def at_boundaries(quote: str, text: str) -> bool:
    """Typed text (no word list): the quote sits in ``text`` with no letter or digit
    glued to either end; a Chinese quote ends at a clause mark or the text's edge."""
    core = strip_ellipsis(quote)
    at = text.find(core)
    if at < 0:
        return False
    before = text[at - 1] if at > 0 else " "
    after = text[at + len(core)] if at + len(core) < len(text) else " "
    starts_clean = before in " " + CLAUSE or core[:1] in CLAUSE
    ends_clean = after in " " + CLAUSE or core[-1:] in CLAUSE
    if has_cjk(before + core[:1]) and not starts_clean:
        return False
    if has_cjk(core[-1:] + after) and not ends_clean:
        return False
    return not (before.isalnum() and core[:1].isalnum()) and not (
        core[-1:].isalnum() and after.isalnum())


@pytest.mark.parametrize("text", [
    "Okay, we will call your employer and tell your boss that you do not pay. Goodbye.",
    "You are a worthless deadbeat.",
    "Listen. You will be arrested and go to jail, do you understand?",
    '<script>alert("x")</script> 你这个老赖，真不要脸。',
    "今天再不还钱，我们明天就上门找你。然后我们再说别的事情。",
])
def test_typed_text_quotes_whole_sentences(detector, text):
    found = [f for f in detector.detect_one(TimedText(text)) if f.category != "identification"]
    assert found
    for f in found:
        assert at_boundaries(f.quote, text), f.quote
        assert f.matched_text.lower() in f.quote.lower()
        # the whole sentence holding the match, never a 12-character window
        assert f.quote.endswith(("。", ".", "?", "！")) or f.quote.endswith(ELLIPSIS)


def test_a_long_sentence_is_shortened_to_whole_words_with_an_ellipsis(detector):
    text = ("If you do not pay today, we will call your employer and your mother and your "
            "neighbours and everybody at your church, and we will keep calling them every single "
            "day until this debt of yours is paid in full, do you understand me?")
    assert len(text) > QUOTE_MAX_CHARS
    (f, *_) = [f for f in detector.detect_one(TimedText(text)) if f.category == "third_party"]
    assert len(f.quote) <= QUOTE_MAX_CHARS + 2 and ELLIPSIS in f.quote
    assert "call your employer" in f.quote and at_boundaries(f.quote, text)


def test_a_long_chinese_sentence_is_cut_at_clause_marks():
    text = ("我跟你说清楚，" * 8) + "明天我们就上门找你" + ("，你自己看着办吧" * 8) + "。"
    start = text.index("上门")
    q = quote_around(text, start, start + 2)
    assert "上门" in q and q.startswith(ELLIPSIS) and q.endswith(ELLIPSIS)
    core = strip_ellipsis(q)
    at = text.index(core)
    assert text[at - 1] in CLAUSE and text[at + len(core)] in CLAUSE  # whole clauses


def test_word_list_quotes_never_cut_a_word(detector):
    """With Whisper's words (English and Chinese) the quote is whole words, and with a
    word list a long Chinese sentence is cut only between words."""
    en = [" Okay,", " we", " will", " call", " your", " employer", " and", " tell", " your",
          " boss.", " Bye."]
    zh = ["我们", "明天", "就", "上门", "找你", "，", "你", "这个", "老赖", "。"]
    for words in (en, zh):
        u = TimedText("".join(words), 0, len(words),
                      [TimedWord(i, i + 1, w, 0.9) for i, w in enumerate(words)])
        found = detector.detect_one(u)
        assert found
        for f in found:
            assert whole_words_of(f.quote, words), f.quote
    long_zh = ["你", "这个", "老赖"] + ["天天", "不接", "电话"] * 20 + ["。"]
    source = "".join(long_zh)
    spans, pos = [], 0
    for w in long_zh:
        spans.append((pos, pos + len(w)))
        pos += len(w)
    q = quote_around(source, 3, 5, spans)
    assert q.endswith(ELLIPSIS) and whole_words_of(q, long_zh)


@pytest.mark.slow
def test_stored_quotes_of_the_fixtures_are_whole_words(e2e):
    """Every quote the pipeline stored (real Whisper transcripts, both languages) is a run
    of whole words of its segment, as Whisper gave them."""
    c = sqlite3.connect(e2e.db)
    rows = c.execute("select f.id, f.quote, f.segment_id, f.category, r.language from findings f"
                     " join recordings r on r.id = f.recording_id").fetchall()
    languages = set()
    checked = 0
    for fid, quote, seg_id, category, language in rows:
        if category == "identity":  # the call's opening: whole segments, checked below
            texts = [t for (t,) in c.execute(
                "select text from segments where recording_id = (select recording_id from findings"
                " where id = ?) order by idx", [fid])]
            assert whole_words_of(quote, [t + " " for t in texts]), quote
            continue
        words = [w for (w,) in c.execute("select text from words where segment_id = ? order by idx",
                                         [seg_id])]
        assert words, fid
        assert whole_words_of(quote, words), (fid, quote, words)
        languages.add(language)
        checked += 1
    assert {"zh", "en"} <= languages and checked >= 8


@pytest.mark.parametrize("lines", [
    "号码,时间,内容\n10690000,2026-11-02 23:10:00,<script>x</script> 你这个老赖，再不还钱就爆你通讯录。\n",
    "number,date,text\n5551234,2026-11-02 23:10:00,"
    "\"Hey, you worthless deadbeat, we will call your employer tomorrow.\"\n",
])
def test_message_quotes_are_whole_words(detector, lines):
    messages = read_messages(lines)
    found = scan(messages, detector)
    assert found
    for f in found:
        assert at_boundaries(f["quote"], f["message"]), f["quote"]
