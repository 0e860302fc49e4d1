"""Whole calls and message threads through the real detector (rules + the shipped meaning
layer): the abusive line of a collection call carries no collection word of its own and is
still flagged (a finding or a listen suggestion), the same line alone or in small talk is
not, and a lawful call with the same collection words stays quiet (issue 22).

Written text, not evidence: these check how a conversation is judged, not how well.
"""

from __future__ import annotations

import pytest

from pipeline.detect import Detector, TimedText
from pipeline.textscan import read_messages, scan

ABUSE = {"insult", "threat_harm", "false_legal", "third_party", "visit_shaming", "money_demand"}

# (language, opening lines of a collection call, the abusive line with no collection word)
CALLS = [
    ("zh", ["您好，我是某某金融的，关于您的借款已经逾期三天了。", "今天之内必须把欠款还上。"],
     "你等着吧，今晚就有人去找你，看你能躲到哪里去。"),
    ("en", ["Hi, this is Mark from ABC Recovery calling about your past due loan balance.",
            "We need the full payment from you today."],
     "Someone will be waiting outside for you tonight, think about that."),
]
LAWFUL = {
    "zh": ["您好，我是某某金融的，关于您的借款已经逾期三天了。", "请您今天之内处理还款，以免产生更多罚息。",
           "如果一次还清有困难，可以申请分期还款。", "有任何疑问请拨打我们的客服电话。"],
    "en": ["Hi, this is Mark from ABC Recovery calling about your past due loan balance.",
           "We need the full payment from you today.",
           "If paying in full is hard right now, we can set up a payment plan.",
           "Please call us back at the number on your statement if you have any questions."],
}
SMALL_TALK = {"zh": ["今天天气不错。", "周末一起去爬山吧。"],
              "en": ["The weather is lovely today.", "Shall we go hiking this weekend?"]}


@pytest.fixture(scope="module")
def detector(meaning_detector) -> Detector:
    return meaning_detector


def flagged(findings, ref) -> set[str]:
    return {f.tier for f in findings if f.ref == ref and f.category in ABUSE}


def call(lines: list[str], lang: str) -> list[TimedText]:
    return [TimedText(t, start=float(i), end=float(i) + 0.9, language=lang, ref=i)
            for i, t in enumerate(lines)]


@pytest.mark.parametrize("lang,opening,line", CALLS)
def test_the_abusive_line_with_no_collection_word_is_flagged_in_a_collection_call(detector, lang, opening,
                                                                                  line):
    assert not Detector(meaning=None).rule_findings(TimedText(line, language=lang))  # no rule words it
    in_call = detector.detect(call([*opening, line], lang))
    assert flagged(in_call, len(opening)), "judged with its call, the line is flagged"
    alone = detector.detect(call([line], lang))
    assert not flagged(alone, 0), "alone, with no collection talk around it, it is not judged"
    chat = detector.detect(call([*SMALL_TALK[lang], line], lang))
    assert not flagged(chat, 2), "in small talk it is not judged either"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_lawful_call_with_the_same_collection_words_stays_quiet(detector, lang):
    found = [f for f in detector.detect(call(LAWFUL[lang], lang)) if f.category in ABUSE]
    # nothing reaches a report or the counts
    assert not [(f.ref, f.category) for f in found if f.tier == "finding"]
    # and the queue asks for a listen to at most one line of it: the listen bar is set so that
    # about 1 lawful sentence in 20 may be queued (issue 22's cap, 50 per 1,000; measured on
    # real lawful talk in docs/detection.md), and a consequence stated lawfully ("以免产生更多
    # 罚息") is the kind a caseworker is asked to hear once
    assert len({f.ref for f in found}) <= 1
    abusive = [f for f in detector.detect(call([*CALLS[0 if lang == "zh" else 1][1],
                                                CALLS[0 if lang == "zh" else 1][2]], lang))
               if f.category in ABUSE]
    assert len({f.ref for f in abusive}) > len({f.ref for f in found})


def test_a_message_thread_is_judged_as_a_whole_and_only_with_its_own_number(detector):
    line = CALLS[0][2]
    messages = read_messages(
        "date,number,text\n"
        f"2026-11-05 08:00,13912345678,{CALLS[0][1][0]}\n"
        f"2026-11-05 08:05,13912345678,{line}\n"
        f"2026-11-05 09:00,13700000000,{line}\n")
    out = scan(messages, detector)
    by_line = {}
    for d in out:
        if d["category"] in ABUSE:
            by_line.setdefault(d["source"], set()).add(d["tier"])
    assert by_line.get("line 3"), "in the thread that talks of the debt, the line is flagged"
    assert "line 4" not in by_line, "the same words from another number, with no debt talk, are not"
