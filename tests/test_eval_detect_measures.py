"""How ``make eval-detect`` and ``make train-detect`` judge the real rows: alone, or each
source document as one conversation (issue 22: a quoted threat carries no debt word of its
own, but the talk around it, in a call as in the article that quoted it, is about a debt).

Real detector (rules + the shipped meaning layer) on written rows; these check how rows are
grouped and scored, not how well the detector does.
"""

from __future__ import annotations

import pytest

from pipeline.detect import Detector
from pipeline.detect.meaning import Policy
from pipeline.evaluation.corpora import Row
from pipeline.evaluation.detect_measures import as_conversations, document_of, score_real
from pipeline.evaluation.train_detect import Item, _cue_flags

THREAT = "你等着吧，今晚就有人去找你，看你能躲到哪里去。"  # no collection word, no rule word
DEBT = "关于您的借款已经逾期三天了，今天之内必须把欠款还上。"
TALK = "今天天气不错，周末一起去爬山吧。"


def row(i: int, text: str, url: str, abuse: bool) -> Row:
    return Row(id=f"t-{i}", text=text, language="zh", categories={"threat_harm"} if abuse else set(),
               origin="real", split="test", extra={"source": {"url": url}})


@pytest.fixture(scope="module")
def detector(meaning_detector) -> Detector:
    return meaning_detector


def test_a_row_is_judged_with_its_documents_collection_words_only_by_document(detector):
    rows = [row(0, THREAT, "https://a.example/collector-quotes", True),
            row(1, DEBT, "https://a.example/collector-quotes", False),
            row(2, THREAT.replace("今晚", "明晚"), "https://b.example/small-talk", True),
            row(3, TALK, "https://b.example/small-talk", False)]
    alone = score_real(detector, rows)["zh"]["abuse+listen"]
    together = score_real(detector, rows, by_document=True)["zh"]["abuse+listen"]
    # alone, neither threat meets the collection-talk condition; by document, the one quoted
    # beside a debt is judged (and queued), the one beside small talk still is not
    assert alone.tp == 0 and alone.fn == 2
    assert together.tp == 1 and together.fn == 1
    assert document_of(rows[0]) == "https://a.example/collector-quotes"
    assert document_of(Row("x", "t", "zh", set(), "real")) == "x"  # no address: the row itself


def test_documents_as_conversations_take_no_neighbours_and_leave_the_detector_alone(detector):
    before = detector.meaning.policy.neighbour_weight
    conv = as_conversations(detector)
    assert conv.meaning.policy.neighbour_weight == 0.0
    assert detector.meaning.policy.neighbour_weight == before
    assert conv.pack is detector.pack
    rules = Detector(meaning=None)
    assert as_conversations(rules) is rules


def test_cross_validation_reads_a_real_or_lawful_document_as_one_conversation():
    policy = Policy(["threat_harm"], 0.3, 0.9, {"zh": 0.9}, 0.5, cues={"zh": ["欠"], "en": []})
    items = [Item("r0", THREAT, "zh", True, ["threat_harm"], "real", [], "doc-a"),
             Item("r1", "你欠的钱什么时候还", "zh", False, [], "real", [], "doc-a"),
             Item("r2", THREAT, "zh", True, ["threat_harm"], "real", [], "doc-b"),
             Item("l0", THREAT, "zh", False, [], "lawful", [], "doc-c"),
             Item("l1", "欠费请及时缴纳", "zh", False, [], "lawful", [], "doc-c"),
             Item("o0", THREAT, "zh", False, [], "ordinary", [], ""),
             Item("o1", "欠", "zh", False, [], "ordinary", [], "")]
    idx = list(range(len(items)))
    assert _cue_flags(items, idx, policy, "zh", True) == [True, True, False, True, True, False, True]
    assert _cue_flags(items, idx, policy, "zh", False) == [True] * len(items)
