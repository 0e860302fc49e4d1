"""A real browser (headless Chromium) on a real Datasette serving the e2e database.

Opens the findings lists at 1366 × 900 (five findings on the first screen, no
sideways scrolling), clicks through to a finding, checks its player plays the
whole sentence, reviews findings with the buttons (also while ``watch`` holds
the database), logs in under ``--password``, runs Chinese searches (transcripts
and text messages), and saves screenshots (to ``$CE_SCREENSHOTS`` when set,
e.g. ``docs/screenshots`` via ``make screenshots``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline.store import PAUSE_BEFORE_COMMIT_ENV

from .servers import serve as serving

pytestmark = pytest.mark.slow

CHROMIUM = next((p for p in (os.environ.get("CE_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p), None)
playwright = pytest.importorskip("playwright.sync_api")
if CHROMIUM is None:
    pytest.skip("no Chromium found (apt-get install chromium, or make system-deps)",
                allow_module_level=True)

VIEWPORT = {"width": 1366, "height": 900}


def copy_db(src: Path, dst: Path) -> Path:
    """A consistent copy (SQLite's backup), so tests that write never touch the shared e2e run."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


@pytest.fixture(scope="module")
def server(e2e, tmp_path_factory):
    with serving(e2e.db, tmp_path_factory.mktemp("browse-cache")) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("CE_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser):
    pg = browser.new_page(viewport=VIEWPORT)
    pg.requests_seen = []
    pg.on("request", lambda r: pg.requests_seen.append(r.url))
    yield pg
    pg.close()


def test_findings_lists_fit_the_first_screen(page, server, e2e, shots):
    """At 1366 × 900: at least five findings visible at once and no sideways scrolling."""
    db = e2e.db.stem
    for path in (f"/{db}/findings", f"/{db}/findings_newest", f"/{db}/to_review"):
        page.goto(server + path)
        rows = page.locator("table.ce-findings tbody tr")
        assert rows.count() >= 5, path
        visible = page.evaluate("""() => [...document.querySelectorAll('table.ce-findings tbody tr')]
            .filter(r => r.getBoundingClientRect().bottom <= window.innerHeight).length""")
        assert visible >= 5, (path, visible)
        widths = page.evaluate("""() => [document.documentElement.scrollWidth,
            document.querySelector('.table-wrapper').scrollWidth,
            document.querySelector('.table-wrapper').clientWidth, window.innerWidth]""")
        # neither the page nor the table's own scroll box scrolls sideways (it was 2,150 px wide)
        assert widths[0] <= widths[3] and widths[1] <= widths[2], (path, widths)
        text = page.locator("table.ce-findings").inner_text()
        assert '"instrument"' not in text and "[{" not in text  # no raw JSON
        # each row says why it was flagged in a short badge under its number (issue 13)
        assert page.locator("table.ce-findings tbody tr td:first-child .ce-why").count() == rows.count()
        if path.endswith("findings_newest"):
            page.screenshot(path=str(shots / "findings.png"))


def test_finding_list_click_through_and_play_the_whole_sentence(page, server, e2e, shots):
    db = e2e.db.stem
    page.goto(f"{server}/{db}/findings_newest")
    link = page.locator("td.col-finding_id a").first
    finding_id = int(re.search(r"/findings/(\d+)$", link.get_attribute("href")).group(1))
    link.click()
    page.wait_for_url(re.compile(rf"/{db}/findings/{finding_id}$"))
    assert page.locator(".ce-status").first.inner_text() == "To review / 待核查"
    why = page.locator(".ce-why-box").inner_text()
    assert "Why flagged / 标记原因" in why and ("A rule " in why or "No rule matched" in why)
    for label in ("Confirm / 确认", "Dismiss / 排除", "These are my own words / 这是我说的"):
        assert page.get_by_role("button", name=label).count() == 1
    audio = page.locator("audio").first
    src = audio.get_attribute("src")
    start, end, rid, total, s_start, s_end = sqlite3.connect(e2e.db).execute(
        'select f.start, f."end", f.recording_id, r.duration, s.start, s."end" from findings f'
        " join recordings r on r.id = f.recording_id join segments s on s.id = f.segment_id"
        " where f.id = ?", [finding_id]).fetchone()
    m = re.search(rf"/clip/{rid}/(?P<a>[\d.]+)-(?P<b>[\d.]+)\.mp3$", src)
    assert m, src
    a, b = float(m["a"]), float(m["b"])
    assert a <= min(start, s_start) and b >= max(end, s_end)  # the whole sentence and the words
    duration = page.evaluate("""async (el) => {
        el.preload = 'auto'; el.load();
        await new Promise((ok, bad) => { el.onloadedmetadata = ok; el.onerror = bad; });
        return el.duration; }""", audio.element_handle())
    assert duration >= min(s_end, total) - s_start - 0.05  # decoded: at least the sentence
    assert abs(duration - (min(b, total) - a)) < 0.3, (duration, a, b, total)


def test_chinese_search_highlights_the_hit(page, server, e2e, shots):
    db = e2e.db.stem
    page.goto(f"{server}/{db}/search")
    assert page.get_by_label("Words to find / 要找的词").count() == 1
    page.fill("input[name=q]", "老赖")
    page.locator("form.ce-params input[type=submit]").click()
    page.wait_for_load_state()
    marks = page.locator("td.col-snippet mark")
    assert marks.count() >= 1 and marks.first.inner_text() == "老赖"
    body = page.locator("body").inner_text()
    for jargon in ("Custom SQL query", "Run SQL", "Edit SQL", "Log in"):
        assert jargon not in body, jargon
    page.goto(f"{server}/-/call-evidence/overview/{db}")
    assert page.locator("svg[aria-label='calls per day']").count() == 1
    assert "Third-party contact and disclosure / 联系第三方 / 爆通讯录" in page.locator("body").inner_text()
    page.screenshot(path=str(shots / "overview.png"), full_page=True)


def test_pages_make_no_outbound_requests(page, server):
    outside = [u for u in page.requests_seen if not u.startswith(server) and not u.startswith("data:")]
    assert page.requests_seen and outside == []


# ------------------------------------------------------------- reviewing (issue 15)
@pytest.fixture()
def review_db(e2e, tmp_path) -> Path:
    """A copy of the e2e database with two text messages added (scanned by the real rules)."""
    from pipeline.calls import callstore
    from pipeline.detect import Detector
    from pipeline.store import Store
    from pipeline.textscan import read_messages, scan

    db = copy_db(e2e.db, tmp_path / "evidence.db")
    store = Store(db)
    messages = read_messages("date,number,text\n2026-11-05 08:00,13912345678,你这个老赖，赶紧还钱\n"
                             "2026-11-06 09:00,13912345678,明天上门找你家人\n")
    callstore.save_messages(store, "sms.csv", messages, scan(messages, Detector()))
    store.close()
    return db


def _verdicts(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("select recording_id, rule_id, status, note, reviewed_by from finding_reviews"
                         " order by id").fetchall()


def test_review_in_the_browser_reaches_the_report_and_survives_reruns(
        browser, review_db, e2e, fw_engine, tmp_path, shots):
    """Open a finding, Dismiss with a note, see the status change; the verdict is in
    finding_reviews, the next report leaves the finding out, and re-running transcribe and
    detect keeps it."""
    from pipeline.flow import Options, Pipeline, redetect
    from pipeline.report import ReportOptions, Scope, build_report

    db = review_db.stem
    pg = browser.new_page(viewport=VIEWPORT)
    with serving(review_db, tmp_path / "cache") as url:
        pg.goto(f"{url}/{db}/to_review")
        assert "Log in" not in pg.locator("body").inner_text()  # no accounts, no login menu
        pg.screenshot(path=str(shots / "to-review.png"))
        first = pg.locator("table.ce-findings tbody tr").first
        target = int(first.locator("td.col-finding_id a").inner_text().lstrip("#"))
        # confirm another finding straight from the list, with a note
        second = pg.locator("table.ce-findings tbody tr").nth(1)
        other = int(second.locator("td.col-finding_id a").inner_text().lstrip("#"))
        second.locator("input.ce-note-input").fill("Checked by listening")
        second.get_by_role("button", name="Confirm / 确认").click()
        pg.wait_for_load_state()
        assert pg.locator(f"#finding-{other}").count() == 0  # reviewed: off the to-review list
        # open the first one and dismiss it with a note
        pg.locator(f"td.col-finding_id a[href$='/findings/{target}']").click()
        pg.wait_for_url(re.compile(rf"/findings/{target}$"))
        pg.screenshot(path=str(shots / "finding.png"), full_page=True)
        note = "Misheard: it was me repeating what they said"
        pg.fill("textarea[name=note]", note)
        pg.get_by_role("button", name="Dismiss / 排除").click()
        pg.wait_for_url(re.compile(rf"/findings/{target}#finding-{target}$"))
        assert pg.locator("h1 .ce-status").inner_text() == "Dismissed / 已排除"
        assert note in pg.locator(".ce-verdict").inner_text()
        who = pg.locator(".ce-verdict").inner_text()
        assert "this computer (browser, no login) / 本机浏览器（未登录）" in who
    pg.close()
    with sqlite3.connect(review_db) as c:
        rule = c.execute("select recording_id, rule_id from findings where id = ?", [target]).fetchone()
        statuses = dict(c.execute("select id, review_status from findings where id in (?, ?)",
                                  [target, other]))
    assert statuses == {target: "dismissed", other: "confirmed"}
    verdicts = _verdicts(review_db)
    assert (*rule, "dismissed", note, "local-browser") in verdicts
    with sqlite3.connect(review_db) as c:  # one sentence, one review: its other rules too
        covered = c.execute("select count(*) from findings where segment_id in (select segment_id"
                            " from findings where id in (?, ?))", [target, other]).fetchone()[0]
    assert len(verdicts) == covered and ("confirmed", "Checked by listening") in [
        v[2:4] for v in verdicts]

    # the next report: the dismissed finding is left out, the confirmed one says so
    result = build_report(review_db, tmp_path / "reports", Scope(),
                          ReportOptions(languages=("en",), pdf=False, include_originals=False,
                                        make_zip=False, all_in_one=True))  # CN and US calls
    html = result.html[0].read_text(encoding="utf-8")
    assert f'data-finding-id="{target}"' not in html
    row = re.search(rf'<tr class="finding-row" data-finding-id="{other}"[^>]*>.*?</tr>', html, re.S)
    # the report shows the browser's verdict with its note and who gave it (Store.review_matches)
    assert row and "confirmed" in row.group(0) and "Checked by listening" in row.group(0)
    assert "by this computer (browser, no login)" in row.group(0)
    manifest = json.loads((result.folder / "manifest.json").read_text(encoding="utf-8"))
    with sqlite3.connect(review_db) as c:  # the target and the other rules on its sentence
        dismissed = c.execute("select count(*) from findings where review_status = 'dismissed'"
                              ).fetchone()[0]
    assert dismissed >= 1 and manifest["report_settings"]["dismissed_left_out"] == dismissed

    # re-detection and re-transcription rebuild the findings (new ids): the verdicts stay
    def kept() -> set:
        with sqlite3.connect(review_db) as c:
            return set(c.execute("select recording_id, rule_id, review_status from findings"
                                 " where review_status != 'unreviewed'"))

    before = kept()
    assert len(before) >= 2
    redetect(review_db)
    assert kept() == before
    with sqlite3.connect(review_db) as c:  # as if that recording's last run was interrupted
        c.execute("update recordings set status = 'pending' where id = ?", [rule[0]])
    summary = Pipeline(Options(cache_dir=tmp_path / "rerun-cache"), engine=fw_engine).run(
        e2e.folder, review_db, progress=False)
    assert summary.processed >= 1
    assert kept() == before
    assert len(_verdicts(review_db)) == covered


def test_chinese_search_finds_text_messages_in_the_browser(browser, review_db, tmp_path, shots):
    db = review_db.stem
    pg = browser.new_page(viewport=VIEWPORT)
    with serving(review_db, tmp_path / "cache") as url:
        pg.goto(f"{url}/{db}/messages")
        pg.fill("#_search", "老赖")
        pg.locator("form.filters input[type=submit]").click()
        pg.wait_for_load_state()
        assert pg.locator("#_search").input_value() == "老赖"
        texts = pg.locator("td.col-text").all_inner_texts()
        assert texts == ["你这个老赖，赶紧还钱"]
        assert '""' not in pg.locator("h3").first.inner_text()
        pg.goto(f"{url}/{db}/search?q=老赖")
        kinds = pg.locator("td.col-kind").all_inner_texts()
        assert "message / 短信" in kinds and "call / 通话" in kinds
        assert pg.locator("td.col-snippet mark").all_inner_texts() == ["老赖"] * len(kinds)
        pg.screenshot(path=str(shots / "search.png"), full_page=True)
    pg.close()


def test_reviews_succeed_while_watch_is_processing(browser, review_db, tmp_path):
    """A running ``watch`` holds the write lock while it commits a recording (here for 4 s,
    the test-only pause inside its transaction); a verdict given meanwhile waits and is saved,
    and the watcher commits its recording too."""
    import numpy as np

    from pipeline.normalise import save_wav

    drop = tmp_path / "drop"
    drop.mkdir()
    t = np.arange(16000 * 3) / 16000
    save_wav(drop / "13700000000_20261107101500.wav", 0.2 * np.sin(2 * np.pi * 440 * t))
    env = {**os.environ, PAUSE_BEFORE_COMMIT_ENV: "4"}
    watcher = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "watch", str(drop), "--db",
                                str(review_db), "--interval", "0.3", "--stable-polls", "2"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = review_db.stem
    pg = browser.new_page(viewport=VIEWPORT)
    try:
        with serving(review_db, tmp_path / "cache") as url:
            fid = int(sqlite3.connect(review_db).execute(
                "select min(id) from findings where review_status = 'unreviewed'").fetchone()[0])
            pg.goto(f"{url}/{db}/findings/{fid}")
            deadline = time.monotonic() + 240
            for line in watcher.stderr:  # wait until the watcher is inside its transaction
                if "TEST: pausing before commit" in line:
                    break
                assert time.monotonic() < deadline and watcher.poll() is None, line
            t0 = time.monotonic()
            pg.fill("textarea[name=note]", "reviewed while watch was running")
            pg.get_by_role("button", name="Confirm / 确认").click()
            pg.wait_for_url(re.compile(rf"/findings/{fid}#finding-{fid}$"), timeout=60_000)
            waited = time.monotonic() - t0
            assert pg.locator("h1 .ce-status").inner_text() == "Confirmed / 已确认"
        for _ in range(100):  # the watcher's recording is committed after the pause
            with sqlite3.connect(review_db) as c:
                if c.execute("select status from recordings where file_name = ?",
                             ["13700000000_20261107101500.wav"]).fetchone() == ("done",):
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("the watcher never committed its recording")
    finally:
        pg.close()
        watcher.send_signal(signal.SIGINT)
        try:
            watcher.wait(60)
        except subprocess.TimeoutExpired:
            watcher.kill()
    assert watcher.returncode == 0
    assert waited > 1.0  # the verdict really waited for the watcher's lock
    assert ("confirmed", "reviewed while watch was running") in [v[2:4] for v in _verdicts(review_db)]


def test_password_protects_every_page_and_the_login_opens_them(browser, e2e, tmp_path, shots):
    rid = sqlite3.connect(e2e.db).execute("select id from recordings where status = 'done' limit 1"
                                          ).fetchone()[0]
    db = e2e.db.stem
    paths = [f"/-/call-evidence/overview/{db}", f"/-/call-evidence/audio/{rid}.mp3",
             f"/-/call-evidence/clip/{rid}/0.00-2.00.mp3", f"/{db}/findings"]
    with serving(e2e.db, tmp_path / "cache", password="a long passphrase") as url:
        for path in paths:
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url + path, timeout=30)
            assert e.value.code == 403, path
        pg = browser.new_page(viewport=VIEWPORT)
        pg.goto(f"{url}/")  # no login: the bilingual login page, not "Forbidden"
        assert "Log in / 登录" in pg.locator("body").inner_text()
        pg.screenshot(path=str(shots / "login.png"))
        pg.fill("input[name=username]", "caseworker")
        pg.fill("input[name=password]", "wrong")
        pg.locator("form.ce-login button").click()
        assert "用户名或密码错误" in pg.locator(".ce-error").inner_text()  # waits for the answer
        assert pg.request.get(url + paths[0]).status == 403
        pg.fill("input[name=username]", "caseworker")
        pg.fill("input[name=password]", "a long passphrase")
        pg.locator("form.ce-login button").click()
        pg.wait_for_url(f"**/-/call-evidence/overview/{db}")  # lands on the overview
        for path in paths:
            assert pg.request.get(url + path).status == 200, path
        pg.goto(url + paths[0])
        assert "Overview / 概览" in pg.locator("h1").inner_text()
        pg.close()


def test_a_recording_page_reads_plainly(page, server, e2e, shots):
    """The call's own page: file, number, time, length, the whole call and its findings in
    both languages; no hash as its title (issue 24)."""
    db = e2e.db.stem
    rid = sqlite3.connect(e2e.db).execute(
        "select r.id from recordings r join findings f on f.recording_id = r.id"
        " group by r.id order by count(*) desc limit 1").fetchone()[0]
    page.goto(f"{server}/{db}/recordings/{rid}")
    assert rid not in page.locator("h1").inner_text() and "Call / 通话" in page.title()
    facts = page.locator("dl.ce-facts").inner_text()
    assert "File / 文件" in facts and "Length / 时长" in facts
    assert page.locator(".ce-whole-call audio").count() == 1
    assert page.locator("table.ce-call-findings tr").count() >= 2
    page.screenshot(path=str(shots / "recording.png"), full_page=True)
