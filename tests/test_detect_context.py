"""A call or thread judged as a whole (pipeline/detect/context.py) and the two tiers
(pipeline/detect/combine.py), with judgements given directly, so these run without the
embedding model.  The real model on whole calls and threads: test_detect_context_real.py.
"""

from __future__ import annotations

import pytest

from pipeline.detect import Detector, Finding, TimedText
from pipeline.detect.combine import combine, meaning_categories
from pipeline.detect.context import borrower_speaker, context_scores, drop_borrower_side, thread_cues
from pipeline.detect.meaning import Judgement, Policy

CATS = ["insult", "threat_harm", "false_legal", "third_party", "visit_shaming", "money_demand"]
POLICY = Policy(abuse_categories=CATS, rule_veto_below=0.2, sound_needs=0.6,
                alone_at={"zh": 0.9, "en": 0.9}, listen_at={"zh": 0.5, "en": 0.5}, category_floor=0.5,
                min_chars={"zh": 4, "en": 12}, alone_needs_cue={"zh": True, "en": True},
                cues={"zh": ["钱", "还", "欠"], "en": ["pay", "debt"]},
                severity_by_category={"threat_harm": "critical", "third_party": "high", "insult": "high",
                                      "visit_shaming": "high"},
                category_words={"threat_harm": {"zh": ["弄死"]},
                                "third_party": {"zh": ["通讯录", "联系人"], "en": ["contacts"]},
                                "visit_shaming": {"zh": ["上门", "曝光"]}})


def judged(abuse: float, **cats: float) -> Judgement:
    return Judgement(abuse, {c: cats.get(c, 0.0) for c in CATS})


@pytest.fixture(scope="module")
def rules() -> Detector:
    return Detector(meaning=None)


def run(rules: Detector, text: str, j: Judgement, thread_cue: bool = False, ctx: float | None = None,
        **kw) -> list[Finding]:
    u = TimedText(text, **kw)
    return combine(u, rules.rule_findings(u), j, POLICY, rules._category_citations, thread_cue, ctx)


def test_below_the_finding_bar_and_above_the_listen_bar_is_one_listen_suggestion(rules):
    fs = run(rules, "今晚有人去找你聊聊还款的事", judged(0.7, threat_harm=0.8, visit_shaming=0.6))
    assert [(f.tier, f.category, f.method) for f in fs] == [("listen", "threat_harm", "meaning")]
    assert "worth a listen" in fs[0].note and "值得复听" in fs[0].note
    assert run(rules, "今晚有人去找你聊聊还款的事", judged(0.4)) == []  # below both bars
    high = run(rules, "今晚有人去找你聊聊还款的事", judged(0.95, threat_harm=0.8, visit_shaming=0.6))
    assert {f.tier for f in high} == {"finding"} and len(high) == 2  # findings keep two categories


def test_a_sentence_with_no_collection_word_is_judged_only_in_collection_talk(rules):
    text = "你等着吧今晚就有人去找你"  # no word of collection talk of its own
    assert run(rules, text, judged(0.95, threat_harm=0.9)) == []
    fs = run(rules, text, judged(0.95, threat_harm=0.9), thread_cue=True)
    assert [(f.tier, f.category) for f in fs] == [("finding", "threat_harm")]


def test_the_neighbours_score_can_lift_a_sentence_but_only_up_to_what_the_context_gives(rules):
    fs = run(rules, "今晚有人去找你聊聊还款的事", judged(0.45, threat_harm=0.8), ctx=0.6)
    assert [f.tier for f in fs] == ["listen"] and fs[0].score == 0.6
    # the context never lowers a score
    assert [f.tier for f in run(rules, "今晚有人去找你聊聊还款的事", judged(0.95, threat_harm=0.8),
                                ctx=0.2)] == ["finding"]


def test_a_sentence_read_as_plainly_not_abuse_is_not_lifted_by_its_neighbours(rules):
    # listen bar 0.5: below half of it on its own, no neighbour makes a bill reminder suspect
    assert run(rules, "您的账单已出，请按时还款", judged(0.2, threat_harm=0.1), ctx=0.7) == []
    assert [f.tier for f in run(rules, "您的账单已出，请按时还款", judged(0.25, threat_harm=0.1),
                                ctx=0.7)] == ["listen"]


