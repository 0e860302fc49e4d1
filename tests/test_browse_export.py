"""Findings exports tell the page's story (pipeline/browse/export.py, issue 24): the finding
number, the judging jurisdiction, only its verified citations as labels, and the review;
CSV as a file with a byte-order mark.  Real Datasette, real Store, the real rule files."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3

import pytest
from click.testing import CliRunner
from datasette.app import Datasette

from pipeline.browse import metadata_for
from pipeline.browse.cells import citation_label
from pipeline.browse.export import local_time
from pipeline.browse.labels import known_citations
from pipeline.cli import cli
from pipeline.store import Store


def get(ds, path, **kw):
    return asyncio.run(ds.client.get(path, **kw))


@pytest.fixture()
def ds(small_db):
    return Datasette([str(small_db)], metadata=metadata_for(small_db))


def _stored(db, fid: int) -> list[dict]:
    return json.loads(sqlite3.connect(db).execute("select citations from findings where id = ?",
                                                  [fid]).fetchone()[0])


def _verified_labels(items: list[dict], jurisdiction: str) -> set[str]:
    """Worked out here from the rule files' own flags, not by the code under test (for a call
    of unknown date, which cannot cite a provision with an end date)."""
    known = known_citations()
    return {citation_label(known.get(c["id"], c)) for c in items
            if c.get("jurisdiction") == jurisdiction
            and known.get(c["id"], c).get("verified") is True
            and not known.get(c["id"], c).get("in_force_until")}  # an undated call


def _csv(ds, path) -> tuple[bytes, list[dict], object]:
    r = get(ds, path)
    assert r.status_code == 200, r.text[:300]
    return r.content, list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))), r


def test_findings_csv_carries_the_page_and_the_review(ds, small_db):
    store = Store(small_db)
    store.set_review([5], "dismissed", "my mother's voice", reviewed_by="browser:caseworker",
                     reason="own_words")
    store.set_review([1], "confirmed", "老赖 — heard it twice", reviewed_by="cli:ana")
    store.close()
    raw, rows, r = _csv(ds, "/small/findings_newest.csv?_size=max")
    assert raw[:3] == b"\xef\xbb\xbf" and raw[3:14] == b"finding_id,"  # the BOM, then the header
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="findings_newest.csv"'
    by_id = {int(row["finding_id"]): row for row in rows}
    assert set(by_id) == {r[0] for r in sqlite3.connect(small_db).execute("select id from findings")}

    five = by_id[5]  # a call with no number: judged under CN; FDCPA (US) is stored with it
    stored = _stored(small_db, 5)
    assert {c["jurisdiction"] for c in stored} == {"CN", "US"}
    assert five["jurisdiction"] == "CN"
    shown = set(five["citations"].split("; "))
    assert shown == _verified_labels(stored, "CN") and shown
    assert not any("FDCPA" in s or "1692" in s for s in shown)
    assert "NIFA" not in five["citations"]  # unverified in the rule files
    assert json.loads(five["citations_stored"]) == stored  # the whole set, for experts
    assert five["verdict"] == "own_words" and five["review_note"] == "my mother's voice"
    assert five["reviewer"] == "caseworker (browser) / caseworker（浏览器）"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d( \w+)?", five["reviewed_at"])

    one = by_id[1]
    assert one["verdict"] == "confirmed" and one["review_note"] == "老赖 — heard it twice"
    assert one["reviewer"].startswith("ana (command line)")
    assert by_id[2]["verdict"] == "unreviewed" and by_id[2]["review_note"] == ""
    assert by_id[2]["reviewer"] == ""


def test_a_later_numbers_yaml_re_judges_the_export(ds, small_db):
    """Filtered when read, not when stored: placing the number under US rules leaves its
    Chinese findings with no citation, and brings nothing else in."""
    before = {int(r["finding_id"]): r for r in _csv(ds, "/small/findings_newest.csv")[1]}
    assert before[1]["jurisdiction"] == "CN" and before[1]["citations"]
    (small_db.parent / "numbers.yaml").write_text('"13812345678": US\n', encoding="utf-8")
    import time

    time.sleep(2.1)  # the functions' snapshot lives two seconds
    after = {int(r["finding_id"]): r for r in _csv(ds, "/small/findings_newest.csv")[1]}
    assert after[1]["jurisdiction"] == "US"
    assert after[1]["citations"] == ""  # only CN citations are stored for it
    assert after[1]["citations_stored"] == before[1]["citations_stored"]
    assert after[5]["jurisdiction"] == "CN"  # the call with no number is not that number


def test_findings_json_carries_the_same(ds, small_db):
    CliRunner().invoke(cli, ["review", "3", "--confirm", "--note", "上门", "--db", str(small_db)])
    rows = get(ds, "/small/to_review.json?_shape=objects").json()["rows"] \
        + get(ds, "/small/findings_newest.json?_shape=objects").json()["rows"]
    three = next(r for r in rows if r["finding_id"] == 3)
    assert three["verdict"] == "confirmed" and three["review_note"] == "上门"
    assert three["jurisdiction"] == "CN" and "FDCPA" not in three["citations"]


def test_local_time_says_its_zone():
    shown = local_time("2026-12-07T03:20:00+00:00")
    assert re.fullmatch(r"2026-12-0[67] \d\d:20:00 [+-]\d\d:\d\d( \w+)?", shown)
    assert local_time("2026-11-02T22:30:15") == "2026-11-02 22:30:15"  # already local
    assert local_time(None) is None


def test_the_review_history_names_each_finding(ds, small_db):
    """Every verdict and reset is listed with the finding number it is about (not the
    history row's id), newest first, in words and local time."""
    store = Store(small_db)
    store.set_review([4], "dismissed", "first", reviewed_by="cli:ana")
    store.set_review([4], "unreviewed", reviewed_by="cli:ana")
    store.set_review([4], "confirmed", "second", reviewed_by="browser:caseworker")
    store.close()
    rows = get(ds, "/small/review_history.json?_shape=objects").json()["rows"]
    assert [(r["finding_id"], r["verdict"], r["note"]) for r in rows] == [
        (4, "confirmed", "second"), (4, "unreviewed", None), (4, "dismissed", "first")]
    page = get(ds, "/small/review_history").text
    assert 'href="/small/findings/4"' in page and "Confirmed / 已确认" in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", page)
