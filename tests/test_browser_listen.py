"""Listen suggestions (值得复听) in a real browser: they wait in the to-review queue after the
findings, stay out of every findings list and of the report, and a confirmed one reaches
the next report as a finding "confirmed by the reviewer" (issue 22).

The database is the browser tests' small one (``make_small_db``: real Store, real
detector); one sentence is stored as a listen suggestion through the real Store, as a
detection run stores one, so the test does not depend on where the trained model's bar
falls on these written sentences.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from pipeline.browse.metadata import BASE
from tests.test_browser import VIEWPORT, browser, serving  # noqa: F401 (browser: a fixture)

pytestmark = pytest.mark.slow

QUOTE = "我们会通知你的单位。"


def add_listen_suggestion(db) -> int:
    """Store, for the first call's third sentence, a listen suggestion (tier "listen")
    beside that call's findings, through Store.replace_findings."""
    from pipeline.store import FindingRow, Store

    store = Store(db)
    try:
        rid = "a" * 64
        rows = store.conn.execute(
            "select segment_id, rule_id, category, severity, matched_text, quote, start, end, confidence,"
            " speaker, citations, note, method, pattern, score, tier from findings where recording_id = ?",
            [rid]).fetchall()
        idx = dict(store.conn.execute("select id, idx from segments where recording_id = ?", [rid]))
        kept = [FindingRow(idx.get(r[0]), *r[1:10], json.loads(r[10]), *r[11:])
                for r in rows if r[5] != QUOTE]
        note = ("possible violation — for human review; worth a listen (值得复听), not a finding: the "
                "meaning layer ranks this sentence as possibly third_party (score 0.62), below the "
                "finding bar; it reaches a report only if a reviewer confirms it")
        kept.append(FindingRow(2, "MEANING_THIRD_PARTY", "third_party", "high", QUOTE, QUOTE, 8.5, 11.0,
                               0.56, None, [], note, method="meaning", score=0.62, tier="listen"))
        store.replace_findings(rid, kept, None)
        return store.conn.execute("select id from findings where tier = 'listen'").fetchone()[0]
    finally:
        store.close()


def test_a_confirmed_listen_suggestion_reaches_the_next_report_confirmed_by_the_reviewer(
        browser, small_db, tmp_path):  # noqa: F811 (the fixture imported above)
    from pipeline.report import ReportOptions, Scope, build_report

    listen_id = add_listen_suggestion(small_db)
    opts = ReportOptions(languages=("en",), pdf=False, include_originals=False, make_zip=False)
    before = build_report(small_db, tmp_path / "before", Scope(), opts).html[0].read_text(encoding="utf-8")
    assert f'data-finding-id="{listen_id}"' not in before  # a suggestion is not in a report

    db = small_db.stem
    pg = browser.new_page(viewport=VIEWPORT)
    with serving(small_db, tmp_path / "cache") as url:
        pg.goto(f"{url}/{db}/findings_newest")  # findings only
        assert pg.locator(f"#finding-{listen_id}").count() == 0
        pg.goto(f"{url}{BASE}/overview/{db}")  # the overview counts suggestions apart
        assert "Worth a listen / 值得复听" in pg.locator("body").inner_text()
        pg.goto(f"{url}/{db}/to_review")
        rows = pg.locator("table.ce-findings tbody tr")
        ids = [int(t.lstrip("#")) for t in rows.locator("td.col-finding_id a").all_inner_texts()]
        assert ids[-1] == listen_id  # after every finding
        row = rows.filter(has=pg.locator(f"td.col-finding_id a[href$='/findings/{listen_id}']"))
        assert row.locator("td.col-tier").inner_text() == "worth a listen / 值得复听"
        assert row.locator("audio").count() == 1  # the player is there
        row.get_by_role("button", name="Confirm / 确认").click()
        pg.wait_for_load_state()
        assert pg.locator(f"#finding-{listen_id}").count() == 0  # reviewed: off the queue
        pg.goto(f"{url}/{db}/findings_newest")
        assert pg.locator(f"#finding-{listen_id}").count() == 1  # a finding from now on
    pg.close()
    with sqlite3.connect(small_db) as c:
        assert c.execute("select tier, review_status from findings where id = ?",
                         [listen_id]).fetchone() == ("listen", "confirmed")

    html = build_report(small_db, tmp_path / "after", Scope(), opts).html[0].read_text(encoding="utf-8")
    row = re.search(rf'<tr class="finding-row" data-finding-id="{listen_id}"[^>]*>.*?</tr>', html, re.S)
    assert row, "the confirmed suggestion is in the report"
    assert "confirmed by the reviewer" in row.group(0)
