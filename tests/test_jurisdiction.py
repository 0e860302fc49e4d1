"""Which jurisdiction judges a call, per number (pipeline/jurisdiction.py)."""

from __future__ import annotations

from datetime import datetime

import pytest
import yaml
from click.testing import CliRunner

from pipeline.calls.callpattern import Call, analyse_by_number
from pipeline.calls.jurisdiction import JurisdictionError, load_number_rules
from pipeline.cli import cli
from pipeline.detect import load_rules
from pipeline.store import Store


def test_bundled_prefixes_then_the_run_default(tmp_path):
    rules = load_number_rules(tmp_path / "e.db")
    assert rules.judge("+14155550123").jurisdiction == "US"
    assert rules.judge("+14155550123").reason == "prefix +1"
    assert rules.of("0044 20 7946 0000") == "UK"
    assert rules.of("+86 138 1234 5678") == "CN"
    plain = rules.judge("13812345678")  # no country code: the run's default
    assert (plain.jurisdiction, plain.kind) == ("CN", "default")
    assert rules.of(None) == "CN"
    us_run = load_number_rules(tmp_path / "e.db", "US")
    assert us_run.of("13812345678") == "US" and us_run.judge("1381").reason == "--jurisdiction"
    assert us_run.of("+8613812345678") == "CN"  # a country code still wins over the default


def test_a_call_no_number_places_is_judged_by_its_language_when_nobody_chose(tmp_path):
    """An English recording with no number is not put under Chinese law because CN is the
    default; once someone chooses (--jurisdiction, numbers.yaml's default:, the last run's
    choice), that choice covers every language, and a number's country code still wins."""
    rules = load_number_rules(tmp_path / "e.db")
    english = rules.judge(None, "en")
    assert (english.jurisdiction, english.reason, english.kind) == ("US", "language en", "language")
    assert rules.judge("07700900123", "EN").jurisdiction == "US"  # no country code: not placed
    assert rules.judge("+447700900123", "en").reason == "prefix +44"
    assert rules.judge(None, "zh") == rules.judge(None) == rules.judge(None, "fr")
    assert rules.judge(None, "zh").reason == "default"
    for chosen in (load_number_rules(tmp_path / "e.db", "CN"),
                   load_number_rules(tmp_path / "e.db", fallback="UK")):
        assert chosen.judge(None, "en").kind == "default"
    assert load_number_rules(tmp_path / "e.db", fallback="UK").of(None, "en") == "UK"
    (tmp_path / "numbers.yaml").write_text("default: CN\n", encoding="utf-8")
    assert load_number_rules(tmp_path / "e.db").judge(None, "en").reason == "numbers.yaml: default"


def test_the_language_reason_is_worded_in_each_language():
    from pipeline.calls.jurisdiction import reason_text

    en = {"language": "no number; the call is in {language}"}
    assert reason_text("language en", en, {"en": "English"}) == "no number; the call is in English"
    assert reason_text("language xx", en) == "no number; the call is in xx"


def test_a_numbers_file_beside_the_database_wins(tmp_path):
    (tmp_path / "numbers.yaml").write_text(yaml.safe_dump(
        {"default": "US", "+1": "CN", "13812345678": "UK", "+1415": "US"}), encoding="utf-8")
    rules = load_number_rules(tmp_path / "e.db")
    assert rules.of("+14155550123") == "US"  # the longest key (+1415) wins
    assert rules.of("+12125550100") == "CN"  # the user's +1 beats the bundled +1
    assert rules.judge("+86 138-1234-5678").reason == "numbers.yaml: 13812345678"
    assert rules.of("13812345678") == "UK"
    assert rules.judge("15012345678").jurisdiction == "US"  # the file's default
    assert load_number_rules(tmp_path / "e.db", "CN").of("15012345678") == "CN"  # the run's


@pytest.mark.parametrize("content, message", [
    ({"+1": "XX"}, "unknown jurisdiction 'XX'"),
    ({"default": "Mars"}, "unknown jurisdiction 'MARS'"),
    ({"abc": "US"}, "not a phone number"),
    (["+1", "US"], "expected a mapping"),
])
def test_a_bad_numbers_file_is_a_clear_error(tmp_path, content, message):
    (tmp_path / "numbers.yaml").write_text(yaml.safe_dump(content), encoding="utf-8")
    with pytest.raises(JurisdictionError, match=message):
        load_number_rules(tmp_path / "e.db")


