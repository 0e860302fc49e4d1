"""Datasette (its test client) on the database the real pipeline produced."""

import asyncio
import re

import pytest
from datasette.app import Datasette

from pipeline.browse import metadata, serve_command
from pipeline.browse.metadata import queries
from pipeline.browse.plugin import highlight, rewrite_search
from pipeline.store import FindingRow, SegmentRow, Store


def get(ds, path, **kw):
    return asyncio.run(ds.client.get(path, **kw))


def rows(ds, path):
    r = get(ds, path + ("&" if "?" in path else "?") + "_shape=array")
    assert r.status_code == 200, (path, r.text[:500])
    return r.json()


# ------------------------------------------------------------- on the real e2e database
@pytest.fixture(scope="module")
def ds(e2e):
    return Datasette([str(e2e.db)], metadata=metadata(e2e.db.stem))


@pytest.mark.slow
def test_findings_table_lists_a_finding(ds, e2e):
    found = rows(ds, f"/{e2e.db.stem}/findings.json?category=visit_shaming")
    assert any(row["matched_text"] == "上门" for row in found)
    page = get(ds, f"/{e2e.db.stem}/findings")
    assert page.status_code == 200 and "Findings" in page.text


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
    review = rows(ds, f"/{db}/needs_review.json")
    assert len(review) == len(rows(ds, f"/{db}/findings.json?_size=max"))


@pytest.mark.slow
def test_overview_page(ds, e2e):
    r = get(ds, f"/-/call-evidence/overview/{e2e.db.stem}")
    assert r.status_code == 200
    assert "calls per day" in r.text and "13812345678" in r.text


@pytest.mark.slow
def test_player_markup_and_clip_with_range(ds, e2e):
    db = e2e.db.stem
    f = rows(ds, f"/{db}/findings.json?category=visit_shaming&_size=1")[0]
    page = get(ds, f"/{db}/findings/{f['id']}").text
    m = re.search(r'<audio controls preload="none" src="(/-/call-evidence/clip/([0-9a-f]{64})/'
                  r'([\d.]+)-([\d.]+)\.mp3)"', page)
    assert m and m.group(2) == f["recording_id"]
    a, b = float(m.group(3)), float(m.group(4))
    assert a == pytest.approx(max(0, f["start"] - 1), abs=0.01)
    assert b == pytest.approx(f["end"] + 1, abs=0.01)
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


@pytest.mark.slow
def test_browser_cannot_write(ds, e2e):
    r = get(ds, f"/{e2e.db.stem}.json?sql=delete+from+findings")
    assert r.status_code in (400, 403) or not r.json().get("ok", False)
    assert rows(ds, f"/{e2e.db.stem}/findings.json?_size=1")


def test_serve_binds_localhost_and_is_read_only(tmp_path):
    args = serve_command(tmp_path / "e.db")
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert "allow_download" in args


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
    assert get(ds, "/p/findings").status_code == 403
    cookie = ds.sign({"a": {"id": "caseworker"}}, "actor")
    assert get(ds, "/p/findings", cookies={"ds_actor": cookie}).status_code == 200


def test_highlight_and_search_rewrite_units():
    assert highlight("你这个老赖真不要脸", "老赖") == "你这个\x01老赖\x02真不要脸"
    assert highlight("Call your EMPLOYER", "employer") == "Call your \x01EMPLOYER\x02"
    assert highlight("nothing", "老赖") == "nothing"
    q = rewrite_search("/evidence/segments", b"_search=%E8%80%81%E8%B5%96")
    assert b"_searchmode=raw" in q and b"%22" in q
    assert rewrite_search("/evidence/findings", b"_search=x") == b"_search=x"


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
