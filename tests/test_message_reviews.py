"""Verdicts on text-message findings (pipeline/message_reviews.py, issue 24): given in the
browser or with ``review --messages``, kept apart from the findings, an append-only
history, and applied again when the export is scanned again (new ids)."""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3

from click.testing import CliRunner
from datasette.app import Datasette

from pipeline.browse import metadata_for
from pipeline.calls import callstore
from pipeline.cli import cli
from pipeline.detect import Detector
from pipeline.store import Store
from pipeline.textscan import read_messages, scan

CSV = ("date,number,text\n2026-11-05 08:00,13912345678,你这个老赖赶紧还钱\n"
       "2026-11-06 09:00,,明天上门找你\n")


def _statuses(db) -> dict:
    with sqlite3.connect(db) as c:
        return dict(c.execute("select quote, review_status from message_findings"))


def _rescan(db, csv: str = CSV, source: str = "sms.csv") -> None:
    store = Store(db)
    messages = read_messages(csv)
    callstore.save_messages(store, source, messages, scan(messages, Detector()))
    store.close()


def test_a_message_verdict_from_the_browser_survives_a_rescan(small_db):
    ds = Datasette([str(small_db)], metadata=metadata_for(small_db))
    page = asyncio.run(ds.client.get("/small/message_findings"))
    assert page.status_code == 200 and 'id="ce-review-form"' in page.text
    fid = int(re.search(r'value="m(\d+):dismissed"', page.text).group(1))
    token = html.unescape(re.search(rf'name="token-m{fid}" value="([^"]+)"', page.text).group(1))
    csrf = html.unescape(re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1))
    r = asyncio.run(ds.client.post("/-/call-evidence/review/small", data={
        "verdict": f"m{fid}:own_words", f"token-m{fid}": token, f"note-m{fid}": "I forwarded it",
        "csrftoken": csrf, "next": "/small/message_findings"}, cookies=dict(page.cookies)))
    assert r.status_code == 303 and r.headers["location"] == f"/small/message_findings#finding-m{fid}"
    with sqlite3.connect(small_db) as c:
        quote = c.execute("select quote from message_findings where id = ?", [fid]).fetchone()[0]
        assert c.execute("select status, reason, reviewed_by from message_reviews").fetchall() == [
            ("dismissed", "own_words", "local-browser")]
    assert _statuses(small_db)[quote] == "dismissed"
    # the export again, one message longer at its top: every finding gets a new id
    _rescan(small_db, CSV.replace("text\n", "text\n2026-11-04 07:00,13700000000,再不还钱就爆通讯录\n"))
    with sqlite3.connect(small_db) as c:
        assert c.execute("select id from message_findings where quote = ?", [quote]).fetchone()[0] != fid
    assert _statuses(small_db)[quote] == "dismissed"
    assert [v for q, v in _statuses(small_db).items() if q != quote] == ["unreviewed"] * (
        len(_statuses(small_db)) - 1)


def test_review_messages_on_the_command_line(small_db):
    runner = CliRunner()
    listed = runner.invoke(cli, ["review", "--messages", "--list", "unreviewed", "--db", str(small_db)])
    assert listed.exit_code == 0, listed.output
    ids = [int(m) for m in re.findall(r"^\s*(\d+)\s+unreviewed", listed.output, re.M)]
    assert len(ids) >= 2
    out = runner.invoke(cli, ["review", "--messages", str(ids[0]), "--confirm", "--note", "逾期催收",
                              "--db", str(small_db)])
    assert out.exit_code == 0 and "1 message finding(s) marked confirmed" in out.output
    runner.invoke(cli, ["review", "--messages", str(ids[0]), "--reset", "--db", str(small_db)])
    runner.invoke(cli, ["review", "--messages", str(ids[0]), "--confirm", "--db", str(small_db)])
    with sqlite3.connect(small_db) as c:  # the history, in order; the newest counts
        assert [r[0] for r in c.execute("select status from message_reviews order by id")] == [
            "confirmed", "unreviewed", "confirmed"]
        assert c.execute("select review_status from message_findings where id = ?",
                         [ids[0]]).fetchone() == ("confirmed",)
    bad = runner.invoke(cli, ["review", "--messages", "99999", "--dismiss", "--db", str(small_db)])
    assert bad.exit_code != 0 and "no message finding with id 99999" in bad.output
    # call findings' ids are not message ids: the call findings are untouched
    with sqlite3.connect(small_db) as c:
        assert c.execute("select count(*) from finding_reviews").fetchone() == (0,)
