"""The evidence package (``call-evidence report``).

The end-to-end test builds a package from the fixtures' database (real Whisper
transcripts, real ffmpeg clips, real Chromium PDF, pdftotext) after a person
dismissed one finding; the small tests cover each part on a hand-made database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.hashing import sha256_file
from pipeline.report import ReportError, ReportOptions, Scope, build_report, manifest
from pipeline.report.build import _marked
from pipeline.report.chart import calls_per_day
from pipeline.report.complaint import channels, clock, draft
from pipeline.report.data import Day, incidents, load, same_number
from pipeline.report.fonts import embed, find_font
from pipeline.report.pdf import find_browser
from pipeline.report.subtitles import srt, vtt
from pipeline.store import FindingRow, SegmentRow, Store

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


def _squash(text: str) -> str:
    """Text without whitespace or punctuation: PDF text extraction breaks lines anywhere."""
    return re.sub(r"[\s\W_]+", "", text).lower()


def _copy_db(src: Path, dst: Path) -> Path:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


# --------------------------------------------------------------- a hand-made database
def _small_db(tmp_path: Path) -> Path:
    """Two recordings from two numbers; the originals are copies of real fixtures."""
    rec_dir = tmp_path / "recordings"
    rec_dir.mkdir()
    store = Store(tmp_path / "e.db")
    files = [("13812345678_20261102223015.amr", "13812345678", "2026-11-02T22:30:15",
              "今天再不还钱，我们明天就上门找你。", "visit_shaming", "上门找你"),
             ("Call recording 13912345678_261103_091500.m4a", "13912345678", "2026-11-03T09:15:00",
              "你这个老赖真不要脸", "insult", "老赖")]
    for name, number, when, text, cat, matched in files:
        dest = rec_dir / name
        shutil.copyfile(FIXTURES / name, dest)
        sha = sha256_file(dest)
        store.note_file(sha, str(dest), dest.stat().st_size, "2026-11-02T00:00:00+00:00")
        rec = {"id": sha, "path": str(dest), "file_name": name, "size": dest.stat().st_size,
               "mtime": "2026-11-02T00:00:00+00:00", "phone_number": number, "call_time": when,
               "duration": 12.0, "language": "zh"}
        segs = [SegmentRow(0, 0.5, 2.5, "你好，我是催收专员。"),
                SegmentRow(1, 3.0, 6.0, text, words=[(3.0, 4.0, text[:3], 0.95), (4.0, 6.0, text[3:], 0.3)])]
        finding = FindingRow(1, f"ZH_{cat.upper()}", cat, "high", matched, text, 3.5, 5.5, 0.8, None,
                             [{"id": "NIFA2018_16", "instrument": "NIFA 2018", "article": "Art. 16"}],
                             "possible violation — for human review")
        store.save_recording(rec, segs, [finding], None)
    store.close()
    return tmp_path / "e.db"


def _load(db: Path, scope: Scope | None = None):
    store = Store(db)
    try:
        return load(store, scope or Scope())
    finally:
        store.close()


def test_scope_numbers_and_dates(tmp_path):
    db = _small_db(tmp_path)
    store = Store(db)
    try:
        everything = load(store, Scope())
        one = load(store, Scope(numbers=["+86 138-1234-5678"]))
        day = load(store, Scope(date_from=__import__("datetime").date(2026, 11, 3)))
    finally:
        store.close()
    assert len(everything.recordings) == 2 and len(everything.findings) == 2
    assert [r.phone_number for r in one.recordings] == ["13812345678"]
    assert [f.category for f in one.findings] == ["visit_shaming"]
    assert [r.phone_number for r in day.recordings] == ["13912345678"]
    assert everything.night_calls == 1  # 22:30 in Asia/Shanghai
    assert [d.day for d in everything.days] == ["2026-11-02", "2026-11-03"]
    assert everything.incidents[0].uncertain == ["不还钱，我们明天就上门找你。"]  # probability 0.3


def test_same_number():
    assert same_number("+8613812345678", "13812345678")
    assert same_number("0086 138 1234 5678", "138-1234-5678")
    assert not same_number("13812345678", "13912345678")
    assert not same_number(None, "13812345678") and not same_number("12", "12")


def test_cli_report_html_only_and_review(tmp_path):
    db = _small_db(tmp_path)
    runner = CliRunner()
    fid = sqlite3.connect(db).execute("select id from findings where category = 'insult'").fetchone()[0]
    from pipeline.flow import run_lock

    with run_lock(db):  # a `watch` holding the database does not block a review
        res = runner.invoke(cli, ["review", str(fid), "--dismiss", "--note", "borrower quoting",
                                  "--db", str(db)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["report", "--db", str(db), "--out", str(tmp_path / "out"), "--no-pdf",
                              "--lang", "en", "--channel", "12315", "--name", "XX Collections"])
    assert res.exit_code == 0, res.output
    folder = Path(re.search(r"package: (.+)", res.output).group(1).strip())
    html = (folder / "report-en.html").read_text(encoding="utf-8")
    assert "上门找你" in html and "老赖" not in html  # the dismissed finding is left out
    assert "1 findings marked as dismissed" in html
    assert sorted(p.name for p in (folder / "complaint-drafts").iterdir()) == ["12315.txt"]
    assert manifest.check(folder) == []
    assert (folder.with_suffix(".zip")).is_file()
    res = runner.invoke(cli, ["review", "--db", str(db), "--list", "dismissed"])
    assert "borrower" not in res.output and str(fid) in res.output


def test_cli_report_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["report", "--db", str(tmp_path / "none.db")])
    assert res.exit_code == 1 and "database not found" in res.output
    db = _small_db(tmp_path)
    res = runner.invoke(cli, ["report", "--db", str(db), "--channel", "nope", "--no-pdf"])
    assert res.exit_code == 1 and "unknown complaint channel" in res.output
    res = runner.invoke(cli, ["report", "--db", str(db), "--from", "2026-13-01"])
    assert res.exit_code == 2 and "not a date" in res.output
    res = runner.invoke(cli, ["review", "1", "--db", str(db)])
    assert res.exit_code == 2 and "--confirm" in res.output
    empty = Store(tmp_path / "empty.db")
    empty.close()
    with pytest.raises(ReportError, match="no transcribed recording"):
        build_report(tmp_path / "empty.db", tmp_path / "o", Scope(), ReportOptions(pdf=False))


def test_missing_original_is_reported_not_faked(tmp_path, monkeypatch):
    monkeypatch.setenv("CALL_EVIDENCE_CACHE", str(tmp_path / "cache"))  # no decoded copy either
    db = _small_db(tmp_path)
    victim = next((tmp_path / "recordings").glob("*.amr"))
    victim.write_bytes(victim.read_bytes() + b"x")  # changed after transcription
    result = build_report(db, tmp_path / "out", Scope(), ReportOptions(pdf=False, languages=("zh",)))
    assert any("not found with matching content" in w for w in result.warnings)
    originals = {o["file_name"]: o for o in result.manifest["originals"]}
    assert originals[victim.name]["verified_at_export"] is False and originals[victim.name]["copy"] is None
    assert len(list((result.folder / "originals").iterdir())) == 1
    # With neither the original nor a decoded copy, no clip is cut, and the package says so.
    assert any("no clip" in w for w in result.warnings)


# --------------------------------------------------------------- parts
def test_subtitles_format():
    from pipeline.report.data import Recording, Segment

    rec = Recording("a" * 64, "p", "f", None, None, 3700.0, 1, None, None, None, None, "zh", None,
                    None, None, segments=[Segment(0, 0.0, 1.5, "你好", "party A"),
                                          Segment(1, 3661.25, 3662.0, "再见", None)])
    assert srt(rec).splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:01,500", "[party A] 你好"]
    assert "01:01:01.250 --> 01:01:02.000\n再见" in vtt(rec) and vtt(rec).startswith("WEBVTT\n\n")
    assert clock(3725) == "1:02:05" and clock(65.9) == "1:05" and clock(None) == "?"


def test_marked_quotes_escape_and_merge():
    assert _marked("a <b> 老赖 c", ["老赖"]) == "a &lt;b&gt; <mark>老赖</mark> c"
    assert _marked("上门找你家人", ["上门找你", "找你家人"]) == "<mark>上门找你家人</mark>"
    assert _marked("nothing here", ["absent"]) == "nothing here"


def test_chart_draws_one_bar_group_per_day():
    labels = {k: k for k in ("chart_title", "calls", "connected", "night", "findings", "unanswered",
                             "over_cap")}
    svg = calls_per_day([Day("2026-11-01", 3, 1, 1, 2, True), Day("2026-11-02"),
                         Day("2026-11-03", 1, 1)], labels)
    assert svg.startswith("<svg") and svg.count("<title>") == 3
    assert "2026-11-01: 3 calls, 1 connected, 1 night, 2 findings" in svg
    assert calls_per_day([], labels) == ""


def test_complaint_drafts_state_facts_only(tmp_path):
    data = _load(_small_db(tmp_path))
    for ch in channels():
        text = draft(ch, data, complainant="张三")
        assert text.startswith(("【草稿】", "[DRAFT]"))
        assert "上门找你" in text and "老赖" in text and "张三" in text
        assert "13812345678" in text
        # facts, not conclusions: no "illegal", "violated", 违法, 违反
        assert not re.search(r"违法|违反|illegal|violated", text, re.I), ch
    with pytest.raises(ValueError, match="unknown complaint channel"):
        draft("nope", data)


def test_incidents_group_findings_of_one_utterance(tmp_path):
    data = _load(_small_db(tmp_path))
    f = data.findings[0]
    twin = type(f)(**{**f.__dict__, "id": 99, "category": "third_party", "start": 4.0})
    grouped = incidents([f, twin, data.findings[1]])
    assert len(grouped) == 2 and grouped[0].categories == [f.category, "third_party"]
    assert grouped[0].start == f.start and grouped[0].utterance == f.utterance


@pytest.mark.skipif(find_font() is None, reason="no CJK font installed (fonts-noto-cjk)")
def test_font_subset_is_small_and_covers_the_text():
    import base64
    import io

    from fontTools.ttLib import TTFont

    font = embed("催收通话证据报告 老赖")
    assert font.css.startswith("@font-face") and "KB" in font.note
    data = base64.b64decode(re.search(r"base64,([^)]+)\)", font.css).group(1))
    assert len(data) < 200_000  # not the 16 MB collection
    cmap = TTFont(io.BytesIO(data)).getBestCmap()
    assert all(ord(c) in cmap for c in "催收老赖")


# --------------------------------------------------------------- end to end
needs_pdf = pytest.mark.skipif(find_browser() is None or shutil.which("pdftotext") is None,
                               reason="needs chromium and pdftotext (make system-deps)")


@pytest.mark.slow
@needs_pdf
def test_package_from_the_fixtures(e2e, tmp_path):
    db = _copy_db(e2e.db, tmp_path / "evidence.db")
    store = Store(db)
    rows = store.conn.execute(
        "select f.id, f.matched_text, f.start, f.end, s.text, f.segment_id from findings f"
        " join segments s on s.id = f.segment_id order by f.id").fetchall()
    assert len(rows) >= 8
    # A person dismisses the English insult (a finding alone in its utterance).
    dismissed = next(r for r in rows if r[4].count(r[1]) == 1 and
                     sum(1 for x in rows if x[4] == r[4]) == 1 and r[1].isascii())
    store.set_review([dismissed[0]], "dismissed", note="test")
    store.close()
    kept = [r for r in rows if r[0] != dismissed[0]]

    result = build_report(db, tmp_path / "out", Scope(), ReportOptions())
    folder = result.folder
    assert result.warnings == [], result.warnings
    assert sorted(p.name for p in result.pdf) == ["report-en.pdf", "report-zh.pdf"]

    # Every kept finding is in both reports with its time and its words; the dismissed one is not.
    as_context = {}
    for lang in ("zh", "en"):
        html = (folder / f"report-{lang}.html").read_text(encoding="utf-8")
        for fid, matched, start, end, utterance, _seg in kept:
            row = re.search(rf'data-finding-id="{fid}">(.*?)</tr>', html, re.S)
            assert row, (lang, fid)
            assert f"{clock(start)}–{clock(end)}" in row.group(1)
            words = re.sub(r"<[^>]+>", "", html)  # the quote is shown with <mark>s in it
            assert matched.strip() in words and utterance.strip() in words
        assert f'data-finding-id="{dismissed[0]}"' not in html
        quotes = re.findall(r'<div class="quote">(.*?)</div>', html, re.S)
        assert not any(dismissed[4].strip() in re.sub(r"<[^>]+>", "", q) for q in quotes)
        # It may still be heard as the context line of a neighbouring finding.
        as_context[lang] = sum(dismissed[4].strip() in c for c in
                               re.findall(r'<p class="ctx">(.*?)</p>', html, re.S))
        assert "@font-face{font-family:'CE Report CJK'" in html  # the font travels in the page

    # The PDFs carry the same words (pdftotext on the real Chromium output).
    for pdf in result.pdf:
        text = _squash(subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
                                      capture_output=True, text=True, check=True).stdout)
        for *_, utterance, _seg in kept:
            assert _squash(utterance) in text, (pdf.name, utterance)
        assert text.count(_squash(dismissed[4])) == as_context[pdf.stem[-2:]]
        # ... printed with the embedded font, as real text (not Type 3 glyph drawings).
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
        assert re.search(r"\+NotoSansCJK\S* +CID TrueType", fonts), fonts
        assert "Type 3" not in fonts, fonts

    # Chain of custody: every file is listed with its hash, and the hashes hold.
    man = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"] for f in man["files"]}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk - listed == {"manifest.json", "SHA256SUMS"}
    for f in man["files"]:
        assert sha256_file(folder / f["path"]) == f["sha256"], f["path"]
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=folder).returncode == 0
    # The originals' hashes are those of the recordings as they were dropped in.
    originals = {o["file_name"]: o for o in man["originals"]}
    for rel, digest in e2e.hashes_before.items():
        if rel.startswith("broken/"):
            continue
        assert originals[Path(rel).name]["sha256"] == digest
        assert sha256_file(folder / originals[Path(rel).name]["copy"]) == digest
    assert man["transcription_runs"] and man["transcription_runs"][0]["model_sha256"]

    # Clips, transcripts, drafts and the zip.
    assert len(list((folder / "clips").glob("*.mp3"))) == len({r[5] for r in kept})
    srts = list((folder / "transcripts").glob("*.srt"))
    assert len(srts) == result.recordings == len(originals)
    assert any("上门" in p.read_text(encoding="utf-8") for p in srts)
    drafts = sorted(p.name for p in (folder / "complaint-drafts").iterdir())
    assert drafts == ["12321.txt", "12378.txt", "police.txt"]
    with zipfile.ZipFile(result.zip_path) as z:
        assert {n.split("/", 1)[1] for n in z.namelist()} == on_disk

    target = os.environ.get("CE_SCREENSHOTS")
    if target:  # `make screenshots`: the first page of each report, for docs/
        for pdf in result.pdf:
            subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile",
                            str(pdf), str(Path(target) / pdf.stem)], check=True)


def test_two_packages_in_the_same_second_and_an_unwritable_folder(tmp_path, monkeypatch):
    import pipeline.report.build as build

    monkeypatch.setattr(build, "_package_name", lambda scope: "evidence_all_20261128-120000")
    db = _small_db(tmp_path)
    opts = ReportOptions(pdf=False, languages=("en",), make_zip=False)
    first = build_report(db, tmp_path / "out", Scope(), opts)
    second = build_report(db, tmp_path / "out", Scope(), opts)
    assert second.folder.name == first.folder.name + "-2" and manifest.check(second.folder) == []
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ReportError, match="cannot create the report folder"):
        build_report(db, blocker / "out", Scope(), opts)
