"""The provisions a report prints carry their conditions (pipeline/data/provisions.yaml):
刑法 §246 only for a public insult, §293 only for repeated conduct and then only as "may
apply if", FDCPA §1692c(b), Regulation F §1006.6(d) and PIPL Art. 10 only for a contact
with a third party that happened; a mere threat to contact them cites harassment instead.
The citations are the rule files' own, as the detector stores them with a finding."""

from __future__ import annotations

import pytest

from pipeline.calls.jurisdiction import shown_citations
from pipeline.detect import load_rules
from pipeline.report.provisions import _filter


@pytest.fixture(scope="module")
def known() -> dict:
    return load_rules().citations


def _rule_cites(rule_id: str) -> list[dict]:
    return next(r.citations for r in load_rules().rules if r.id == rule_id)


def _after(known, rule_id, category, text, jurisdiction, repeated=False):
    cites = shown_citations(_rule_cites(rule_id), jurisdiction, "2026-11-06", known)
    kept = _filter(cites, [category], text, repeated, jurisdiction, "2026-11-06", known)
    return {c["id"]: c for c in cites}, {c["id"]: c for c in kept}


def test_246_is_absent_for_a_private_insult_and_present_for_a_public_one(known):
    before, private = _after(known, "ZH_INSULT_LEXICON", "insult", "你这个老赖真不要脸", "CN")
    assert "CRIM_246" in before and "CRIM_246" not in private
    assert "CIVIL_1024" in private  # 名誉权 needs no publicity
    _, public = _after(known, "ZH_INSULT_LEXICON", "insult", "我已经把你是老赖发到朋友圈了", "CN")
    assert "CRIM_246" in public and "condition" not in public["CRIM_246"]


def test_1692cb_is_absent_for_a_threat_only(known):
    before, threat = _after(known, "EN_THIRD_PARTY", "third_party",
                            "We will call your employer and tell them about this debt.", "US")
    assert {"FDCPA_1692CB", "REGF_1006_6D"} <= set(before)
    assert "FDCPA_1692CB" not in threat and "REGF_1006_6D" not in threat
    assert "REGF_1006_14" in threat  # cited as harassment instead
    _, done = _after(known, "EN_THIRD_PARTY", "third_party",
                     "I already called your mother and told her about the debt.", "US")
    assert "FDCPA_1692CB" in done and "REGF_1006_6D" in done


def test_a_threat_to_expose_contacts_is_not_a_disclosure(known):
    before, threat = _after(known, "ZH_THIRD_PARTY_CONTACTS", "third_party", "再不还就爆你通讯录", "CN")
    assert "PIPL_10" in before and "PIPL_10" not in threat and "CIVIL_1033" in threat
    _, done = _after(known, "ZH_THIRD_PARTY_DISCLOSE", "third_party", "我已经打给了你妈妈，告诉她你欠钱",
                     "CN")
    assert "PIPL_10" in done


def test_293_needs_repeated_conduct_and_is_only_ever_may_apply(known):
    before, once = _after(known, "ZH_VISIT", "visit_shaming", "今天再不还钱，我们明天就上门找你。", "CN")
    assert "CRIM_293" in before and "CRIM_293" not in once
    _, often = _after(known, "ZH_VISIT", "visit_shaming", "我们明天就上门找你。", "CN", repeated=True)
    assert often["CRIM_293"]["condition"]["en"].startswith("may apply if")
    assert "可能适用" in often["CRIM_293"]["condition"]["zh"]
