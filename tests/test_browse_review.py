"""Review verdicts from the browser (pipeline/browse/review.py), through Datasette's test
client on a small database written by the real Store: the forms, what is stored, and
every way a bad or hostile request is refused without changing anything."""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner
from datasette.app import Datasette

from pipeline.browse import metadata, metadata_for, password_env
from pipeline.browse.review import form_token
from pipeline.cli import cli
from tests.test_browse_door import login

REVIEW = "/-/call-evidence/review/small"


@pytest.fixture()
def ds(small_db):
    return Datasette([str(small_db)], metadata=metadata_for(small_db))


def get(ds, path, **kw):
    return asyncio.run(ds.client.get(path, **kw))


def post(ds, data, cookies=None, headers=None, path=REVIEW):
    return asyncio.run(ds.client.post(path, data=data, cookies=cookies or {}, headers=headers or {}))


def open_finding(ds, fid: int, cookies=None):
    """The finding page, the cookies a browser would keep, and the review form's hidden fields."""
    r = get(ds, f"/small/findings/{fid}", cookies=cookies or {})
    assert r.status_code == 200, r.text[:300]
    kept = {**(cookies or {}), **dict(r.cookies)}
    fields = {k: html.unescape(v) for k, v in re.findall(
        r'<input type="hidden" name="(csrftoken|token|next)" value="([^"]*)"', r.text)}
    assert set(fields) == {"csrftoken", "token", "next"}
    return r, kept, fields


def state(db) -> tuple:
    c = sqlite3.connect(db)
    try:
        return (c.execute("select * from finding_reviews order by id").fetchall(),
                c.execute("select id, review_status from findings order by id").fetchall())
    finally:
        c.close()


def test_dismiss_with_a_note_from_the_finding_page(ds, small_db):
    _, cookies, fields = open_finding(ds, 1)
    r = post(ds, {**fields, "verdict": "1:dismissed", "note": "Misheard: she said 老李"}, cookies)
    assert r.status_code == 303 and r.headers["location"] == "/small/findings/1#finding-1"
    row = sqlite3.connect(small_db).execute(
        "select status, note, reviewed_by, reviewed_at, reason from finding_reviews").fetchone()
    # who: a neutral code, worded per language where it is shown (pipeline/reviewers.py)
    assert row[:3] == ("dismissed", "Misheard: she said 老李", "local-browser")
    assert row[3].startswith("20") and row[4] is None
    page = get(ds, "/small/findings/1", cookies={**cookies, **dict(r.cookies)}).text
    assert 'data-status="dismissed"' in page and "Misheard: she said 老李" in page
    assert "this computer (browser, no login) / 本机浏览器（未登录）" in page
    # one sentence, one review: #2 and #3 are other rules on the same sentence (issue 24)
    assert "#1, #2, #3: Dismissed / 已排除" in page  # the flash message after the redirect
    assert dict(state(small_db)[1])[2] == dict(state(small_db)[1])[3] == "dismissed"
    assert dict(state(small_db)[1])[4] == "unreviewed"  # another sentence
    # the lists show it at once, and it is no longer to review
    assert "ce-status-dismissed" in get(ds, "/small/findings_newest").text
    assert 1 not in [f["finding_id"] for f in get(ds, "/small/to_review.json?_shape=array").json()]


def test_own_words_then_reset(ds, small_db):
    _, cookies, fields = open_finding(ds, 2)
    assert post(ds, {**fields, "verdict": "2:own_words", "note": ""}, cookies).status_code == 303
    assert sqlite3.connect(small_db).execute("select status, note, reason from finding_reviews"
                                             ).fetchone() == (
        "dismissed", "These are my own words / 这是我说的", "own_words")
    page, cookies, fields = open_finding(ds, 2, cookies)
    assert "These are my own words / 这是我说的" in page.text and "2:unreviewed" in page.text
    assert post(ds, {**fields, "verdict": "2:unreviewed"}, cookies).status_code == 303
    # kept, in order; one sentence (#1, #2, #3) is one review item (issue 24)
    assert [r[7] for r in state(small_db)[0]] == ["dismissed"] * 3 + ["unreviewed"] * 3
    assert dict(state(small_db)[1])[2] == "unreviewed"


