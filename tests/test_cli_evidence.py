"""CLI commands for evidence that is not audio: call logs, SMS text, re-detection."""

import json
import sqlite3

from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.store import Store


def test_scan_text_prints_json_lines_and_stores(tmp_path):
    sms = tmp_path / "sms.csv"
    sms.write_text("号码,时间,内容\n10690000,2026-11-02 23:10:00,再不还钱就爆你通讯录\n"
                   "95555,2026-11-03 10:00:00,【XX银行】您的信用卡本期账单已出，应还金额1,234.00元，"
                   "最后还款日11月20日。\n", encoding="utf-8")
    db = tmp_path / "e.db"
    r = CliRunner().invoke(cli, ["scan-text", str(sms), "--db", str(db)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    assert [x["category"] for x in lines] == ["third_party"]
    assert lines[0]["start"] == "2026-11-02 23:10:00" and lines[0]["number"] == "10690000"
    c = sqlite3.connect(db)
    assert c.execute("select count(*) from messages").fetchone()[0] == 2
    assert c.execute("select category from message_findings").fetchall() == [("third_party",)]
    # scanning the same file again replaces it: no duplicates
    CliRunner().invoke(cli, ["scan-text", str(sms), "--db", str(db)])
    assert c.execute("select count(*) from message_findings").fetchone()[0] == 1


def test_scan_text_from_stdin():
    r = CliRunner().invoke(cli, ["scan-text", "-"], input="you will be arrested tonight\n")
    assert r.exit_code == 0 and json.loads(r.output)["category"] == "false_legal"


def test_import_calls_adds_attempts_to_the_caps(tmp_path):
    db = tmp_path / "e.db"
    Store(db).close()
    log = tmp_path / "calls.csv"
    rows = "".join(f"13800000000,2026-11-03 1{i}:00:00,0,3\n" for i in range(7))
    log.write_text("number,date,duration,type\n" + rows)
    r = CliRunner().invoke(cli, ["import-calls", str(log), "--db", str(db)])
    assert r.exit_code == 0, r.output
    c = sqlite3.connect(db)
    assert c.execute("select rule_id, count from pattern_findings").fetchall() == [
        ("CN_MAX6_UNANSWERED_PER_DAY", 7)]
    CliRunner().invoke(cli, ["import-calls", str(log), "--db", str(db)])
    assert c.execute("select count(*) from call_log").fetchone()[0] == 7


def test_detect_recomputes_with_another_jurisdiction(tmp_path):
    db = tmp_path / "e.db"
    Store(db).close()
    log = tmp_path / "calls.csv"
    log.write_text("number,date,duration,type\n138,2026-11-03 21:30:00,30,1\n")
    CliRunner().invoke(cli, ["import-calls", str(log), "--db", str(db)])
    c = sqlite3.connect(db)
    assert c.execute("select count(*) from pattern_findings").fetchone()[0] == 0  # CN: 22:00
    r = CliRunner().invoke(cli, ["detect", "--db", str(db), "--jurisdiction", "US"])
    assert r.exit_code == 0, r.output
    assert c.execute("select rule_id from pattern_findings").fetchall() == [("US_NIGHT_21_08",)]
