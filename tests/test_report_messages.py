"""Text messages in the report package (pipeline/report/messages.py): what `scan-text --db`
stored, scanned here by the real detector, reaches both reports, the manifest and the drafts,
each message under its own law; dismissed message findings and messages out of scope stay out.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.hashing import sha256_file
from pipeline.report import ReportOptions, Scope, build_report, manifest
from pipeline.report.complaint import channels, draft
from pipeline.store import Store

from .test_report import _load, _small_db

# Written for this test: the shape of a phone's SMS export (date, number, text).
SMS = ("date,number,text\n"
       "2026-11-05 08:00,+14155550123,You are a worthless deadbeat\n"
       "2026-11-06 09:00,13912345678,你这个老赖赶紧还钱，不然我们就上门找你\n"
       "2026-11-07 10:00,13912345678,您好，您的账单已出，请按时还款。\n"
       "2026-11-08 11:00,15000000000,你这个老赖，别装死\n")


def _with_messages(tmp_path, files=None):
    db = _small_db(tmp_path) if files is None else _small_db(tmp_path, files)
    sms = tmp_path / "sms.csv"
    sms.write_text(SMS, encoding="utf-8")
    out = CliRunner().invoke(cli, ["scan-text", str(sms), "--db", str(db)])
    assert out.exit_code == 0, out.output
    return db, sms


def _message_findings(db, number: str) -> list[int]:
    return [i for (i,) in sqlite3.connect(db).execute(
        "select f.id from message_findings f join messages m on m.id = f.message_id"
        " where m.phone_number = ?", [number])]


def test_messages_reach_both_reports_the_manifest_and_the_drafts(tmp_path):
    db, sms = _with_messages(tmp_path)
    dismissed = _message_findings(db, "+8615000000000")  # stored canonical
    assert dismissed
    con = sqlite3.connect(db)
    con.execute(f"update message_findings set review_status = 'dismissed' where id in"
                f" ({', '.join('?' * len(dismissed))})", dismissed)
    con.commit()
    con.close()
    data = _load(db)
    by_number = {m.phone_number: m for m in data.messages}
    assert set(by_number) == {"+14155550123", "+8613912345678"}  # the reminder has no finding
    assert (by_number["+14155550123"].jurisdiction, by_number["+8613912345678"].jurisdiction) == (
        "US", "CN")
    assert data.messages_dismissed == len(dismissed)
    assert "+14155550123" in data.numbers
    zh_msg = by_number["+8613912345678"]
    assert {"insult", "visit_shaming"} <= set(zh_msg.categories)  # one message, several findings

    result = build_report(db, tmp_path / "out", Scope(),
                          ReportOptions(pdf=False, make_zip=False, all_in_one=True))
    for lang, heading, law in (("en", "Text messages: ", "FDCPA"),
                               ("zh", "短信与聊天消息（", "公平债务催收作业法")):
        page = (result.folder / f"report-{lang}.html").read_text(encoding="utf-8")
        assert heading in page
        cards = re.findall(r'<div class="finding message [^"]*" id="message-\d+" '
                           r'data-jurisdiction="(\w+)">(.*?)\n</div>', page, re.S)
        assert [j for j, _ in cards] == ["US", "CN"]  # oldest first, each under its own law
        us, cn = cards[0][1], cards[1][1]
        assert "<mark>deadbeat</mark>" in us and law in us
        assert "<mark>老赖</mark>" in cn and "别装死" not in page  # the dismissed one is out
        plain = re.sub(r"<[^>]+>", "", cn)
        assert ("sms.csv line 3" in plain) if lang == "en" else ("sms.csv 第 3 行" in plain)
        assert page.count('class="why"') >= 3
    entries = json.loads((result.folder / "manifest.json").read_text(encoding="utf-8"))["messages"]
    assert [e["phone_number"] for e in entries] == ["+14155550123", "+8613912345678"]
    assert {e["source_sha256"] for e in entries} == {sha256_file(sms)}
    assert all(f["review_status"] != "dismissed" for e in entries for f in e["findings"])
    assert manifest.check(result.folder) == []
    for ch in channels():
        text = draft(ch, data)
        assert "赶紧还钱" in text and "worthless deadbeat" in text, ch
        assert "别装死" not in text and "账单已出" not in text


def test_a_report_of_messages_alone_and_a_scope_by_number(tmp_path):
    """A database with messages but no recording still makes a package; --number keeps only
    that number's messages."""
    db = tmp_path / "e.db"
    Store(db).close()
    sms = tmp_path / "sms.csv"
    sms.write_text(SMS, encoding="utf-8")
    assert CliRunner().invoke(cli, ["scan-text", str(sms), "--db", str(db)]).exit_code == 0
    data = _load(db, Scope(numbers=["+1 415 555 0123"]))
    assert [m.phone_number for m in data.messages] == ["+14155550123"]
    assert not data.recordings
    result = build_report(db, tmp_path / "out", Scope(numbers=["13912345678"]),
                          ReportOptions(pdf=False, make_zip=False, languages=("en",)))
    page = (result.folder / "report-en.html").read_text(encoding="utf-8")
    assert "赶紧还钱" in page and "deadbeat" not in page


@pytest.mark.parametrize("text, lang", [("You owe us money, deadbeat", "US"), ("你这个老赖", "CN")])
def test_a_message_with_no_number_is_placed_by_its_script(tmp_path, text, lang):
    db = tmp_path / "e.db"
    Store(db).close()
    sms = tmp_path / "sms.txt"
    sms.write_text(text + "\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["scan-text", str(sms), "--db", str(db)]).exit_code == 0
    [message] = _load(db).messages
    assert message.phone_number is None and message.jurisdiction == lang