@pytest.mark.parametrize("path", ["/small/findings", "/small/findings_newest", "/small/to_review",
                                  "/small/findings_by_category?category=&severity=",
                                  "/small/findings_for_number?phone_number=13812345678"])
def test_every_findings_list_has_working_buttons(ds, small_db, path):
    r = get(ds, path)
    page = r.text
    form = re.search(r'<form id="ce-review-form" method="post" action="([^"]+)" hidden>(.*?)</form>',
                     page, re.S)
    assert form and form.group(1) == REVIEW
    hidden = {k: html.unescape(v) for k, v in re.findall(
        r'<input type="hidden" name="(csrftoken|next)" value="([^"]*)"', form.group(2))}
    assert hidden["next"] == path.replace("?", "?", 1)
    ids = sorted({int(i) for i in re.findall(r'name="verdict" value="(\d+):dismissed"', page)})
    assert ids and all(f'form="ce-review-form" name="token-{i}"' in page for i in ids)
    for label in ("Confirm / 确认", "Dismiss / 排除", "My own words / 这是我说的"):
        assert label in page
    fid = ids[0]
    token = html.unescape(re.search(rf'name="token-{fid}" value="([^"]+)"', page).group(1))
    sent = post(ds, {**hidden, f"token-{fid}": token, f"note-{fid}": "checked by listening",
                     "verdict": f"{fid}:confirmed"}, dict(r.cookies))
    assert sent.status_code == 303 and sent.headers["location"] == f"{path}#finding-{fid}"
    c = sqlite3.connect(small_db)
    sentence = c.execute("select count(*) from findings where segment_id = (select segment_id from"
                         " findings where id = ?)", [fid]).fetchone()[0]
    assert c.execute("select status, note from finding_reviews").fetchall() \
        == [("confirmed", "checked by listening")] * sentence  # one sentence, one review


def test_to_review_is_worst_first_and_counted_on_the_overview(ds):
    rows = get(ds, "/small/to_review.json?_shape=array").json()
    # one item per sentence, its most serious finding first (#5, #6 critical and #7 low share
    # a sentence; #1, #2, #3 another)
    assert [r["severity"] for r in rows] == ["critical", "high", "high"]
    assert [r["finding_ids"] for r in rows] == ["5,6,7", "1,2,3", "4"]
    assert "7 findings to review" in re.sub(r"<[^>]+>", "", get(ds, "/-/call-evidence/overview/small").text)
    page = get(ds, "/small/to_review").text
    assert page.count("<audio controls") == 3 and page.count('value="1:dismissed"') == 1
    assert "ce-also" in page  # the sentence's other categories, listed with it


