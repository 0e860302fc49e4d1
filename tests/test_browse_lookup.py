"""The law the browser shows (pipeline/browse/lookup.py), through Datasette's test client on
a database written by the real Store with findings from the real detector.

The browser must show, for every finding, exactly the citations the report shows: those of
the jurisdiction that judged the call (numbers.yaml beside the database, country code, the
last run's --jurisdiction, then the call's language when nobody chose, then CN), verified,
in force on the call's day.  Issue 14: an English call with no number showed FDCPA,
Regulation F and FCA CONC; a Mandarin call showed US law; unverified citations were shown.
Later: that English call was judged under Chinese law (CN being the default); it is now
judged under US rules by its language, and says so.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from datasette.app import Datasette

from pipeline.browse import lookup, metadata_for
from pipeline.browse.cells import citation_label, citation_title
from pipeline.calls import callstore
from pipeline.detect import Detector, load_rules
from pipeline.filework import detect_rows, identity_check
from pipeline.normalise import save_wav
from pipeline.report.data import Scope, load
from pipeline.store import SegmentRow, Store
from pipeline.textscan import read_messages, scan

CN_CALL, US_CALL, UK_CALL, NO_NUMBER = "c" * 64, "d" * 64, "e" * 64, "f" * 64
# Written text, not evidence: it checks which law the pages show for what the store holds.
CALLS = [
    (CN_CALL, "13812345678_20261102223015.wav", "13812345678", "2026-11-02T22:30:15", "zh",
     ["喂，你好。", "你这个老赖，再不还钱我们就上门找你家人。", "我们会通知你的单位。"]),
    (US_CALL, "+14155550123_2026-11-05_07-45-00.wav", "+14155550123", "2026-11-05T07:45:00", "en",
     ["Hello there.", "You are a worthless deadbeat.", "We will call your employer and tell them."]),
    (UK_CALL, "+447700900123_2026-11-06_10-00-00.wav", "+447700900123", "2026-11-06T10:00:00", "en",
     ["You are a worthless deadbeat."]),
    (NO_NUMBER, "rec7.wav", None, None, "en", ["You will be arrested and go to jail."]),
]
# A stored copy that claims more than the rule file says: the rule file wins, and a
# citation the rule files do not know is shown only if it says it was checked.
STALE = [{"id": "NIFA2018_16", "jurisdiction": "CN", "instrument": "互联网金融逾期债务催收自律公约（试行） "
          "(NIFA 2018)", "article": "Art. 16", "verified": True},
         {"jurisdiction": "CN", "instrument": "Made-up Collection Act", "article": "Art. 9",
          "verified": False}]
UNVERIFIED_WORDS = ["NIFA", "自律公约", "Made-up Collection Act", "银行业协会", "Banking Association",
                    "GB/T", "2025 revision", "2025年修订", "unverified"]


def sentence(idx: int, start: float, end: float, text: str) -> SegmentRow:
    step = (end - start) / len(text)
    words = [(start + i * step, start + (i + 1) * step, ch, 0.9) for i, ch in enumerate(text)]
    return SegmentRow(idx, start, end, text, words=words)


def make_db(folder: Path, run_jurisdiction: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "law.db"
    store = Store(db)
    callstore.ensure_tables(store)
    if run_jurisdiction:
        run = store.start_run(tool_version="test", settings={"jurisdiction": run_jurisdiction})
        store.finish_run(run)
    detector = Detector()
    for n, (rid, name, number, when, lang, texts) in enumerate(CALLS):
        segments = [sentence(i, 0.5 + 3 * i, 3.0 + 3 * i, t) for i, t in enumerate(texts)]
        findings = identity_check(detect_rows(detector, segments, lang), segments)
        if rid == CN_CALL:
            findings[0].citations = [*findings[0].citations, *STALE]
        wav = folder / name
        t = np.arange(16000 * 10) / 16000
        save_wav(wav, 0.3 * np.sin(2 * np.pi * (300 + 50 * n) * t))
        store.save_recording({"id": rid, "path": str(wav), "file_name": name,
                              "size": wav.stat().st_size, "mtime": "2026-11-29T00:00:00",
                              "phone_number": number, "call_time": when, "duration": 10.0,
                              "language": lang}, segments, findings, None)
    messages = read_messages("date,number,text\n2026-11-05 08:00,+14155550123,You are a worthless "
                             "deadbeat\n2026-11-06 09:00,13912345678,你这个老赖赶紧还钱\n")
    callstore.save_messages(store, "sms.csv", messages, scan(messages, detector))
    store.close()
    return db


def get(ds, path: str):
    r = asyncio.run(ds.client.get(path))
    assert r.status_code == 200, (path, r.text[:300])
    return r.text


@functools.cache
def law_strings(jurisdiction: str) -> set[str]:
    """Everything a page might print for a citation of ``jurisdiction`` (labels and titles)."""
    out = set()
    for c in load_rules().citations.values():
        if c["jurisdiction"] == jurisdiction:
            out |= {html.escape(x, quote=True) for x in (c["en"], c["zh"], citation_label(c))}
    return out


def shown_titles(fragment: str) -> list[str]:
    """The full references of the citations a page fragment shows (``+N`` ones split)."""
    out = []
    for title, short in re.findall(r'<span class="ce-cite" title="([^"]*)">([^<]*)</span>', fragment):
        out += html.unescape(title).split("; ") if short.startswith("+") else [html.unescape(title)]
    return out


def report_view(db: Path) -> dict[int, tuple[str, list[str]]]:
    """finding id -> (jurisdiction, citation titles) as the report decides them."""
    store = Store(db)
    try:
        data = load(store, Scope())
    finally:
        store.close()
    return {f.id: (f.recording.jurisdiction, [citation_title(c) for c in f.shown_citations])
            for f in [*data.findings, *data.context]}


def finding_ids(db: Path, rid: str) -> list[int]:
    store = Store(db)
    try:
        return [i for (i,) in store.conn.execute("select id from findings where recording_id = ?",
                                                 [rid])]
    finally:
        store.close()


@pytest.fixture()
def law_db(tmp_path) -> Path:
    return make_db(tmp_path / "law")


def test_each_finding_page_shows_the_law_the_report_shows(law_db):
    ds = Datasette([str(law_db)], metadata=metadata_for(law_db))
    expected = report_view(law_db)
    assert len(expected) >= 8
    cn = "judged under CN rules (Mainland China; default) / 按中国大陆规则判断（默认）"
    judged = {CN_CALL: ("CN", cn),
              US_CALL: ("US", "judged under US rules (United States; number prefix +1) / "
                              "按美国规则判断（号码前缀 +1）"),
              UK_CALL: ("UK", "judged under UK rules (United Kingdom; number prefix +44) / "
                              "按英国规则判断（号码前缀 +44）"),
              NO_NUMBER: ("US", "judged under US rules (United States; no number; the call is in "
                                "English) / 按美国规则判断（号码未知，通话为英语）")}
    seen_law = set()
    for rid, (code, words) in judged.items():
        others = set().union(*(law_strings(j) for j in ("CN", "US", "UK") if j != code))
        for fid in finding_ids(law_db, rid):
            page = get(ds, f"/law/findings/{fid}")
            assert f'<dd class="ce-judged" data-jurisdiction="{code}">{words}</dd>' in page, fid
            assert expected[fid][0] == code
            cites = re.search(r"<dt>Rules it may breach / 可能违反的规定</dt><dd>(.*?)</dd>", page, re.S)
            assert shown_titles(cites.group(1)) == expected[fid][1], (fid, cites.group(1))
            seen_law.update(expected[fid][1])
            assert not [o for o in others if o in page], (fid, code)
            assert not [w for w in UNVERIFIED_WORDS if w in page], fid
            if not expected[fid][1]:
                assert "no provision of this law checked against the official text" in cites.group(1)
    # the checks above saw real law of all three jurisdictions, not only empty cells
    assert {"PRC Civil Code, Art. 1024 (reputation) / 《民法典》第一千零二十四条（名誉权）",
            "FDCPA, 15 U.S.C. §1692d(2) (obscene, profane or abusive language) / "
            "美国《公平债务催收作业法》第1692d条第(2)项（辱骂性语言）"} <= seen_law
    assert any("CONC 7.3" in t for t in seen_law)
    # the English call with no number is judged by US rules (its language): the FDCPA's
    # false-threat provision, no Chinese or UK law (as in the report)
    no_number = [t for f in finding_ids(law_db, NO_NUMBER) for t in expected[f][1]]
    assert any("1692e" in t for t in no_number), no_number


@pytest.mark.parametrize("path", ["findings_newest", "to_review", "findings",
                                  "findings_by_category?category=&severity=",
                                  "findings_for_number?phone_number=%2B14155550123",
                                  "findings_for_number?phone_number=13812345678"])
def test_list_rows_show_the_law_of_their_call(law_db, path):
    ds = Datasette([str(law_db)], metadata=metadata_for(law_db))
    expected = report_view(law_db)
    page = get(ds, f"/law/{path}")
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    checked = 0
    for row in rows:
        m = re.search(r'href="/law/findings/(\d+)"', row)
        if not m:
            continue
        fid = int(m.group(1))
        code, titles = expected[fid]
        assert shown_titles(row) == titles, (path, fid, row)
        cites = re.search(r'<span class="ce-cites" data-jurisdiction="(\w*)">', row)
        assert (cites.group(1) if cites else code) == code
        others = set().union(*(law_strings(j) for j in ("CN", "US", "UK") if j != code))
        assert not [o for o in others if o in row], (path, fid)
        checked += 1
    assert checked >= (2 if "phone_number" in path else 8), path
    assert not [w for w in UNVERIFIED_WORDS if w in page], path


def test_numbers_file_and_the_last_runs_jurisdiction_decide_as_in_the_report(tmp_path):
    """numbers.yaml beside the database places a number (and the numbers it does not place,
    with default:); without one, the last run's --jurisdiction judges numbers no country
    code places.  The browser and the report agree on both."""
    db = make_db(tmp_path / "run", run_jurisdiction="US")
    ds = Datasette([str(db)], metadata=metadata_for(db))
    expected = report_view(db)
    arrest = finding_ids(db, NO_NUMBER)[0]
    page = get(ds, f"/law/findings/{arrest}")
    assert 'data-jurisdiction="US">judged under US rules (United States; default)' in page
    assert expected[arrest][0] == "US" and expected[arrest][1]
    assert shown_titles(page) == expected[arrest][1] and "FDCPA" in page and "CONC" not in page

    (tmp_path / "run" / "numbers.yaml").write_text('default: UK\n"13812345678": US\n', encoding="utf-8")
    ds2 = Datasette([str(db)], metadata=metadata_for(db))  # a new index (the old one's cache aside)
    expected = report_view(db)
    page = get(ds2, f"/law/findings/{arrest}")
    assert 'data-jurisdiction="UK">judged under UK rules (United Kingdom; set in numbers.yaml)' in page
    assert expected[arrest][0] == "UK" and shown_titles(page) == expected[arrest][1]
    assert "CONC 7.3" in page and "FDCPA" not in page
    for fid in finding_ids(db, CN_CALL):  # a Mandarin call placed under US rules by the user
        page = get(ds2, f"/law/findings/{fid}")
        assert expected[fid][0] == "US" and shown_titles(page) == expected[fid][1]
        assert "按美国规则判断（numbers.yaml 中设定）" in page and "民法典" not in page
    assert ds is not ds2


def test_a_broken_numbers_file_shows_no_law_and_says_why(tmp_path):
    db = make_db(tmp_path / "broken")
    (tmp_path / "broken" / "numbers.yaml").write_text('"13812345678": XX\n', encoding="utf-8")
    ds = Datasette([str(db)], metadata=metadata_for(db))
    fid = finding_ids(db, CN_CALL)[0]
    page = get(ds, f"/law/findings/{fid}")
    assert "cannot tell whose rules judge this call" in page and "unknown jurisdiction" in page
    assert not shown_titles(page) and "民法典" not in page
    assert not shown_titles(get(ds, "/law/findings_newest"))


def test_message_and_pattern_tables_show_their_own_law(law_db):
    ds = Datasette([str(law_db)], metadata=metadata_for(law_db))
    page = get(ds, "/law/message_findings")
    rows = [r for r in re.findall(r"<tr>(.*?)</tr>", page, re.S) if "ce-cites" in r]
    assert rows
    for row in rows:
        code = re.search(r'<span class="ce-cites" data-jurisdiction="(\w+)">', row).group(1)
        assert code == ("US" if "+14155550123" in row else "CN")
        others = set().union(*(law_strings(j) for j in ("CN", "US", "UK") if j != code))
        assert not [o for o in others if o in row]
    assert not [w for w in UNVERIFIED_WORDS if w in page]
    store = Store(law_db)
    try:
        cites = load_rules().citations
        store.conn.execute(
            "insert into pattern_findings (rule_id, category, severity, phone_number, window_start,"
            " citations, jurisdiction) values ('US_NIGHT_21_08', 'night_calls', 'medium',"
            " '+14155550123', '2026-11-05T07:45:00', ?, 'US')",
            [json.dumps([cites["FDCPA_1692C"], cites["GBT45251"], cites["CONC_7"]])])
        store.conn.commit()
    finally:
        store.close()
    row = get(ds, "/law/pattern_findings")
    assert "FDCPA 15 U.S.C. §1692c(a)(1)" in row and "CONC" not in row and "GB/T" not in row


def test_a_page_resolves_each_recording_once(law_db, monkeypatch):
    """Fast enough for a long list: the rules load once a page, the law once a recording."""
    loads = []
    real = lookup.rules_for_database
    monkeypatch.setattr(lookup, "rules_for_database", lambda *a: loads.append(a) or real(*a))
    ds = Datasette([str(law_db)], metadata=metadata_for(law_db))
    queries: list[str] = []
    database = ds.get_database("law")
    execute = database.execute

    async def counting(sql, *args, **kw):
        queries.append(sql)
        return await execute(sql, *args, **kw)

    monkeypatch.setattr(database, "execute", counting)
    page = get(ds, "/law/findings")
    assert page.count('class="ce-cites"') >= 6
    assert len(loads) == 1
    per_recording = [q for q in queries if "from recordings where id = ?" in q]
    assert len(per_recording) == len(CALLS)


def test_call_cell_shows_contact_and_direction_beside_the_number():
    from pipeline.browse import cells

    html = str(cells.call_html("evidence", "a" * 64, "2026-10-15T23:00:00", "+8613900002222",
                               "x.m4a", "李经理", "outgoing"))
    assert "+8613900002222" in html and "李经理" in html and "ce-outgoing" in html
    plain = str(cells.call_html("evidence", "a" * 64, None, None, "x.m4a", None, "unknown"))
    assert "ce-direction" not in plain and "ce-contact" not in plain
