"""Why each finding was flagged, in the browser (issue 13): Datasette's test client on a
database written through the real Store (``conftest.make_why_db``: one finding of each
method, from a run with the meaning layer and one with rules only).

A finding's page says why in both languages, with the pattern, the score and how its run
detected; every findings list marks each row with a short badge (the full words in its
tooltip); a finding found by meaning stands out; the overview says how the last run
detected, and warns when the meaning layer was off.  Rows stay short: the 1366 × 900
first-screen check with a real browser is in tests/test_browser.py.
"""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
from pathlib import Path

import pytest
from datasette.app import Datasette

from pipeline.browse import metadata_for
from pipeline.detect import Detector
from pipeline.store import Store

from .conftest import make_why_db

# rule id -> (method stored, English words, Chinese words, badge) the page must show
EXPECTED = {
    "ZH_THIRD_PARTY_DISCLOSE": (
        "rule+meaning",
        "Rule ZH_THIRD_PARTY_DISCLOSE matched the words “告诉你家人” (pattern {tell}~({family}|{work}));"
        " the meaning check agreed (score 0.97).",
        "规则 ZH_THIRD_PARTY_DISCLOSE 匹配了“告诉你家人”（规则式 {tell}~({family}|{work})）；"
        "语义判断同意（0.97）。",
        "rule + meaning / 规则+语义 0.97"),
    "MEANING_THREAT_HARM": (
        "meaning",
        "No rule matched; the sentence as a whole reads as “Threat of harm to person or property”"
        " (meaning score 0.96) — listen to it.",
        "没有规则匹配；整句语义判断为“威胁人身安全”（0.96），请收听核实。",
        "found by meaning / 语义发现 0.96"),
    "ZH_LEGAL_CLAIM": (
        "rule",
        "the meaning check does not judge this kind of finding, so the rule alone decides.",
        "这类发现项不经语义判断，由规则决定。",
        "rule / 规则"),
    "ZH_INSULT_LEXICON": (
        "rule",
        "Rule ZH_INSULT_LEXICON matched the words “老赖” (pattern {insult_zh}); rules alone: the"
        " meaning check was off for this run.",
        "规则 ZH_INSULT_LEXICON 匹配了“老赖”（规则式 {insult_zh}）；仅按规则：本次处理未运行语义判断。",
        "rule / 规则"),
    "EN_INSULT_PROFANITY": (
        "rule+meaning",
        "Rule EN_INSULT_PROFANITY matched the words “deadbeat” (pattern \\b({en_insult_strong})\\b);"
        " the meaning check agreed (score 0.99).",
        "规则 EN_INSULT_PROFANITY 匹配了“deadbeat”（规则式 \\b({en_insult_strong})\\b）；"
        "语义判断同意（0.99）。",
        "rule + meaning / 规则+语义 0.99"),
}
SOUND_EN = "Matched by sound: the recording may say something else — listen."
SOUND_ZH = "按读音匹配，录音内容可能不同，请收听。"


def get(ds, path):
    r = asyncio.run(ds.client.get(path))
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.text


def text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture()
def why_db(tmp_path) -> Path:
    return make_why_db(tmp_path / "why")


@pytest.fixture()
def ds(why_db):
    return Datasette([str(why_db)], metadata=metadata_for(why_db))