def test_a_money_demand_hit_is_vetoed_only_below_its_own_ceiling(rules):
    import dataclasses

    text = "把钱转到我私人账户上"
    assert {f.category for f in rules.rule_findings(TimedText(text))} == {"money_demand"}
    strict = dataclasses.replace(POLICY, rule_veto_below=0.7, veto_at_most={"money_demand": 0.3})
    u = TimedText(text)
    kept = combine(u, rules.rule_findings(u), judged(0.5), strict, rules._category_citations)
    assert [(f.category, f.method) for f in kept] == [("money_demand", "rule+meaning")]
    assert combine(u, rules.rule_findings(u), judged(0.2), strict, rules._category_citations) == []
    assert strict.veto_for("money_demand") == 0.3 and strict.veto_for("insult") == 0.7


def test_the_category_is_the_one_the_words_name_and_the_severity_the_categorys(rules):
    # the head reads "photos to all your contacts" as shaming; the words name third party
    u = TimedText("把你的照片发给你所有联系人，让大家看看你欠钱不还")
    j = judged(0.95, visit_shaming=0.9, insult=0.6, third_party=0.4)
    assert meaning_categories(u, j, POLICY) == ["third_party", "visit_shaming"]
    assert meaning_categories(TimedText("你等着吧"), j, POLICY) == ["visit_shaming", "insult"]
    # severity follows the category, not the score: the same listen-level score
    fs = run(rules, "今晚有人去找你聊聊还款的事", judged(0.7, threat_harm=0.9))
    assert fs[0].severity == "critical"
    fs = run(rules, "今晚有人去找你聊聊还款的事", judged(0.7, insult=0.9))
    assert fs[0].severity == "high"


def test_thread_cues_are_per_conversation():
    utts = [TimedText("你好"), TimedText("你欠的钱今天要还"), TimedText("你等着"), TimedText("天气不错")]
    assert thread_cues(utts, ["a", "a", "a", "b"], POLICY) == [True, True, True, False]
    assert thread_cues(utts, [None] * 4, POLICY) == [True] * 4  # one call


def test_context_scores_raise_toward_the_strongest_neighbour_within_a_conversation():
    scores = {0: 0.2, 1: 0.9, 2: 0.4, 4: 0.95}
    out = context_scores(["a", "a", "a", "b", "b"], scores, 0.5)
    assert out[0] == pytest.approx(0.55) and out[2] == pytest.approx(0.65)
    assert out[1] == 0.9 and out[4] == 0.95  # nothing judged next to 4 in its own thread
    assert context_scores(["a"] * 5, scores, 0.0) == scores


def finding(speaker: str, category: str, tier: str = "finding") -> Finding:
    return Finding("R", category, "high", "", "", 0.0, 1.0, None, speaker, [], tier=tier)


def test_the_borrower_is_the_side_that_asks_to_stop_and_names_no_institution():
    left, right = "channel 1 (left)", "channel 2 (right)"
    fs = [finding(left, "identification"), finding(left, "threat_harm"), finding(right, "stop_request"),
          finding(right, "insult")]
    assert borrower_speaker({left, right}, fs, CATS) == right
    kept = drop_borrower_side([TimedText("x", speaker=left), TimedText("y", speaker=right)], fs, CATS)
    assert [(f.speaker, f.category) for f in kept] == [(left, "identification"), (left, "threat_harm"),
                                                       (right, "stop_request")]


def test_no_side_is_dropped_when_the_evidence_is_even_or_the_speakers_unknown():
    a, b = "speaker A (estimated)", "speaker B (estimated)"
    even = [finding(a, "insult"), finding(b, "insult")]
    assert borrower_speaker({a, b}, even, CATS) is None
    one = [finding(None, "insult"), finding(None, "threat_harm")]
    assert drop_borrower_side([TimedText("x"), TimedText("y")], one, CATS) == one
