import pytest

from pipeline.detect import Detector, TimedText, TimedWord, load_rules
from pipeline.detect.rules import RuleError


@pytest.fixture(scope="module")
def detector():
    """The rule engine alone: these tests pin what the rules match (the meaning layer that
    may overrule them is tested in test_detect_meaning.py and test_detect_combine.py)."""
    return Detector(meaning=None)


def cats(detector, text):
    """Categories found, leaving out `identification` (a signal, not a finding)."""
    return {f.category for f in detector.detect_one(TimedText(text))} - {"identification"}


@pytest.mark.parametrize("text, expected", [
    ("今天再不还钱，我们明天就上门找你。", {"visit_shaming"}),
    ("我们还会打电话告诉你的家人和单位领导。", {"third_party"}),
    ("你这个老赖，真不要脸。", {"insult"}),
    ("欠钱不还，你就等着坐牢吧。", {"false_legal"}),
    ("三天之内不还款，我们就爆你通讯录。", {"third_party"}),
    ("你所有的亲戚朋友都会知道你欠钱不还。", {"third_party"}),
    ("你再不还钱，小心你的家人出事。", {"threat_harm"}),
    ("我們已經報警了", {"false_legal"}),
    ("If you do not pay today, we will call your employer.", {"third_party"}),
    ("You will be arrested and go to jail.", {"false_legal"}),
    ("You are a worthless deadbeat.", {"insult"}),
    ("We know where you live.", {"threat_harm"}),
])
def test_categories(detector, text, expected):
    assert cats(detector, text) == expected


@pytest.mark.parametrize("text", [
    "您好，这里是客服中心。",
    "提醒您本期账单将于下周五到期。",
    "如有疑问请随时联系我们，祝您生活愉快。",
    "Hi, this is a courtesy reminder that your payment is due next Friday.",
])
def test_polite_reminders_produce_nothing(detector, text):
    assert cats(detector, text) == set()


@pytest.mark.parametrize("text", ["我们不会上门的", "We will not call your employer.",
                                  "你说要爆我通讯录？"])
def test_negation_and_quoted_questions(detector, text):
    assert cats(detector, text) == set()


def test_times_come_from_the_matched_words(detector):
    words = [TimedWord(0.0, 0.5, "我们", 0.9), TimedWord(0.5, 1.0, "明天", 0.9),
             TimedWord(1.0, 1.4, "就", 0.9), TimedWord(1.4, 2.0, "上门", 0.8),
             TimedWord(2.0, 2.5, "找你", 0.9)]
    (f,) = detector.detect_one(TimedText("我们明天就上门找你", 0.0, 2.5, words, speaker="L", ref=7))
    assert (f.start, f.end, f.confidence, f.speaker, f.ref) == (1.4, 2.0, 0.8, "L", 7)
    assert f.matched_text == "上门" and "上门" in f.quote
    assert f.note.startswith("possible violation")
    assert f.citations and all("instrument" in c for c in f.citations)


def test_new_phrase_needs_only_a_data_file(tmp_path):
    extra = tmp_path / "local.yaml"
    extra.write_text(
        "lexicons:\n  insult_zh: [臭虫]\n"
        "rules:\n  - id: LOCAL_SMS_BOMB\n    category: frequency\n    severity: medium\n"
        "    citations: [NIFA2018_16]\n    patterns: ['短信轰炸']\n",
        encoding="utf-8")
    base = Detector(meaning=None)
    grown = Detector(load_rules([extra]), meaning=None)
    assert cats(base, "你这个臭虫，等着短信轰炸吧") == set()
    assert cats(grown, "你这个臭虫，等着短信轰炸吧") == {"insult", "frequency"}


def test_bad_rule_file_names_the_rule(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: BROKEN\n    category: insult\n    patterns: ['(unclosed']\n")
    with pytest.raises(RuleError, match="BROKEN"):
        load_rules([bad])
    bad.write_text("rules:\n  - id: NOCAT\n    category: nonsense\n    patterns: ['x']\n")
    with pytest.raises(RuleError, match="unknown category"):
        load_rules([bad])


@pytest.mark.parametrize("heard, category", [
    ("你就等著做老吧", "false_legal"),          # 坐牢 misheard
    ("我们就报你通讯录", "third_party"),        # 爆你通讯录 misheard
    ("我是吹收专员，你再不还就上们", "visit_shaming"),  # 上门 misheard
])
def test_homophone_slips_still_match_with_lower_confidence(detector, heard, category):
    found = [f for f in detector.detect_one(TimedText(heard)) if f.category == category]
    assert found and found[0].by_sound and found[0].confidence < 1
    assert "pronunciation" in found[0].note


@pytest.mark.parametrize("text", ["他老来得子", "请出示证件"])
def test_everyday_soundalikes_are_excluded(detector, text):
    assert cats(detector, text) == set()


def test_labelled_corpus_meets_the_bar_per_category():
    """The project's labelled corpus (tests/data): precision and recall >= 0.9 per category."""
    from pathlib import Path

    from pipeline.evaluation.detect import read_corpus, score_items

    items = read_corpus(Path(__file__).parent / "data" / "detect_corpus.jsonl")
    assert len(items) >= 400
    scores = score_items(Detector(meaning=None), items)
    low = {c: (round(s.precision, 3), round(s.recall, 3)) for c, s in scores.items()
           if s.precision < 0.9 or s.recall < 0.9}
    assert not low, low


@pytest.mark.parametrize("text, category", [
    ("别再打了，我说了我下个月还。", "stop_request"),
    ("Please stop calling me at work.", "stop_request"),
    ("你把钱转到我的私人微信上", "money_demand"),
    ("我们会依法起诉，并上报征信", "legal_claim"),
])
def test_more_categories(detector, text, category):
    assert category in cats(detector, text)


def test_rhetorical_negation_still_counts(detector):
    assert "visit_shaming" in cats(detector, "别以为我们不会上门")