def findings(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("select id, rule_id, method, pattern, score, note from findings"
                         " order by id").fetchall()


def test_a_findings_page_says_why_in_both_languages(ds, why_db):
    rows = findings(why_db)
    assert {r[2] for r in rows} == {"rule", "rule+meaning", "sound+meaning", "meaning"}
    for fid, rule_id, method, pattern, score, _note in rows:
        page = get(ds, f"/why/findings/{fid}")
        box = re.search(r'<div class="ce-why-box[^"]*" data-method="([^"]*)">(.*?)</div>', page, re.S)
        assert box and box.group(1) == method, (fid, method)
        words = text(box.group(2))
        assert "Why flagged / 标记原因" in words
        if rule_id in EXPECTED:
            _m, en, zh, badge = EXPECTED[rule_id]
            # the whole sentence, rule id and pattern, is for experts (issue 24); the box
            # says it without them
            assert en in text(page) and zh in text(page) and badge in words, (rule_id, words)
            assert rule_id not in words and "ce-why-full" in page, (rule_id, words)
        if rule_id == "ZH_FALSE_LEGAL_JAIL":  # matched by sound: twice, with and without meaning
            assert "matched the words “通记” by sound" in words and "按读音匹配了“通记”" in words
            assert SOUND_EN in words and SOUND_ZH in words
            agreed = "the meaning check agreed (score 0.91)" in words
            assert agreed == (method == "sound+meaning")
            assert ("the meaning check was off for this run" in words) == (method == "rule")
        else:
            assert SOUND_EN not in words and SOUND_ZH not in words
        rest = text(page)
        # the whole pattern, the score and how its run detected, each in its own row
        if pattern:
            assert f"Pattern / 规则式 {pattern}" in rest, (fid, pattern)
        else:
            assert "Pattern / 规则式" not in rest
        assert f"Meaning score / 语义分数 {score:.2f}" in rest if score is not None \
            else "Meaning score / 语义分数 —" in rest
        detection = ("rules, checked by the meaning layer / 规则，并经语义判断"
                     if method != "rule" or rule_id == "ZH_LEGAL_CLAIM" else "rules only / 仅规则")
        assert f"Detection / 检测方式 {detection}" in rest, (fid, rest)


def test_every_findings_list_marks_why_in_a_short_badge(ds, why_db):
    rows = {r[0]: r for r in findings(why_db)}
    for path, cell in (("/why/findings_newest", "col-finding_id"), ("/why/to_review", "col-finding_id"),
                       ("/why/findings_by_category?category=&severity=", "col-finding_id"),
                       ("/why/findings_for_number?phone_number=13812345678", "col-finding_id"),
                       ("/why/findings", "col-id")):
        page = get(ds, path)
        cells = re.findall(rf'<td class="{cell}"><a href="/why/findings/(\d+)">#?\d+</a><br>'
                           r'<span class="ce-why ([^"]+)" data-method="([^"]*)" title="([^"]*)">'
                           r"(<span>[^<]*</span> <span>[^<]*</span>)</span></td>", page)
        assert cells and len(cells) == page.count(f'<td class="{cell}">'), path
        for fid, css, method, title, parts in cells:
            badge = re.sub(r"<[^>]+>", "", parts)
            _id, rule_id, stored, pattern, _score, _note = rows[int(fid)]
            assert method == stored and len(badge) <= 40, (path, badge)  # short
            title = html.unescape(title)
            if rule_id in EXPECTED:
                assert badge == EXPECTED[rule_id][3], (path, rule_id, badge)
            if rule_id == "MEANING_THREAT_HARM":
                assert "ce-why-meaning" in css  # found by meaning stands out
                assert title == f"{EXPECTED[rule_id][1]}\n{EXPECTED[rule_id][2]}"
            elif rule_id == "ZH_FALSE_LEGAL_JAIL":
                assert "ce-why-sound" in css and badge.startswith("by sound / 按读音")
                assert SOUND_EN in title and SOUND_ZH in title
            else:
                assert f"Rule {rule_id} matched" in title and f"规则 {rule_id}" in title
            if pattern and len(pattern) > 40:  # a tooltip never holds a long pattern whole
                assert pattern not in title
    # a row of the list shows no more than before: the badge sits under the finding's number
    newest = get(ds, "/why/findings_newest")
    headers = re.findall(r'<th class="col-([a-z_]+)"', newest)
    assert headers == ["finding_id", "call_time", "category", "quote", "start", "review_status"]


def test_the_overview_says_how_the_last_run_detected_and_warns_when_meaning_was_off(ds, why_db):
    page = get(ds, "/-/call-evidence/overview/why")
    words = text(page)
    assert "Found by meaning / 语义发现 1" in words
    assert "Detection, last run / 最近一次检测方式 rules only / 仅规则" in words
    notice = re.search(r'<div class="ce-detection-off"[^>]*>(.*?)</div>', page, re.S)
    assert notice and "The last run used rules only" in notice.group(1)
    assert "最近一次处理只用了规则" in notice.group(1)
    # a later run with the meaning layer: no notice
    store = Store(why_db)
    store.finish_run(store.start_run(tool_version="test", detection=Detector().describe()))
    store.close()
    page = get(ds, "/-/call-evidence/overview/why")
    assert 'class="ce-detection-off"' not in page
    assert "Detection, last run / 最近一次检测方式 rules, checked by the meaning layer / 规则，并经语义判断" \
        in text(page)


def test_message_findings_say_why_too(ds, why_db):
    from pipeline.calls import callstore
    from pipeline.textscan import read_messages, scan

    store = Store(why_db)
    callstore.ensure_tables(store)
    messages = read_messages("date,number,text\n2026-11-05 08:00,13912345678,你这个老赖，赶紧还钱\n")
    callstore.save_messages(store, "sms.csv", messages, scan(messages, Detector()))
    store.close()
    page = get(ds, "/why/message_findings")
    badge = re.search(r'<td class="col-method[^"]*"><span class="ce-why [^"]*" data-method="([^"]+)"'
                      r' title="([^"]*)">(.+?)</span></span>', page)
    assert badge, page[-3000:]
    method, title, label = badge.groups()
    stored = sqlite3.connect(why_db).execute("select method from message_findings").fetchone()[0]
    assert method == stored and html.unescape(title).startswith("Rule ZH_INSULT_LEXICON matched")


def test_a_database_made_before_schema_5_still_lists_its_findings(why_db):
    """A file from before schema 5, browsed before this version opened it (Datasette only
    reads): no method, pattern, score or detection columns.  Every list still answers and
    each finding says it came from the rules."""
    with sqlite3.connect(why_db) as c:
        for table, col in (("findings", "method"), ("findings", "pattern"), ("findings", "score"),
                           ("runs", "detection")):
            c.execute(f"alter table {table} drop column {col}")
    ds = Datasette([str(why_db)], metadata=metadata_for(why_db))
    for path in ("/why/findings_newest", "/why/to_review", "/why/findings/1"):
        assert re.search(r'data-method="" title="[^"]*"><span>rule /</span> <span>规则</span>',
                         get(ds, path)), path
    for path in ("/why/findings", "/-/call-evidence/overview/why"):
        get(ds, path)
    words = text(get(ds, "/why/findings/1"))
    assert "Rule ZH_THIRD_PARTY_DISCLOSE matched the words “告诉你家人”; rules alone." in words
    assert "Detection / 检测方式 not recorded / 未记录" in words
