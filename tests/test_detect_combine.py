"""Rules and meaning together (pipeline/detect/combine.py), with judgements given directly.

The combination is a small decision table; these tests pin each row of it with a fixed
judgement, so they run without the embedding model.  The real model is tested in
test_detect_meaning.py.
"""

from __future__ import annotations

import pytest

from pipeline.detect import Detector, TimedText, TimedWord
from pipeline.detect.combine import combine
from pipeline.detect.meaning import Judgement, Policy

CATS = ["insult", "threat_harm", "false_legal", "third_party", "visit_shaming", "money_demand"]
POLICY = Policy(abuse_categories=CATS, rule_veto_below=0.2, sound_needs=0.6,
                alone_at={"zh": 0.9, "en": 0.9}, category_floor=0.5,
                min_chars={"zh": 4, "en": 12})


def judged(abuse: float, **cats: float) -> Judgement:
    return Judgement(abuse, {c: cats.get(c, 0.0) for c in CATS})


@pytest.fixture(scope="module")
def rules() -> Detector:
    return Detector(meaning=None)


def run(rules: Detector, text: str, j: Judgement, **kw) -> list:
    u = TimedText(text, **kw)
    return combine(u, rules.rule_findings(u), j, POLICY, rules._category_citations)


def test_a_rule_hit_the_meaning_layer_agrees_with_stands_and_says_why(rules):
    fs = run(rules, "你这个老赖，赶紧还钱", judged(0.8, insult=0.9))
    assert [f.category for f in fs] == ["insult"]
    f = fs[0]
    assert (f.method, f.score) == ("rule+meaning", 0.8)
    assert f.pattern and "insult_zh" in f.pattern  # the rule's pattern as written


def test_a_rule_hit_is_vetoed_when_the_meaning_layer_is_confident_it_is_not_abuse(rules):
    assert run(rules, "你这个老赖，赶紧还钱", judged(0.1)) == []


def test_a_soundalike_hit_needs_the_meaning_layer(rules):
    text = "目前初步统计已达四五百家"  # 统计 ~ 通缉 by sound
    assert any(f.by_sound for f in rules.rule_findings(TimedText(text)))
    assert run(rules, text, judged(0.5)) == []  # above the veto, below sound_needs
    kept = run(rules, text, judged(0.7))
    assert kept and all(f.method == "sound+meaning" for f in kept)


def test_no_rule_but_a_high_score_is_a_finding_found_by_meaning_spanning_the_sentence(rules):
    words = [TimedWord(3.0, 3.4, "你家楼下", 0.9), TimedWord(3.4, 4.0, "那辆车", 0.8),
             TimedWord(4.0, 5.2, "挺新的嘛", 0.7)]
    text = "你家楼下那辆车挺新的嘛"
    assert rules.rule_findings(TimedText(text)) == []  # no rule words this veiled threat
    fs = run(rules, text, judged(0.95, threat_harm=0.8, insult=0.1),
             words=words, start=2.9, end=5.5, speaker="channel 1")
    assert len(fs) == 1
    f = fs[0]
    assert (f.category, f.method, f.rule_id) == ("threat_harm", "meaning", "MEANING_THREAT_HARM")
    assert (f.start, f.end) == (3.0, 5.2)  # the sentence's words, not a fragment
    assert f.quote == text and f.speaker == "channel 1"
    assert "found by meaning" in f.note and "0.95" in f.note
    assert f.citations, "a finding no rule made still cites the category's rules"
    assert f.confidence == pytest.approx(0.8 * 0.95, abs=1e-3)


def test_found_by_meaning_needs_the_language_threshold_and_a_real_sentence(rules):
    assert run(rules, "你家楼下那辆车挺新的嘛", judged(0.85, threat_harm=0.9)) == []
    assert run(rules, "嗯", judged(0.99, insult=0.9)) == []  # too short to judge alone
    assert run(rules, "ok then", judged(0.99, insult=0.9)) == []


def test_categories_that_are_not_abuse_are_left_to_the_rules(rules):
    fs = run(rules, "我们会依法起诉，并上报征信", judged(0.0))
    assert {f.category for f in fs} == {"legal_claim"}
    assert all(f.method == "rule" and f.score is None for f in fs)
    stop = run(rules, "Please stop calling me at work.", judged(0.0), language="en")
    assert {f.category for f in stop} == {"stop_request"}


def test_a_meaning_finding_is_not_added_beside_a_rule_finding(rules):
    fs = run(rules, "你这个老赖，赶紧还钱", judged(0.99, insult=0.9, threat_harm=0.9))
    assert [f.method for f in fs] == ["rule+meaning"]


def test_at_most_two_categories_for_a_meaning_finding(rules):
    fs = run(rules, "这钱你要是还不上，日子就别想过安稳了", judged(0.99, threat_harm=0.9, insult=0.8,
                                                            visit_shaming=0.7))
    assert [f.category for f in fs] == ["threat_harm", "insult"]