def test_a_note_with_markup_is_kept_as_text_and_shown_escaped(ds, small_db):
    _, cookies, fields = open_finding(ds, 3)
    note = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    assert post(ds, {**fields, "verdict": "3:dismissed", "note": note}, cookies).status_code == 303
    assert sqlite3.connect(small_db).execute("select note from finding_reviews").fetchone()[0] == note
    for path in ("/small/findings/3", "/small/finding_reviews"):
        page = get(ds, path).text
        assert "<script>alert(" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(" in page


def _bad(ds, fields, cookies, case):
    """One hostile or broken request, built from a good form."""
    f = {**fields, "verdict": "1:dismissed", "note": "n"}
    if case == "unknown id":
        return post(ds, {**f, "verdict": "999:dismissed", "token": form_token(ds, 999, "unreviewed")},
                    cookies)
    if case == "1 MB note":
        return post(ds, {**f, "note": "长" * 1_000_000}, cookies)
    if case == "note over 2000 characters":
        return post(ds, {**f, "note": "x" * 2001}, cookies)
    if case == "no CSRF field":
        return post(ds, {k: v for k, v in f.items() if k != "csrftoken"}, cookies)
    if case == "no cookies":
        return post(ds, f, {})
    if case == "CSRF of another browser":
        other = dict(get(ds, "/small/findings/1").cookies)
        return post(ds, f, other)
    if case == "tampered token":
        return post(ds, {**f, "token": f["token"][:-3] + "AAA"}, cookies)
    if case == "token of another finding":
        return post(ds, {**f, "verdict": "2:dismissed"}, cookies)
    if case == "token from another server":
        other = Datasette([])
        return post(ds, {**f, "token": form_token(other, 1, "unreviewed")}, cookies)
    if case == "unknown verdict":
        return post(ds, {**f, "verdict": "1:deleted"}, cookies)
    if case == "no verdict":
        return post(ds, {k: v for k, v in f.items() if k != "verdict"}, cookies)
    if case == "json body":
        return asyncio.run(ds.client.post(REVIEW, json=f, cookies=cookies))
    if case == "from another site":
        return post(ds, f, cookies, headers={"origin": "http://evil.example"})
    if case == "unknown database":
        return post(ds, f, cookies, path="/-/call-evidence/review/nope")
    raise AssertionError(case)


BAD = {"unknown id": 404, "1 MB note": 413, "note over 2000 characters": 413, "no CSRF field": 403,
       "no cookies": 403, "CSRF of another browser": 403, "tampered token": 400,
       "token of another finding": 400, "token from another server": 400, "unknown verdict": 400,
       "no verdict": 400, "json body": 403, "from another site": 403, "unknown database": 404}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_and_changes_nothing(ds, small_db, case):
    _, cookies, fields = open_finding(ds, 1)
    before = state(small_db)
    r = _bad(ds, fields, cookies, case)
    assert r.status_code == BAD[case], (case, r.status_code, r.text[:300])
    assert len(r.text) < 5000
    # asgi-csrf's own words, or ours
    assert ("Nothing was changed" in r.text or "did not match cookie" in r.text
            or "Unknown content-type" in r.text)
    assert state(small_db) == before
    # and the good form still works afterwards (nothing was used up by the refusal)
    if case != "from another site":
        assert post(ds, {**fields, "verdict": "1:dismissed"}, cookies).status_code == 303


def test_a_form_sent_twice_or_after_someone_else_reviewed_is_refused(ds, small_db):
    _, cookies, fields = open_finding(ds, 1)
    _, cookies2, fields2 = open_finding(ds, 1, cookies)  # a second tab, same finding
    assert post(ds, {**fields, "verdict": "1:confirmed"}, cookies).status_code == 303
    after = state(small_db)
    replay = post(ds, {**fields, "verdict": "1:confirmed"}, cookies)
    assert replay.status_code == 409 and "already sent" in replay.text
    stale = post(ds, {**fields2, "verdict": "1:dismissed"}, cookies2)
    assert stale.status_code == 409 and "now confirmed, not unreviewed" in stale.text
    assert state(small_db) == after


def test_under_password_only_the_logged_in_caseworker_reviews(small_db, monkeypatch):
    monkeypatch.setenv(*next(iter(password_env("correct horse").items())))
    ds = Datasette([str(small_db)], metadata=metadata(small_db.stem, password=True))
    assert get(ds, "/small/findings/1").status_code == 403
    token = form_token(ds, 1, "unreviewed")
    anon = post(ds, {"verdict": "1:dismissed", "token": token, "csrftoken": "x"}, {"ds_csrftoken": "x"})
    assert anon.status_code == 403
    good = login(ds, "correct horse")
    _, cookies, fields = open_finding(ds, 1, {"ds_actor": good.cookies["ds_actor"]})
    assert post(ds, {**fields, "verdict": "1:dismissed"}, cookies).status_code == 303
    assert sqlite3.connect(small_db).execute("select reviewed_by from finding_reviews").fetchone() == (
        "browser:caseworker",)


def test_the_command_line_and_the_browser_agree(ds, small_db):
    runner = CliRunner()
    out = runner.invoke(cli, ["review", "4", "--confirm", "--note", "heard it", "--db", str(small_db)])
    assert out.exit_code == 0, out.output
    page, cookies, fields = open_finding(ds, 4)
    assert 'data-status="confirmed"' in page.text and "heard it" in page.text
    login = sqlite3.connect(small_db).execute("select reviewed_by from finding_reviews").fetchone()[0]
    assert login.startswith("cli:") and "(command line)" not in login
    assert f"{login[4:]} (command line) / {login[4:]}（命令行）" in page.text
    table = get(ds, "/small/finding_reviews").text  # the verdicts table words it the same way
    assert f"{login[4:]} (command line) / {login[4:]}（命令行）" in table and login not in table
    assert post(ds, {**fields, "verdict": "4:own_words"}, cookies).status_code == 303
    listed = runner.invoke(cli, ["review", "--list", "dismissed", "--db", str(small_db)]).output
    assert re.search(r"^\s+4\s+dismissed", listed, re.M)
    out = runner.invoke(cli, ["review", "3", "--own-words", "--db", str(small_db)])
    assert out.exit_code == 0, out.output
    assert 'data-status="dismissed"' in get(ds, "/small/findings/3").text
    assert runner.invoke(cli, ["review", "3", "--own-words", "--confirm", "--db", str(small_db)]
                         ).exit_code != 0


def test_a_verdict_survives_redetection(ds, small_db):
    from pipeline.flow import redetect

    _, cookies, fields = open_finding(ds, 2)  # third_party at 7.0 s; the same rule fires at 9.25 s
    assert post(ds, {**fields, "verdict": "2:dismissed", "note": "not a threat"}, cookies).status_code == 303
    redetect(small_db)  # every finding rebuilt, with new ids
    c = sqlite3.connect(small_db)
    assert c.execute("select min(id) from findings").fetchone()[0] > 7
    assert c.execute("select start, review_status from findings where rule_id = 'ZH_THIRD_PARTY_DISCLOSE'"
                     " order by start").fetchall() == [(7.0, "dismissed"), (9.25, "unreviewed")]
    # #1 and #3 share #2's sentence, so the one verdict covers them (and nothing more)
    assert c.execute("select count(*) from findings where review_status = 'dismissed'").fetchone() == (3,)


WRITER = textwrap.dedent("""
    import sys, time
    from pipeline.store import Store
    s = Store(sys.argv[1])
    for i in range(int(sys.argv[2])):
        with s.write() as c:
            c.execute("update recordings set note = ? where id = ?", [f"pass {i}", "a" * 64])
            print("holding", i, flush=True)
            time.sleep(float(sys.argv[3]))
        time.sleep(0.05)
    print("done", flush=True)
""")


def test_a_review_succeeds_while_a_writer_holds_the_database(ds, small_db):
    """A running transcribe/watch writes one recording per short transaction; a verdict
    waits for the lock (WAL: pages keep reading meanwhile) and is saved, and the writer
    is not disturbed."""
    _, cookies, fields = open_finding(ds, 1)
    _, cookies2, fields2 = open_finding(ds, 4, cookies)  # another sentence
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(small_db), "4", "1.5"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().startswith("holding 0")
        t0 = time.monotonic()
        assert get(ds, "/small/findings_newest").status_code == 200  # reading is not blocked
        read_s = time.monotonic() - t0
        r = post(ds, {**fields, "verdict": "1:dismissed", "note": "during a run"}, cookies)
        waited = time.monotonic() - t0
        assert r.status_code == 303, r.text[:300]
        assert writer.stdout.readline().startswith("holding 1")
        r2 = post(ds, {**fields2, "verdict": "4:confirmed"}, cookies2)
        assert r2.status_code == 303, r2.text[:300]
        rest = writer.communicate(timeout=60)[0]
    finally:
        writer.kill()
    assert writer.returncode == 0 and rest.strip().endswith("done")
    assert read_s < 1.0 and waited > 0.5  # the page did not wait; the verdict waited for the lock
    c = sqlite3.connect(small_db)
    assert c.execute("select status from finding_reviews order by id").fetchall() == [
        ("dismissed",)] * 3 + [("confirmed",)]
    assert c.execute("select note from recordings where id = ?", ["a" * 64]).fetchone() == ("pass 3",)
