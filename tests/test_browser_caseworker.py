"""The browser a caseworker is handed (issue 24), in a real Chromium on real ``browse``
servers over the small database (written text, no Whisper): one review item per
sentence, a note that is never silently lost, the CSV a download Excel reads, a
recording page a person can read, search hits that lead somewhere, and, under
--password, a drawn lock instead of an emoji box."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.conftest import make_small_db
from tests.servers import CHROMIUM_ARGS, chromium, serve

playwright = pytest.importorskip("playwright.sync_api")
if chromium() is None:
    pytest.skip("no Chromium found (apt-get install chromium, or make system-deps)",
                allow_module_level=True)

VIEWPORT = {"width": 1366, "height": 900}
PASSWORD = "a long passphrase"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return make_small_db(tmp_path_factory.mktemp("caseworker"))


@pytest.fixture(scope="module")
def server(db, tmp_path_factory):
    with serve(db, tmp_path_factory.mktemp("cache")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def pg(browser):
    page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
    yield page
    page.close()


def _verdicts(db) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("select rule_id, status, note from finding_reviews order by id").fetchall()


def test_one_sentence_is_one_item_and_a_typed_note_is_never_lost_silently(pg, server, db):
    pg.goto(f"{server}/small/to_review")
    rows = pg.locator("table.ce-findings tbody tr")
    assert rows.count() == 3  # seven findings on three sentences
    first, second = rows.nth(0), rows.nth(1)
    assert first.locator(".ce-also").count() == 1  # its other categories, listed with it
    first.locator("input.ce-note-input").fill("the collector's second threat")
    dialogs = []

    def refuse(d):
        dialogs.append(d.message)
        d.dismiss()

    pg.once("dialog", refuse)
    second.get_by_role("button", name="Confirm / 确认").click()
    pg.wait_for_timeout(300)
    assert dialogs and "would be lost" in dialogs[0] and "将会丢失" in dialogs[0]
    assert _verdicts(db) == []  # nothing was sent
    # the note goes with its own row's button: the whole sentence (three rules) is confirmed
    first_ids = first.locator("td.col-finding_id a").first.inner_text().lstrip("#")
    first.get_by_role("button", name="Confirm / 确认").click()
    pg.wait_for_load_state()
    with sqlite3.connect(db) as c:
        sentence = c.execute("select count(*) from findings where segment_id = (select segment_id"
                             " from findings where id = ?)", [int(first_ids)]).fetchone()[0]
    assert sentence >= 2
    assert [v[1:] for v in _verdicts(db)] == [("confirmed", "the collector's second threat")] * sentence
    assert pg.locator("table.ce-findings tbody tr").count() == 2


def test_csv_downloads_as_a_file_excel_reads(pg, server):
    pg.goto(f"{server}/small/findings_newest")
    pg.locator("details.ce-expert summary").click()
    with pg.expect_download() as info:
        pg.get_by_role("link", name="CSV").click()
    download = info.value
    assert download.suggested_filename == "findings_newest.csv"
    data = open(download.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbffinding_id,")
    header = data[3:].split(b"\r\n", 1)[0].decode()
    for column in ("jurisdiction", "citations", "citations_stored", "verdict", "review_note",
                   "reviewer", "reviewed_at"):
        assert column in header.split(","), column


def test_a_recording_page_reads_plainly(pg, server, db):
    rid = "a" * 64
    columns = {r[1] for r in sqlite3.connect(db).execute("pragma table_info(recordings)")}
    if "direction" in columns:  # as the pipeline stores a name that does not say
        with sqlite3.connect(db) as con:
            con.execute("update recordings set direction = 'unknown' where id = ?", [rid])
    pg.goto(f"{server}/small/recordings/{rid}")
    h1 = pg.locator("h1").inner_text()
    assert "Call / 通话" in h1 and "2026-11-02 22:30" in h1 and rid not in h1
    facts = pg.locator("dl.ce-facts").inner_text()
    for words in ("File / 文件", "13812345678_20261102223015.wav", "Number / 号码", "13812345678",
                  "Contact / 联系人", "Direction / 方向", "Length / 时长", "0:12"):
        assert words in facts, words
    direction = pg.locator("dd.ce-direction").inner_text()
    if "direction" not in columns:
        assert direction == "—"
    else:  # worded in both languages, never the stored code ("unknown")
        assert " / " in direction and direction != "unknown", direction
    assert pg.locator(".ce-whole-call audio").count() == 1
    assert pg.locator("table.ce-call-findings tr").count() >= 2
    assert pg.locator("details.ce-expert").inner_text().count(rid) == 0  # folded away
    assert rid in pg.content()  # ... but there for experts


def test_search_hits_lead_to_the_finding_or_the_moment(pg, server):
    pg.goto(f"{server}/small/search?q=老赖")
    pg.locator("a.ce-hit[href*='/findings/']").first.click()
    pg.wait_for_url(re.compile(r"/small/findings/\d+$"))
    pg.goto(f"{server}/small/search?q=你好")
    pg.locator("a.ce-hit").first.click()
    pg.wait_for_url(re.compile(r"/small/segment_context\?segment_id=\d+$"))
    assert pg.locator("audio").count() >= 1


def test_rule_and_model_ids_are_for_experts(pg, server):
    pg.goto(f"{server}/small/findings/1")
    main = pg.locator(".ce-why-box").inner_text()
    assert "ZH_" not in main
    assert pg.locator("details.ce-expert").count() == 1
    assert not pg.locator("details.ce-expert code").first.is_visible()


def test_under_password_the_lock_is_drawn_and_the_login_speaks_both_languages(
        browser, db, tmp_path):
    with serve(db, tmp_path / "cache", PASSWORD) as url:
        pg = browser.new_page(viewport=VIEWPORT)
        pg.goto(url + "/")
        body = pg.locator("body").inner_text()
        assert "Log in / 登录" in body and "密码" in body and "Forbidden" not in body
        pg.fill("input[name=password]", "wrong")
        pg.locator("form.ce-login button").click()
        assert "用户名或密码错误" in pg.locator(".ce-error").inner_text()
        pg.fill("input[name=password]", PASSWORD)
        pg.locator("form.ce-login button").click()
        pg.wait_for_url("**/-/call-evidence/overview/small")
        pg.goto(url + "/small")
        assert "🔒" not in pg.content() and pg.locator("svg.ce-lock").count() >= 1
        pg.close()


def test_the_overview_keeps_model_ids_for_experts(pg, server):
    pg.goto(f"{server}/-/call-evidence/overview/small")
    assert pg.title() == "Overview / 概览 — small"
    assert pg.locator("details.ce-expert").count() == 1
    assert pg.locator("h1").first.inner_text() == "Overview / 概览"  # nothing above it
    assert not pg.locator("code.ce-detection-line").is_visible()
