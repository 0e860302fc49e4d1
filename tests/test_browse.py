"""Datasette (its test client) on the database the real pipeline produced, and on a
small database written through the real Store (tests/conftest.py ``make_small_db``)."""

import asyncio
import re
import sqlite3
from urllib.parse import quote

import pytest
from datasette.app import Datasette

from pipeline import clips
from pipeline.browse import metadata, metadata_for, serve_command, server_url
from pipeline.browse.cells import citation_label, player
from pipeline.browse.metadata import queries
from pipeline.browse.plugin import highlight, register_routes
from pipeline.store import FindingRow, SegmentRow, Store
from tests.test_browse_door import login


def get(ds, path, **kw):
    return asyncio.run(ds.client.get(path, **kw))


def rows(ds, path):
    r = get(ds, path + ("&" if "?" in path else "?") + "_shape=array")
    assert r.status_code == 200, (path, r.text[:500])
    return r.json()


# ------------------------------------------------------------- on the real e2e database
@pytest.fixture(scope="module")
def ds(e2e):
    return Datasette([str(e2e.db)], metadata=metadata_for(e2e.db))


@pytest.mark.slow
def test_findings_table_lists_a_finding(ds, e2e):
    found = rows(ds, f"/{e2e.db.stem}/findings.json?category=visit_shaming")
    assert any(row["matched_text"] == "上门" for row in found)
    page = get(ds, f"/{e2e.db.stem}/findings")
    assert page.status_code == 200 and "Findings" in page.text
    # citations are short labels with the full reference in a tooltip, never raw JSON
    assert '"instrument"' not in page.text and 'class="ce-cite" title="' in page.text


@pytest.mark.slow
@pytest.mark.parametrize("q, expect", [("老赖", "老赖"), ("上门", "上门"), ("employer", "employer")])
def test_search_finds_short_chinese_and_english_words(ds, e2e, q, expect):
    found = rows(ds, f"/{e2e.db.stem}/search.json?q={q}")
    hits = [r for r in found if r["kind"] == "transcript"]
    assert hits and all(expect in r["snippet"].lower() for r in hits)
    assert "\x01" in hits[0]["snippet"]  # highlight markers, rendered as <mark> in HTML
    html = get(ds, f"/{e2e.db.stem}/search?q={q}").text
    assert re.search(rf"<mark>{expect}</mark>", html, re.IGNORECASE)
    assert "/-/call-evidence/clip/" in html


@pytest.mark.slow
def test_search_misses_what_was_not_said(ds, e2e):
    assert rows(ds, f"/{e2e.db.stem}/search.json?q=火箭") == []


@pytest.mark.slow
def test_search_covers_phone_numbers(ds, e2e):
    found = rows(ds, f"/{e2e.db.stem}/search.json?q=13812345678")
    assert any(r["kind"] == "recording" for r in found)


@pytest.mark.slow
def test_table_search_box_works_for_chinese(ds, e2e):
    found = rows(ds, f"/{e2e.db.stem}/segments.json?_search=老赖")
    assert len(found) == 1 and "老赖" in found[0]["text"]


