"""A real browser (headless Chromium) on a real Datasette serving the e2e database.

Opens the findings list, clicks through to a finding, checks its player plays
the right span, runs a Chinese search, and saves screenshots (to
``$CE_SCREENSHOTS`` when set, e.g. ``docs/screenshots`` via ``make screenshots``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.browse import serve_command

pytestmark = pytest.mark.slow

CHROMIUM = next((p for p in (os.environ.get("CE_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p), None)
playwright = pytest.importorskip("playwright.sync_api")
if CHROMIUM is None:
    pytest.skip("no Chromium found (apt-get install chromium, or make system-deps)",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(e2e, tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "CALL_EVIDENCE_CACHE": str(tmp_path_factory.mktemp("browse-cache"))}
    proc = subprocess.Popen(serve_command(e2e.db, port=port), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/-/versions.json", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(proc.stdout.read().decode())
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("CE_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page(server):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.requests_seen = []
        pg.on("request", lambda r: pg.requests_seen.append(r.url))
        yield pg
        browser.close()


def test_finding_list_click_through_and_play_the_span(page, server, e2e, shots):
    db = e2e.db.stem
    page.goto(f"{server}/{db}/findings_newest")
    page.screenshot(path=str(shots / "findings.png"), full_page=True)
    link = page.locator("td.col-finding_id a").first
    finding_id = int(link.inner_text())
    link.click()
    page.wait_for_url(re.compile(rf"/{db}/findings/{finding_id}$"))
    page.screenshot(path=str(shots / "finding.png"), full_page=True)
    audio = page.locator("audio").first
    src = audio.get_attribute("src")
    start, end, rid, total = sqlite3.connect(e2e.db).execute(
        'select f.start, f."end", f.recording_id, r.duration from findings f'
        ' join recordings r on r.id = f.recording_id where f.id = ?', [finding_id]).fetchone()
    m = re.search(rf"/clip/{rid}/(?P<a>[\d.]+)-(?P<b>[\d.]+)\.mp3$", src)
    assert m, src
    a, b = float(m["a"]), float(m["b"])
    assert a <= start and b >= end and start - a <= 1.01 and b - end <= 1.01
    duration = page.evaluate("""async (el) => {
        el.preload = 'auto'; el.load();
        await new Promise((ok, bad) => { el.onloadedmetadata = ok; el.onerror = bad; });
        return el.duration; }""", audio.element_handle())
    assert abs(duration - (min(b, total) - a)) < 0.3, (duration, a, b, total)


def test_chinese_search_highlights_the_hit(page, server, e2e, shots):
    db = e2e.db.stem
    page.goto(f"{server}/{db}/search")
    page.fill("textarea[name=q], input[name=q]", "老赖")
    page.locator("form input[type=submit]").first.click()
    page.wait_for_load_state()
    marks = page.locator("td.col-snippet mark")
    assert marks.count() >= 1 and marks.first.inner_text() == "老赖"
    page.screenshot(path=str(shots / "search.png"), full_page=True)
    page.goto(f"{server}/-/call-evidence/overview/{db}")
    assert page.locator("svg[aria-label='calls per day']").count() == 1
    page.screenshot(path=str(shots / "overview.png"), full_page=True)


def test_pages_make_no_outbound_requests(page, server):
    outside = [u for u in page.requests_seen if not u.startswith(server) and not u.startswith("data:")]
    assert page.requests_seen and outside == []
