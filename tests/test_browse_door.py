"""The door of each browse server (pipeline/browse/door.py, serve.py): its own
configuration, a login that makes a session, a logout that ends it, and nothing
served without it under --password.

In-process tests use Datasette's client; the servers are real ``browse``
processes (``serve_command``) started side by side, two with the same database
name, as issue 24 found them clashing; the cookie replay uses a real Chromium.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from datasette.app import Datasette

from pipeline.browse import metadata, password_env
from pipeline.browse.door import password_hash, password_mode
from tests.servers import CHROMIUM_ARGS, chromium
from tests.servers import serve as serving

PASSWORD = "right horse battery"


def login(ds, password: str = PASSWORD, username: str = "caseworker"):
    """Log in through the login page as a browser does (its form token and cookie)."""
    page = asyncio.run(ds.client.get("/-/login"))
    token = re.search(r'name="ce_token" value="([^"]+)"', page.text).group(1)
    return asyncio.run(ds.client.post("/-/login", data={
        "username": username, "password": password, "ce_token": token},
        cookies={"ce_login": page.cookies["ce_login"]}))


def get(ds, path, **kw):
    return asyncio.run(ds.client.get(path, **kw))


@pytest.fixture()
def locked(small_db, monkeypatch):
    monkeypatch.setenv(*next(iter(password_env(PASSWORD).items())))
    return Datasette([str(small_db)], metadata=metadata(small_db.stem, password=True))


def test_root_shows_a_bilingual_login_page_and_login_lands_on_the_overview(locked):
    root = get(locked, "/")
    assert root.status_code == 200
    assert "Log in / 登录" in root.text and "密码" in root.text and "Password" in root.text
    assert "Forbidden" not in root.text and "view-instance" not in root.text
    wrong = login(locked, "wrong")
    assert wrong.status_code == 403 and "ds_actor" not in wrong.cookies
    assert "Wrong user name or password. / 用户名或密码错误。" in wrong.text
    good = login(locked)
    assert good.status_code == 302 and good.headers["location"] == "/-/call-evidence/overview/small"
    cookie = {"ds_actor": good.cookies["ds_actor"]}
    assert get(locked, "/-/call-evidence/overview/small", cookies=cookie).status_code == 200
    home = get(locked, "/", cookies=cookie)  # the overview, not Datasette's list of tables
    assert home.status_code == 302 and home.headers["location"] == "/-/call-evidence/overview/small"


def test_login_without_its_form_token_is_refused(locked):
    r = asyncio.run(locked.client.post("/-/login", data={"username": "caseworker",
                                                          "password": PASSWORD}))
    assert r.status_code == 403 and "ds_actor" not in r.cookies
    assert "登录表单已过期" in r.text


def test_a_signed_cookie_without_a_live_session_opens_nothing(locked):
    """A cookie signed with the server's own secret but naming no session of this server
    (as an old version made, or one whose session ended) is not a login."""
    for actor in ({"id": "caseworker"}, {"id": "caseworker", "ce_sid": "made-up"}):
        cookie = locked.sign({"a": actor}, "actor")
        assert get(locked, "/small/findings", cookies={"ds_actor": cookie}).status_code == 403


def test_logout_ends_the_session_on_the_server(locked):
    good = login(locked)
    cookie = {"ds_actor": good.cookies["ds_actor"]}
    assert get(locked, "/small/findings", cookies=cookie).status_code == 200
    page = get(locked, "/-/logout", cookies=cookie)
    token = re.search(r'name="ce_token" value="([^"]+)"', page.text).group(1)
    out = asyncio.run(locked.client.post("/-/logout", data={"ce_token": token}, cookies=cookie))
    assert out.status_code == 302
    for path in ("/small/findings", "/-/call-evidence/overview/small", "/small.json"):
        assert get(locked, path, cookies=cookie).status_code == 403, path  # the copy is dead


def test_debug_pages_answer_nobody(small_db, locked):
    plain = Datasette([str(small_db)], metadata=metadata(small_db.stem))
    cookie = {"ds_actor": login(locked).cookies["ds_actor"]}
    for path in ("/-/allow-debug", "/-/permissions", "/-/allow-debug?actor=%7B%7D&allow=%7B%7D"):
        assert get(plain, path).status_code == 404, path
        assert get(locked, path).status_code in (403, 404), path
        assert get(locked, path, cookies=cookie).status_code == 404, path


def test_password_mode_fails_closed_without_its_login(small_db, monkeypatch):
    """Asked for a login (its own metadata says so) but holding no hash to check: nothing
    but static files answers, not even to a cookie that would once have passed."""
    monkeypatch.delenv("CALL_EVIDENCE_PASSWORD_HASH", raising=False)
    meta = metadata(small_db.stem, password=True)
    ds = Datasette([str(small_db)], metadata=meta)
    assert password_mode(ds) and password_hash(ds) is None
    forged = ds.sign({"a": {"id": "caseworker"}}, "actor")
    for path in ("/", "/small/findings", "/-/call-evidence/overview/small", "/-/versions.json"):
        for cookies in ({}, {"ds_actor": forged}):
            assert get(ds, path, cookies=cookies).status_code in (403, 503), path
    assert get(ds, "/-/static/app.css").status_code == 200


def test_every_datasette_route_needs_the_login(locked, small_db):
    """Every kind of page Datasette and the plugin serve, anonymous under --password:
    none answers but the login and static files."""
    rid = sqlite3.connect(small_db).execute("select id from recordings limit 1").fetchone()[0]
    paths = ["/", "/.json", "/small", "/small.json", "/small/findings", "/small/findings.csv",
             "/small/findings.json", "/small/findings/1", "/small/findings/1.json",
             "/small/findings_newest", "/small/findings_newest.csv", "/small/to_review.json",
             "/small/search?q=老赖", "/small?sql=select+1", "/small.json?sql=select+1",
             "/small/recordings", f"/small/recordings/{rid}", "/small/messages",
             "/-/versions", "/-/versions.json", "/-/plugins.json", "/-/settings.json",
             "/-/metadata.json", "/-/databases.json", "/-/actor.json", "/-/threads.json",
             "/-/messages", "/-/config", "/-/allow-debug", "/-/permissions",
             "/-/call-evidence/overview/small", f"/-/call-evidence/audio/{rid}.mp3",
             f"/-/call-evidence/clip/{rid}/0.50-3.00.mp3", "/-/call-evidence/review/small",
             "/-/password-tool", "/-/patterns", "/-/create-token", "/-/api", "/-/auth-token",
             "/small.db", "/:memory:", "/-/config.json", "/-/metadata", "/-/threads"]
    opened = {"/-/login", "/-/logout", "/favicon.ico"}
    for regex, _view in locked._routes():  # every route Datasette has, ours included
        if "static" in regex.pattern:
            continue
        assert any(regex.match(p) for p in [*paths, *opened]), f"no test path for {regex.pattern}"
    for path in paths:
        r = get(locked, path)
        if path == "/":  # the login page itself
            assert r.status_code == 200 and 'action="/-/login"' in r.text
        else:
            assert r.status_code in (403, 404), (path, r.status_code)
        assert "老赖" not in r.text and "13812345678" not in r.text, path
    assert get(locked, "/-/login").status_code == 200
    assert get(locked, "/-/static-plugins/call-evidence/ce.css").status_code == 200


# ---------------------------------------------------------------- real servers side by side
def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def _status(url: str, cookie: str | None = None) -> int:
    req = urllib.request.Request(url, headers={"cookie": f"ds_actor={cookie}"} if cookie else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


def server_login(url: str, password: str) -> str:
    """Log in to a running server with urllib, as a form would; the ``ds_actor`` cookie."""
    with urllib.request.urlopen(url + "/-/login", timeout=30) as r:
        page = r.read().decode()
        csrf = re.search(r"ce_login=([^;]+)", r.headers["set-cookie"]).group(1)
    token = re.search(r'name="ce_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": "caseworker", "password": password,
                                   "ce_token": token}).encode()
    opener = urllib.request.build_opener(_NoRedirect)
    req = urllib.request.Request(url + "/-/login", data=body, headers={"cookie": f"ce_login={csrf}"})
    try:
        opener.open(req, timeout=30)
    except urllib.error.HTTPError as e:
        assert e.code == 302, e.code
        return re.search(r"ds_actor=([^;]+)", e.headers["set-cookie"]).group(1)
    raise AssertionError("no redirect after login")


def server_logout(url: str, cookie: str) -> None:
    """Log out as the logout page's button does."""
    req = urllib.request.Request(url + "/-/logout", headers={"cookie": f"ds_actor={cookie}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        token = re.search(r'name="ce_token" value="([^"]+)"', r.read().decode()).group(1)
    body = urllib.parse.urlencode({"ce_token": token}).encode()
    req = urllib.request.Request(url + "/-/logout", data=body, headers={"cookie": f"ds_actor={cookie}"})
    try:
        urllib.request.build_opener(_NoRedirect).open(req, timeout=30)
    except urllib.error.HTTPError as e:
        assert e.code == 302, e.code


def test_servers_side_by_side_keep_their_own_doors(small_db, tmp_path):
    """Four servers start at once: a password and an open one on two files both called
    evidence.db, and on two files of other names.  Each keeps its own door; none leaves
    its configuration in a file another can rewrite."""
    same_a = _copy(small_db, tmp_path / "a" / "evidence.db")
    same_b = _copy(small_db, tmp_path / "b" / "evidence.db")
    other_a = _copy(small_db, tmp_path / "c" / "alpha.db")
    other_b = _copy(small_db, tmp_path / "d" / "beta.db")
    plan = [(same_a, "pw one"), (same_b, None), (other_a, None), (other_b, "pw two")]
    started = time.time() - 1
    cache = tmp_path / "cache"
    with ExitStack() as stack, ThreadPoolExecutor(4) as pool:
        urls = list(pool.map(lambda p: stack.enter_context(serving(p[0], cache, p[1])), plan))
        for (db, password), url in zip(plan, urls, strict=True):
            name = db.stem
            paths = ["/", f"/{name}/findings.json", f"/-/call-evidence/overview/{name}",
                     f"/-/call-evidence/audio/{'a' * 64}.mp3", "/-/allow-debug"]
            if password:
                for path in paths[1:]:
                    assert _status(url + path) in (403, 404), (url, path)
                with urllib.request.urlopen(url + "/", timeout=30) as r:  # the login page
                    assert 'action="/-/login"' in r.read().decode()
                cookie = server_login(url, password)
                assert _status(url + f"/{name}/findings.json", cookie) == 200
                assert _status(url + f"/-/call-evidence/overview/{name}", cookie) == 200
            else:
                assert _status(url + f"/{name}/findings.json") == 200, url
                assert _status(url + f"/-/call-evidence/overview/{name}") == 200, url
                assert _status(url + "/-/allow-debug") == 404
                with urllib.request.urlopen(url + "/", timeout=30) as r:  # no login page
                    assert "/overview/" in r.url
        # no login works across servers, not even between the two evidence.db
        cookie = server_login(urls[0], "pw one")
        assert _status(urls[3] + "/beta/findings.json", cookie) == 403
        # logging out of one ends that session only there; a copy of its cookie is refused
        other = server_login(urls[3], "pw two")
        server_logout(urls[0], cookie)
        assert _status(urls[0] + "/evidence/findings.json", cookie) == 403
        assert _status(urls[0] + f"/-/call-evidence/audio/{'a' * 64}.mp3", cookie) == 403
        assert _status(urls[3] + "/beta/findings.json", other) == 200
    assert not list(cache.rglob("*metadata*"))  # nothing written to a shared cache
    # and no server's private configuration outlives it (each was removed once read)
    import tempfile

    assert not [p for p in Path(tempfile.gettempdir()).glob("call-evidence-browse-*.json")
                if p.stat().st_mtime >= started]


@pytest.mark.skipif(chromium() is None, reason="no Chromium (make system-deps)")
def test_a_cookie_copied_before_logout_is_refused_after_it(small_db, tmp_path):
    """In a real browser: log in, copy the ds_actor cookie, log out with the menu's button;
    the copy then opens neither the overview nor the audio."""
    playwright = pytest.importorskip("playwright.sync_api")

    rid = sqlite3.connect(small_db).execute("select id from recordings limit 1").fetchone()[0]
    with serving(small_db, tmp_path / "cache", PASSWORD) as url, \
            playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        pg = browser.new_page()
        pg.goto(url + "/")
        assert "登录" in pg.locator("h1, button").all_inner_texts()[-1]
        pg.fill("input[name=password]", PASSWORD)
        pg.locator("form.ce-login button").click()
        pg.wait_for_url("**/overview/small")
        copied = next(c["value"] for c in pg.context.cookies() if c["name"] == "ds_actor")
        for path in ("/-/call-evidence/overview/small", f"/-/call-evidence/audio/{rid}.mp3"):
            assert _status(url + path, copied) == 200, path
        pg.goto(url + "/-/logout")
        pg.locator("form button").click()
        pg.wait_for_load_state()
        assert "Log in / 登录" in pg.content()
        for path in ("/-/call-evidence/overview/small", f"/-/call-evidence/audio/{rid}.mp3",
                     "/small/findings.json"):
            assert _status(url + path, copied) == 403, path
        browser.close()


def test_a_missing_csrf_token_gets_a_bilingual_answer(small_db):
    """asgi-csrf refuses a form whose token is missing with a terse English line; the page
    says in both languages that nothing changed and what to do."""
    ds = Datasette([str(small_db)], metadata=metadata(small_db.stem))
    page = get(ds, "/small/findings/1")
    r = asyncio.run(ds.client.post("/-/call-evidence/review/small", data={"verdict": "1:dismissed"},
                                   cookies=dict(page.cookies)))
    assert r.status_code == 403
    assert "Nothing was changed" in r.text and "未作任何更改" in r.text and "security cookie" in r.text
    assert "form-urlencoded POST field did not match cookie" not in r.text
    assert sqlite3.connect(small_db).execute("select count(*) from finding_reviews").fetchone() == (0,)


def test_a_second_refused_page_does_not_spoil_the_login_form(locked):
    """A browser that opens the login, then (another tab) a protected page, can still log in
    with the first form: the login token is kept, not replaced, while the browser has one."""
    page = get(locked, "/-/login")
    token = re.search(r'name="ce_token" value="([^"]+)"', page.text).group(1)
    jar = {"ce_login": page.cookies["ce_login"]}
    other = get(locked, "/small/findings", cookies=jar)
    assert other.status_code == 403 and other.cookies.get("ce_login", jar["ce_login"]) == jar["ce_login"]
    r = asyncio.run(locked.client.post("/-/login", data={
        "username": "caseworker", "password": PASSWORD, "ce_token": token}, cookies=jar))
    assert r.status_code == 302 and "ds_actor" in r.cookies