@pytest.mark.slow
def test_every_canned_view_answers(ds, e2e):
    db = e2e.db.stem
    seg_id = rows(ds, f"/{db}/segments.json?_size=1")[0]["id"]
    params = {"findings_for_number": "phone_number=13812345678", "timeline": "phone_number=",
              "findings_by_category": "category=third_party&severity=", "search": "q=上门",
              "segment_context": f"segment_id={seg_id}"}
    for name in queries({"night_start": "22:00", "night_end": "08:00", "jurisdiction": "CN"}):
        r = get(ds, f"/{db}/{name}?{params.get(name, '')}")
        assert r.status_code == 200, (name, r.text[:300])
    assert {r["category"] for r in rows(ds, f"/{db}/findings_for_number.json?phone_number=13812345678")} \
        == {"visit_shaming", "third_party"}
    by_cat = rows(ds, f"/{db}/findings_by_category.json?category=third_party&severity=")
    assert by_cat and {r["category"] for r in by_cat} == {"third_party"}
    # fixture calls at 22:30, 23:05 and 07:45 are in the 22:00-08:00 window; 09:15 is not
    night = rows(ds, f"/{db}/night_calls.json")
    assert sorted(r["call_time"][11:16] for r in night) == ["07:45", "22:30", "23:05"]
    worst = rows(ds, f"/{db}/worst_numbers.json")
    assert worst[0]["serious_findings"] >= worst[-1]["serious_findings"]
    timeline = rows(ds, f"/{db}/timeline.json?phone_number=")
    dated = rows(ds, f"/{db}/recordings.json?call_time__notblank=1&status=done")
    assert sum(d["calls"] for d in timeline) == len(dated) == 4
    assert sum(d["night_calls"] for d in timeline) == 3
    context = rows(ds, f"/{db}/segment_context.json?segment_id={seg_id}")
    assert any(r["segment_id"] == seg_id for r in context)
    review = rows(ds, f"/{db}/to_review.json")  # one item per sentence (issue 24)
    every = rows(ds, f"/{db}/findings.json?_size=max")
    assert len(review) == len({(f["recording_id"], f["segment_id"] or -f["id"]) for f in every})
    assert sorted(int(i) for r in review for i in r["finding_ids"].split(",")) == sorted(
        f["id"] for f in every)
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    assert [rank[r["severity"]] for r in review] == sorted(rank[r["severity"]] for r in review)


@pytest.mark.slow
def test_overview_page(ds, e2e):
    r = get(ds, f"/-/call-evidence/overview/{e2e.db.stem}")
    assert r.status_code == 200
    assert "calls per day" in r.text and "13812345678" in r.text