def test_each_call_is_judged_under_its_numbers_rules():
    """The +1 number calling at 07:45 is judged by US rules (before 8 a.m.), not as a
    Chinese night call; the Chinese number at 21:30 is no night call in CN but would be
    in the US."""
    rules = load_number_rules(None)
    calls = [Call("+14155550123", datetime(2026, 11, 5, 7, 45)),
             Call("13812345678", datetime(2026, 11, 5, 21, 30)),
             Call("13812345678", datetime(2026, 11, 5, 22, 30))]
    found = analyse_by_number(calls, rules.of)
    night = {(f.phone_number, f.rule_id, f.jurisdiction) for f in found if f.category == "night_call"}
    assert night == {("+14155550123", "US_NIGHT_21_08", "US"), ("+8613812345678", "CN_NIGHT_22_08", "CN")}
    for f in found:
        assert {c["jurisdiction"] for c in f.citations} == {f.jurisdiction}
        assert f.detail.endswith(f"({f.jurisdiction} rules)")


def test_uk_has_no_night_window_and_cites_conc():
    rules = load_number_rules(None)
    found = analyse_by_number([Call("+442079460000", datetime(2026, 11, 5, 23, 30))], rules.of)
    assert found == []  # CONC sets no hours: nothing to flag


def test_import_calls_stores_who_judged_each_pattern(tmp_path):
    db = tmp_path / "e.db"
    Store(db).close()
    log = tmp_path / "calls.csv"
    log.write_text("number,date,duration,type\n+14155550123,2026-11-05 07:45:00,30,1\n"
                   "13812345678,2026-11-05 07:45:00,30,1\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["import-calls", str(log), "--db", str(db)])
    assert r.exit_code == 0, r.output
    import sqlite3

    rows = sqlite3.connect(db).execute(
        "select phone_number, rule_id, jurisdiction from pattern_findings order by 1").fetchall()
    assert rows == [("+14155550123", "US_NIGHT_21_08", "US"), ("+8613812345678", "CN_NIGHT_22_08", "CN")]
    (tmp_path / "numbers.yaml").write_text("'+14155550123': CN\n", encoding="utf-8")
    CliRunner().invoke(cli, ["detect", "--db", str(db)])
    assert sqlite3.connect(db).execute("select distinct jurisdiction from pattern_findings"
                                       ).fetchall() == [("CN",)]
    (tmp_path / "numbers.yaml").write_text("'+1': Narnia\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["detect", "--db", str(db)])
    assert r.exit_code == 1 and "unknown jurisdiction" in r.output


def test_every_citation_says_whose_law_and_whether_it_was_checked():
    """Rule data: each citation names its jurisdiction, has a label in both report
    languages, and records whether it was verified and against what."""
    pack = load_rules()
    assert len(pack.citations) >= 25
    for cid, c in pack.citations.items():
        assert c.get("jurisdiction") in ("CN", "US", "UK"), cid
        assert isinstance(c.get("verified"), bool) and c.get("source"), cid
        assert c.get("zh") and c.get("en"), cid
        assert "unverified" not in f"{c.get('article')} {c.get('zh')} {c.get('en')}".lower(), cid
    verified = {cid for cid, c in pack.citations.items() if c["verified"]}
    assert {"CIVIL_1033", "CRIM_293", "FDCPA_1692D2", "REGF_1006_14", "CONC_7"} <= verified
    assert not {"NIFA2018_16", "GBT45251", "PSAPL_2025_50"} & verified


def test_after_the_run_the_last_runs_choice_judges_the_unplaced_numbers(tmp_path):
    """rules_for_database (report and browser alike): the report's --jurisdiction, else the
    last run's, else CN; numbers.yaml and country codes first in every case."""
    from pipeline.calls.jurisdiction import last_run_jurisdiction, rules_for_database

    store = Store(tmp_path / "e.db")
    try:
        assert last_run_jurisdiction(store.conn) is None
        assert rules_for_database(store.path, store.conn).of("13812345678") == "CN"
        store.finish_run(store.start_run(tool_version="t", settings={"jurisdiction": "US"}))
        store.finish_run(store.start_run(tool_version="t", settings={"model": "base"}))
        assert last_run_jurisdiction(store.conn) is None  # the last run was given none: CN
        store.finish_run(store.start_run(tool_version="t", settings={"jurisdiction": "UK"}))
        assert last_run_jurisdiction(store.conn) == "UK"
        rules = rules_for_database(store.path, store.conn)
        assert rules.judge("13812345678").jurisdiction == "UK"
        assert rules.judge("+14155550123").reason == "prefix +1"
        assert rules_for_database(store.path, store.conn, "CN").judge("13812345678").reason \
            == "--jurisdiction"
    finally:
        store.close()


def test_reasons_are_worded_from_the_callers_labels():
    from pipeline.calls.jurisdiction import reason_text

    words = {"prefix": "prefix {key}", "user": "yours", "run": "this run", "default": "default"}
    assert reason_text("prefix +44", words) == "prefix +44"
    assert reason_text("numbers.yaml: 13812345678", words) == reason_text("numbers.yaml: default",
                                                                          words) == "yours"
    assert reason_text("--jurisdiction", words) == "this run"
    assert reason_text("default", words) == "default"
