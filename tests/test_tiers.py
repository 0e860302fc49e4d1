"""Findings and listen suggestions kept apart where they are stored and counted (issue 22):
the findings table's ``tier`` (migrated in place on an older database), the recording's
count, the message findings, and the ``scan-text`` JSON."""

from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

from pipeline.calls import callstore
from pipeline.cli import cli
from pipeline.store import FindingRow, SegmentRow, Store
from pipeline.textscan import Message

REC = {"id": "a" * 64, "path": "/x/13812345678_20261102223015.amr", "file_name": "x.amr",
       "size": 3, "mtime": "2026-11-02T00:00:00+00:00"}


def row(idx: int, tier: str) -> FindingRow:
    return FindingRow(idx, "MEANING_THREAT_HARM", "threat_harm", "critical", "q", "q", 1.0 + idx, 2.0 + idx,
                      0.6, None, [], "possible violation — for human review", method="meaning",
                      score=0.6, tier=tier)


def test_an_older_findings_table_gains_the_tier_and_its_rows_stay_findings(tmp_path):
    p = tmp_path / "old.db"
    c = sqlite3.connect(p)
    c.execute("create table findings (id integer primary key, recording_id text, segment_id integer,"
              " rule_id text, category text, severity text, matched_text text, quote text,"
              " start float, end float, confidence float, speaker text, citations text, note text,"
              " review_status text default 'unreviewed', run_id integer, method text, pattern text,"
              " score float)")
    c.execute("insert into findings (recording_id, rule_id, category) values ('x', 'R', 'insult')")
    c.commit()
    c.close()
    s = Store(p)
    assert s.conn.execute("select rule_id, tier from findings").fetchall() == [("R", "finding")]
    s.close()


def test_listen_suggestions_are_stored_with_their_tier_and_not_counted_as_findings(tmp_path):
    s = Store(tmp_path / "e.db")
    segs = [SegmentRow(0, 0.0, 2.0, "a"), SegmentRow(1, 2.0, 4.0, "b")]
    s.save_recording(REC, segs, [row(0, "finding"), row(1, "listen")], None)
    tiers = s.conn.execute("select tier from findings order by start").fetchall()
    assert tiers == [("finding",), ("listen",)]
    assert s.conn.execute("select n_findings from recordings").fetchone() == (1,)
    s.replace_findings(REC["id"], [row(1, "listen")], None)
    assert s.conn.execute("select n_findings from recordings").fetchone() == (0,)
    s.close()


def test_message_findings_carry_the_tier(tmp_path):
    s = Store(tmp_path / "m.db")
    callstore.ensure_tables(s)
    msgs = [Message("你好", ref="line 1"), Message("明天见", ref="line 2")]
    base = {"rule_id": "R", "category": "insult", "severity": "high", "matched_text": "", "quote": "",
            "sent_at": None, "number": None, "citations": [], "note": "n"}
    stored = callstore.save_messages(s, "sms.txt", msgs, [{**base, "source": "line 1", "tier": "finding"},
                                                          {**base, "source": "line 2", "tier": "listen"}])
    assert stored == 1  # findings; the suggestion is counted apart
    assert s.conn.execute("select tier from message_findings order by id").fetchall() == [
        ("finding",), ("listen",)]
    s.close()


def test_scan_text_json_says_the_tier_of_every_line(tmp_path):
    src = tmp_path / "sms.txt"
    src.write_text("你这个老赖，赶紧还钱\n明天上门找你家人\n", encoding="utf-8")
    out = CliRunner().invoke(cli, ["scan-text", str(src)])
    assert out.exit_code == 0, out.output
    lines = [json.loads(x) for x in out.output.splitlines() if x.startswith("{")]
    assert lines and all(d["tier"] in ("finding", "listen") for d in lines)
    assert any(d["tier"] == "finding" for d in lines)


def test_review_list_marks_a_listen_suggestion_as_worth_a_listen(tmp_path):
    db = tmp_path / "e.db"
    s = Store(db)
    s.save_recording(REC, [SegmentRow(0, 0.0, 2.0, "a"), SegmentRow(1, 2.0, 4.0, "b")],
                     [row(0, "finding"), row(1, "listen")], None)
    s.close()
    out = CliRunner().invoke(cli, ["review", "--list", "all", "--db", str(db)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert len(lines) == 2
    assert "worth a listen" not in lines[0] and "worth a listen, found by meaning 0.60" in lines[1]