@pytest.mark.slow
def test_player_markup_and_clip_with_range(ds, e2e):
    db = e2e.db.stem
    f = rows(ds, f"/{db}/findings.json?category=visit_shaming&_size=1")[0]
    seg = rows(ds, f"/{db}/segments.json?id={f['segment_id']}")[0]
    page = get(ds, f"/{db}/findings/{f['id']}").text
    m = re.search(r'<audio controls preload="none" src="(/-/call-evidence/clip/([0-9a-f]{64})/'
                  r'([\d.]+)-([\d.]+)\.mp3)"', page)
    assert m and m.group(2) == f["recording_id"]
    a, b = float(m.group(3)), float(m.group(4))
    # the whole sentence (the finding's segment) with clips.PAD_S either side, as in the report
    assert a == pytest.approx(max(0, min(seg["start"], f["start"]) - clips.PAD_S), abs=0.01)
    assert b == pytest.approx(max(seg["end"], f["end"]) + clips.PAD_S, abs=0.01)
    # both spans are shown: the sentence's, and the matched words'
    assert f"{seg['start'] // 60:02.0f}:{seg['start'] % 60:04.1f}" in page
    clip = get(ds, m.group(1))
    assert clip.status_code == 200 and clip.headers["content-type"] == "audio/mpeg"
    assert clip.headers["accept-ranges"] == "bytes" and len(clip.content) > 1000
    part = get(ds, m.group(1), headers={"range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == clip.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(clip.content)}"
    assert get(ds, m.group(1), headers={"range": "bytes=999999-"}).status_code == 416


@pytest.mark.slow
@pytest.mark.parametrize("path", [
    "/-/call-evidence/clip/../../../etc/passwd",
    "/-/call-evidence/clip/..%2F..%2Fetc%2Fpasswd/0-1.mp3",
    "/-/call-evidence/audio/..%2Fevidence.db.mp3",
    "/-/call-evidence/clip/" + "0" * 64 + "/0.00-1.00.mp3",
])
def test_audio_routes_refuse_paths_and_unknown_ids(ds, path):
    r = get(ds, path)
    for _ in range(3):  # Datasette may first redirect to a normalised path
        if r.status_code not in (301, 302):
            break
        r = get(ds, r.headers["location"])
    assert r.status_code in (400, 404) and b"root:" not in r.content


def test_serve_binds_localhost_and_is_read_only(tmp_path):
    args = serve_command(tmp_path / "e.db")
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert "allow_download" in args


@pytest.mark.parametrize("host, url", [("127.0.0.1", "http://127.0.0.1:8733/"),
                                       ("::1", "http://[::1]:8733/"),
                                       ("0.0.0.0", "http://0.0.0.0:8733/")])
def test_server_url_brackets_ipv6(host, url):
    assert server_url(host, 8733) == url


# ------------------------------------------------------------- hostile transcript text
@pytest.fixture()
def hostile(tmp_path):
    s = Store(tmp_path / "h.db")
    rid = "b" * 64
    text = '<script>alert("x")</script> 你这个老赖 <img src=x onerror=alert(1)>'
    s.save_recording({"id": rid, "path": "/x.wav", "file_name": '<b>evil</b>.wav', "size": 1,
                      "mtime": "t", "phone_number": "<i>138</i>"},
                     [SegmentRow(0, 0.0, 2.0, text)],
                     [FindingRow(0, "ZH_INSULT_LEXICON", "insult", "high", "老赖", text, 0.5, 1.0,
                                 0.9, None, [], "possible violation — for human review")], None)
    s.close()
    return Datasette([str(tmp_path / "h.db")], metadata=metadata("h"))


@pytest.mark.parametrize("path", ["/h/findings", "/h/segments", "/h/search?q=老赖",
                                  "/h/findings_newest", "/h/recordings", "/-/call-evidence/overview/h",
                                  "/h/search?q=%3Cscript%3E"])
def test_transcript_html_is_escaped(hostile, path):
    html = get(hostile, path).text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>evil" not in html
    assert "&lt;script&gt;" in html or "&lt;b&gt;" in html or "&lt;i&gt;" in html


def test_password_mode_denies_anonymous(tmp_path):
    Store(tmp_path / "p.db").close()
    ds = Datasette([str(tmp_path / "p.db")], metadata=metadata("p", password=True))
    assert get(ds, "/p/findings").status_code in (403, 503)  # 503: no hash to check (closed)
    cookie = ds.sign({"a": {"id": "caseworker"}}, "actor")  # signed, but no session of this server
    assert get(ds, "/p/findings", cookies={"ds_actor": cookie}).status_code in (403, 503)


def test_highlight_units():
    assert highlight("你这个老赖真不要脸", "老赖") == "你这个\x01老赖\x02真不要脸"
    assert highlight("Call your EMPLOYER", "employer") == "Call your \x01EMPLOYER\x02"
    assert highlight("nothing", "老赖") == "nothing"


def test_citation_labels_are_short():
    assert citation_label({"instrument": "互联网金融逾期债务催收自律公约（试行） (NIFA 2018)",
                           "article": "Art. 16"}) == "NIFA 2018 Art. 16"
    assert citation_label({"instrument": "民法典", "article": "Art. 1024 (reputation)"}) == "民法典 Art. 1024"
    assert citation_label({"instrument": "FDCPA 15 U.S.C.", "article": "§1692e(4), §1692e(5)"}) \
        == "FDCPA 15 U.S.C. §1692e(4), §1692e(5)"


def test_one_clip_padding_for_browser_and_report():
    """The browser's player and the report's clip of a sentence are the same span."""
    assert clips.padded(7.54, 10.92) == (6.54, 11.92) and clips.padded(0.2, 1.0) == (0.0, 2.0)
    assert clips.padded(7.54, 10.92, duration=11.5) == (6.54, 11.5)
    html = str(player("a" * 64, 7.54, 10.92))
    assert 'src="/-/call-evidence/clip/' + "a" * 64 + '/6.54-11.92.mp3"' in html


@pytest.mark.slow
def test_recording_page_plays_the_whole_call(ds, e2e):
    db = e2e.db.stem
    rec = rows(ds, f"/{db}/recordings.json?status=done&_size=1")[0]
    page = get(ds, f"/{db}/recordings/{rec['id']}").text
    m = re.search(r'<audio controls preload="none" src="(/-/call-evidence/audio/([0-9a-f]{64})\.mp3)"', page)
    assert m and m.group(2) == rec["id"]
    audio = get(ds, m.group(1))
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    # a 32 kbit/s mp3 of the whole call: about 4 KB a second
    assert len(audio.content) > 3000 * rec["duration"] * 0.8


# ------------------------------------------------------------- a small database (no Whisper)
@pytest.fixture()
def small(small_db):
    return Datasette([str(small_db)], metadata=metadata_for(small_db))


def _example_path(pattern: str, samples: dict[str, str]) -> str:
    """A path that matches a route's regular expression, its named groups filled from ``samples``."""
    out, i = [], 0
    body = pattern.removeprefix("^").removesuffix("$")
    while i < len(body):
        if body.startswith("(?P<", i):
            name = body[i + 4:body.index(">", i)]
            depth, j = 0, i
            while True:  # skip to the group's closing bracket
                depth += {"(": 1, ")": -1}.get(body[j], 0) if body[j - 1:j] != "\\" else 0
                j += 1
                if depth == 0:
                    break
            assert name in samples, f"route {pattern} has a part {name!r} this test cannot fill"
            out.append(samples[name])
            i = j
        elif body[i] == "\\":
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    path = "".join(out)
    assert re.fullmatch(pattern, path), (pattern, path)
    return path


def test_every_plugin_route_refuses_anonymous_under_password(small_db, monkeypatch):
    """Enumerates what register_routes() gives Datasette, so a new route cannot be added
    unprotected: each one refuses an anonymous, wrong-password or forged visitor under
    --password, and answers the logged-in caseworker."""
    from pipeline.browse import password_env

    monkeypatch.setenv(*next(iter(password_env("right horse battery").items())))
    ds = Datasette([str(small_db)], metadata=metadata(small_db.stem, password=True))
    samples = {"rid": "a" * 64, "start": "0.50", "end": "3.00", "db": small_db.stem}
    routes = register_routes()
    assert len(routes) >= 4
    wrong = login(ds, "wrong")
    assert "ds_actor" not in wrong.cookies
    forged = Datasette([], secret="another secret").sign({"a": {"id": "caseworker"}}, "actor")
    good = login(ds, "right horse battery")
    assert good.status_code == 302 and "ds_actor" in good.cookies
    for pattern, _handler in routes:
        path = _example_path(pattern.pattern if hasattr(pattern, "pattern") else pattern, samples)
        for cookies in ({}, {"ds_actor": forged}, dict(wrong.cookies)):
            r = get(ds, path, cookies=cookies)
            assert r.status_code == 403, (path, cookies, r.status_code)
            r = asyncio.run(ds.client.post(path, data={"verdict": "1:dismissed"}, cookies=cookies))
            assert r.status_code in (403, 405), (path, r.status_code)
        r = get(ds, path, cookies={"ds_actor": good.cookies["ds_actor"]})
        assert r.status_code != 403, (path, r.text[:200])
        assert r.status_code == (405 if "/review/" in path else 200), (path, r.status_code, r.text[:200])
    assert sqlite3.connect(small_db).execute("select count(*) from finding_reviews").fetchone() == (0,)


def test_writes_other_than_a_review_are_refused(small):
    """POST to a canned query was a 500; every write but the review route is a clean 405, and
    ?sql= cannot change the database."""
    for path in ["/small/findings_newest", "/small/to_review", "/small/findings", "/small/findings/1",
                 "/small", "/small/findings/-/insert", "/small/-/create", "/small/findings/1/-/delete",
                 "/small/findings/-/drop", "/small/findings/1/-/update", "/-/permissions"]:
        for method in ("post", "put", "delete", "patch"):
            kw = {"json": {"row": {"category": "x"}}} if method != "delete" else {}
            r = asyncio.run(getattr(small.client, method)(path, **kw))
            assert r.status_code == 405, (method, path, r.status_code, r.text[:200])
    before = rows(small, "/small/findings.json?_size=max")
    for sql in ["delete from findings", "update findings set review_status = 'dismissed'",
                "insert into finding_reviews (status) values ('dismissed')", "drop table findings",
                "select 1; delete from findings", "attach database 'x.db' as x",
                "pragma writable_schema = 1"]:
        r = get(small, f"/small.json?sql={quote(sql)}")
        assert r.status_code in (400, 403) or not r.json().get("ok", False), sql
    assert rows(small, "/small/findings.json?_size=max") == before


def test_chinese_search_finds_messages(small):
    found = rows(small, "/small/messages.json?_search=老赖")
    assert [m["text"] for m in found] == ["你这个老赖赶紧还钱"]
    assert rows(small, "/small/messages.json?_search=上门")[0]["text"] == "明天上门找你"
    assert rows(small, "/small/messages.json?_search=火箭") == []
    html = get(small, "/small/messages?_search=老赖").text
    # what was typed is shown back as typed (it was echoed as ""老 赖"")
    assert 'value="老赖"' in html and "&#34;老 赖&#34;" not in html and '"老 赖"' not in html
    hits = rows(small, f"/small/search.json?q={quote('老赖')}")
    assert {h["kind"] for h in hits} == {"transcript", "message"}
    page = get(small, f"/small/search?q={quote('老赖')}").text
    assert "message / 短信" in page and "<mark>老赖</mark>" in page


def test_canned_pages_speak_plainly(small):
    """No "Custom SQL query returning", "Run SQL" or a box named q; the SQL is one click away."""
    page = get(small, f"/small/search?q={quote('上门')}").text
    for jargon in ("Custom SQL query", "Run SQL", ">q</label>", "Query parameters"):
        assert jargon not in page, jargon
    assert "Words to find / 要找的词" in page and "results / 条结果" in page
    assert re.search(r'<details class="ce-expert">.*Show the SQL.*Edit the SQL', page, re.S)
    assert "select" in get(small, "/small/search?q=x&_show_sql=1").text.lower()
    cats = get(small, "/small/findings_by_category?category=&severity=").text
    assert '<option value="visit_shaming">Visits and public shaming / 上门 / 公开羞辱</option>' in cats


def test_overview_counts_messages_and_unknown_numbers(small):
    page = get(small, "/-/call-evidence/overview/small").text
    assert "Insult / profanity / 辱骂" in page and ">insult<" not in page  # names, not codes
    assert "Findings in messages / 短信中的疑似违规" in page
    overview = re.search(r"Top numbers.*</table>", page, re.S).group(0)
    numbers = re.findall(r"<tr[^>]*><td><a [^>]*>([^<]+)</a>", overview)
    assert numbers[0] == "13812345678" and numbers[-1] == "number unknown / 号码未知"
    assert "+8613912345678" in numbers  # a number seen only in a text message (stored canonical)
    cats = re.search(r"Findings by category.*?</table>", page, re.S).group(0)
    insult = re.search(r"Insult / profanity / 辱骂</a></td>\s*<td>(\d+)</td><td>.*?>(\d+)<", cats, re.S)
    assert insult.groups() == ("1", "1")  # one in a call, one in a message
    assert "7 findings to review / 条待核查" in re.sub(r"<[^>]+>", "", page)


def test_unknown_numbers_and_dates_come_last(small):
    worst = rows(small, "/small/worst_numbers.json")
    assert [w["phone_number"] for w in worst] == ["13812345678", ""]
    assert "number unknown / 号码未知" in get(small, "/small/worst_numbers").text
    newest = rows(small, "/small/findings_newest.json")
    assert newest[-1]["call_time"] is None and newest[0]["call_time"] is not None
    page = get(small, "/small/findings_newest").text
    assert "date unknown / 日期未知" in page
    # a row's time is its sentence's: findings 1 and 2 share the sentence at 4.0-8.0 s
    assert {(f["finding_id"], f["start"], f["end"]) for f in newest if f["finding_id"] in (1, 2)} \
        == {(1, 4.0, 8.0), (2, 4.0, 8.0)}
    assert page.count("00:04.0–00:08.0") >= 2


def test_clip_cache_is_bounded(small, monkeypatch, tmp_path):
    monkeypatch.setenv("CALL_EVIDENCE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(clips, "CACHE_MAX_FILES", 3)
    rid = "a" * 64
    for i in range(6):
        r = get(small, f"/-/call-evidence/clip/{rid}/{i}.00-{i + 2}.00.mp3")
        assert r.status_code == 200 and len(r.content) > 500
    kept = sorted(p.name for p in clips.clips_dir().glob("*.mp3"))
    assert kept == [f"{rid}_{i * 1000}_{(i + 2) * 1000}.mp3" for i in (3, 4, 5)]  # the newest three
    assert len(list(clips.clips_dir().glob("*.sha256"))) == 3
    # a clip used again counts as recent: it survives the next eviction, the oldest goes
    assert get(small, f"/-/call-evidence/clip/{rid}/3.00-5.00.mp3").status_code == 200
    assert get(small, f"/-/call-evidence/clip/{rid}/9.00-10.00.mp3").status_code == 200
    kept = {p.name for p in clips.clips_dir().glob("*.mp3")}
    assert f"{rid}_3000_5000.mp3" in kept and f"{rid}_4000_6000.mp3" not in kept and len(kept) == 3
    # an evicted clip is simply cut again
    assert get(small, f"/-/call-evidence/clip/{rid}/0.00-2.00.mp3").status_code == 200


def test_clip_cache_prune_by_size(tmp_path):
    for i in range(5):
        (tmp_path / f"{'c' * 64}_{i}.mp3").write_bytes(b"x" * 1000)
    (tmp_path / f"{'c' * 64}_0.mp3.sha256").write_text("0\n")
    assert clips.prune_cache(tmp_path, max_files=100, max_bytes=2500) == 3
    assert len(list(tmp_path.glob("*.mp3"))) == 2 and not list(tmp_path.glob("*.sha256"))


def test_transcribe_summary_names_the_right_browse_command():
    from pathlib import Path

    from pipeline.cli import browse_hint

    assert browse_hint(Path("evidence.db")) == "make browse"
    assert browse_hint(Path("e.db")) == "call-evidence browse --db e.db"
    assert browse_hint(Path("my cases/e.db")) == "call-evidence browse --db 'my cases/e.db'"


def test_a_superseded_recording_leaves_every_list_and_count(small_db):
    """A truncated copy superseded by the whole call (issue 23) is kept, but its findings
    are no longer listed, queued or counted: the whole recording's stand for it."""
    con = sqlite3.connect(small_db)
    rid, n = con.execute("select recording_id, count(*) from findings group by recording_id"
                         " order by count(*) desc limit 1").fetchone()
    before = Datasette([str(small_db)], metadata=metadata_for(small_db))
    listed = {r["finding_id"] for r in rows(before, "/small/findings_newest.json")}
    queued = len(rows(before, "/small/to_review.json"))
    total = int(re.search(r"(\d+) findings to review", re.sub(r"<[^>]+>", "", get(
        before, "/-/call-evidence/overview/small").text)).group(1))
    con.execute("update recordings set status = 'superseded' where id = ?", [rid])
    con.commit()
    gone = {i for (i,) in con.execute("select id from findings where recording_id = ?", [rid])}
    con.close()
    after = Datasette([str(small_db)], metadata=metadata_for(small_db))
    assert {r["finding_id"] for r in rows(after, "/small/findings_newest.json")} == listed - gone
    assert len(rows(after, "/small/to_review.json")) < queued
    page = re.sub(r"<[^>]+>", "", get(after, "/-/call-evidence/overview/small").text)
    assert f"{total - n} findings to review" in page or (total - n == 0)
