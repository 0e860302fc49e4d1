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
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.detect import load_rules
from pipeline.hashing import sha256_file
from pipeline.normalise import ffmpeg_exe
from pipeline.report import ReportError, ReportOptions, Scope, build_report, manifest
from pipeline.report.build import _marked, labels
from pipeline.report.chart import calls_per_day
from pipeline.report.complaint import at, channels, clock, draft, span
from pipeline.report.data import Day, incidents, load, same_number
from pipeline.report.fonts import embed, find_font
from pipeline.report.pdf import find_browser
from pipeline.report.subtitles import srt, vtt
from pipeline.store import FindingRow, SegmentRow, Store

from .conftest import make_why_db

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


def _squash(text: str) -> str:
    """Text without whitespace or punctuation: PDF text extraction breaks lines anywhere."""
    return re.sub(r"[\s\W_]+", "", text).lower()


def _copy_db(src: Path, dst: Path) -> Path:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


# --------------------------------------------------------------- a hand-made database
# The citations as the rule files give them (every jurisdiction is stored with a finding;
# the report picks the call's own, verified ones).
ZH_CITES = ["NIFA2018_16", "CIVIL_1024", "CRIM_293", "FDCPA_1692D1", "CONC_7"]
EN_CITES = ["FDCPA_1692D2", "REGF_1006_14", "CONC_7", "CIVIL_1024"]
SMALL = [("13812345678_20261102223015.amr", "13812345678", "2026-11-02T22:30:15",
          "今天再不还钱，我们明天就上门找你。", "visit_shaming", "上门找你", "zh"),
         ("Call recording 13912345678_261103_091500.m4a", "13912345678", "2026-11-03T09:15:00",
          "你这个老赖真不要脸", "insult", "老赖", "zh")]
MIXED = [*SMALL,
         ("+14155550123_2026-11-05_07-45-00.3gp", "+14155550123", "2026-11-05T07:45:00",
          "You are a worthless deadbeat.", "insult", "deadbeat", "en"),
         ("zh_threat_harm.flac", None, None, "你再不还钱，小心你的家人出事。", "threat_harm", "出事", "zh")]


def _small_db(tmp_path: Path, files: list[tuple] = SMALL, identity: bool = False) -> Path:
    """Recordings from different numbers (and one with no metadata in MIXED); the originals
    are copies of real fixtures.  ``identity``: the first call also gets a finding about its
    opening (nothing identified), as flow.identity_check makes."""
    rec_dir = tmp_path / "recordings"
    rec_dir.mkdir()
    store = Store(tmp_path / "e.db")
    cites = load_rules().citations
    for k, (name, number, when, text, cat, matched, lang) in enumerate(files):
        dest = rec_dir / name
        shutil.copyfile(FIXTURES / name, dest)
        sha = sha256_file(dest)
        store.note_file(sha, str(dest), dest.stat().st_size, "2026-11-02T00:00:00+00:00")
        rec = {"id": sha, "path": str(dest), "file_name": name, "size": dest.stat().st_size,
               "mtime": "2026-11-02T00:00:00+00:00", "phone_number": number, "call_time": when,
               "duration": 12.0, "language": lang}
        segs = [SegmentRow(0, 0.5, 2.5, "你好，我是催收专员。" if lang == "zh" else "Hello there."),
                SegmentRow(1, 3.04, 6.0, text, words=[(3.04, 4.0, text[:3], 0.95),
                                                      (4.0, 6.0, text[3:], 0.3)])]
        ids = ZH_CITES if lang == "zh" else EN_CITES
        findings = [FindingRow(1, f"{lang.upper()}_{cat.upper()}", cat, "high", matched, text, 4.1,
                               4.4, 0.8, None, [cites[i] for i in ids],
                               "possible violation — for human review")]
        if identity and k == 0:
            findings.append(FindingRow(0, "NO_IDENTIFICATION_FIRST_45S", "identity", "low", "",
                                       "你好，我是催收专员。 " + text, 0.5, 6.0, None, None,
                                       [cites["NIFA2018_15"], cites["FDCPA_1692E11"]],
                                       "possible violation — for human review"))
        store.save_recording(rec, segs, findings, None)
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
                              "--lang", "en", "--channel", "12315", "--name", "XX Collections",
                              "--number", "13812345678,13912345678"])  # one collector, two numbers
    assert res.exit_code == 0, res.output
    folder = Path(re.search(r"package: (.+)", res.output).group(1).strip())
    html = (folder / "report-en.html").read_text(encoding="utf-8")
    assert "上门找你" in html and "老赖" not in html  # the dismissed finding is left out
    assert "1 finding marked as dismissed" in html
    assert sorted(p.name for p in (folder / "complaint-drafts").iterdir()) == ["12315.txt"]
    assert manifest.check(folder) == []
    assert (folder.with_suffix(".zip")).is_file()
    res = runner.invoke(cli, ["review", "--db", str(db), "--list", "dismissed"])
    assert "borrower" not in res.output and str(fid) in res.output
    # ... saying why each was flagged, as the report's short marker, with the rule
    listed = runner.invoke(cli, ["review", "--db", str(db), "--list", "all"]).output.splitlines()
    assert len(listed) == 2 and all("[rule: ZH_" in line for line in listed), listed


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
    labels = {k: k for k in ("chart_title", "chart_calls", "connected", "night", "chart_findings",
                             "unanswered", "over_cap", "chart_findings_legend")}
    svg = calls_per_day([Day("2026-11-01", 3, 1, 1, 2, True), Day("2026-11-02"),
                         Day("2026-11-03", 1, 1)], labels)
    assert svg.startswith("<svg") and svg.count("<title>") == 3
    assert "2026-11-01: 3 chart_calls, 1 connected, 1 night, 2 chart_findings" in svg
    labels |= {"calls_n": ["{n} call", "{n} calls"], "findings_n": ["{n} finding", "{n} findings"]}
    svg = calls_per_day([Day("2026-11-01", 1, 1, 0, 1)], labels)
    assert "2026-11-01: 1 call, 1 connected, 0 night, 1 finding" in svg
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
    # one sentence, one time: the incident's time is its sentence's start, and the
    # matched words' own span is kept beside it
    assert grouped[0].start == f.sentence_start == 3.04 and grouped[0].end == 6.0
    assert (grouped[0].words_start, grouped[0].words_end) == (4.0, 4.4)
    assert grouped[0].utterance == f.utterance


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


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


ENGLISH_PHRASE = re.compile(r"[A-Za-z]{2,}(?:[ ,'’-]+[A-Za-z]{2,})+")
CJK_CHAR = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")


def strip_quoted(text: str, items: list[str]) -> str:
    """``text`` without each of ``items`` (quotes, names), wherever a line break falls in
    them; a Latin item is removed only as whole words."""
    keep = {i.strip() for i in items if i and (len(i.strip()) >= 2 or CJK_CHAR.match(i.strip()))}
    for item in sorted(keep, key=len, reverse=True):
        pattern = r"\s*".join(re.escape(c) for c in item if not c.isspace())
        if item[0].isascii() and item[0].isalnum():
            pattern = r"(?<![A-Za-z0-9])" + pattern
        if item[-1].isascii() and item[-1].isalnum():
            pattern += r"(?![A-Za-z0-9])"
        text = re.sub(pattern, " ", text)
    return text


def foreign_text(text: str, lang: str, quoted: list[str]) -> list[str]:
    """What a report says in the other language, once quotes and names are taken out:
    in report-zh a run of two or more Latin words, in report-en any CJK character."""
    rest = strip_quoted(text, quoted)
    if lang == "zh":
        return ENGLISH_PHRASE.findall(rest)
    return [line for line in rest.splitlines() if CJK_CHAR.search(line)]


def _words(value) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_words(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_words(v) for v in value)) if value else set()
    return {w.lower() for w in re.findall(r"[A-Za-z]{3,}", str(value))}


def broken_words(text: str, known: set[str]) -> list[str]:
    """Known words split across two lines ("Confide" / "nce", "+1415555012" / "3")."""
    out = []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for l1, l2 in zip(lines, lines[1:], strict=False):
        a = re.search(r"([A-Za-z]+|\d+)$", l1)
        b = re.match(r"([A-Za-z]+|\d+)", l2)
        if a and b and a.group(1)[0].isdigit() == b.group(1)[0].isdigit():
            joined = (a.group(1) + b.group(1)).lower()
            if joined in known and not (a.group(1).lower() in known and b.group(1).lower() in known):
                out.append(f"{a.group(1)}/{b.group(1)}")
    return out


HEADER_KEYS = ("counterparty", "numbers", "period", "jurisdiction", "generated", "calls_total",
               "night_calls", "days_over_caps", "recordings", "recorded_minutes", "category",
               "count", "pattern_when", "number", "pattern_detail", "threshold", "rules", "when",
               "file", "sentence_at", "speaker", "words_at", "severity", "confidence", "review",
               "duration")


@pytest.mark.slow
@needs_pdf
def test_package_from_the_fixtures(e2e, tmp_path):
    db = _copy_db(e2e.db, tmp_path / "evidence.db")
    store = Store(db)
    rows = store.conn.execute(
        "select f.id, f.matched_text, f.start, f.end, s.text, f.segment_id, s.start, s.end,"
        " f.category from findings f join segments s on s.id = f.segment_id"
        " where f.tier = 'finding' order by f.id").fetchall()  # listen suggestions wait for review
    assert len(rows) >= 8
    # A person dismisses the English insult (a finding alone in its utterance) ...
    dismissed = next(r for r in rows if r[4].count(r[1]) == 1 and
                     sum(1 for x in rows if x[4] == r[4]) == 1 and r[1].isascii())
    store.set_review([dismissed[0]], "dismissed", note="test")
    kept = [r for r in rows if r[0] != dismissed[0]]
    # ... and confirms a Mandarin one, with a note.
    confirmed = next(r for r in kept if not r[1].isascii() and r[8] != "identity")
    store.set_review([confirmed[0]], "confirmed", note="Checked by listening to the original")
    store.close()

    # the fixtures hold Mandarin (CN) and English (US) calls: one package, on purpose
    result = build_report(db, tmp_path / "out", Scope(name="XX 催收"), ReportOptions(all_in_one=True))
    folder = result.folder
    assert result.warnings == [], result.warnings
    assert sorted(p.name for p in result.pdf) == ["report-en.pdf", "report-zh.pdf"]

    # Every kept finding is in both reports with its words' time and its sentence; the
    # dismissed one is not.  A sentence has one time: its start, wherever it is shown.
    as_context = {}
    for lang in ("zh", "en"):
        html = (folder / f"report-{lang}.html").read_text(encoding="utf-8")
        for fid, matched, start, end, utterance, _seg, s_start, s_end, cat in kept:
            row = re.search(rf'data-finding-id="{fid}"[^>]*>(.*?)</tr>', html, re.S)
            assert row, (lang, fid)
            if cat != "identity":
                assert span(start, end) in row.group(1)
                assert f"[{at(s_start)}]" in html and span(s_start, s_end) in html
            words = re.sub(r"<[^>]+>", "", html)  # the quote is shown with <mark>s in it
            assert matched.strip() in words and utterance.strip() in words
            # ... and says why it was flagged, in the report's language
            why = re.search(rf'<tr class="why-row" data-why-for="{fid}">(.*?)</tr>', html, re.S)
            assert why and labels()[lang]["why"] in why.group(1), (lang, fid)
        stamps = re.findall(r"\[(\d+:\d\d\.\d)\] ", re.sub(r"<[^>]+>", "", html))
        assert stamps and set(stamps) <= {at(r[6]) for r in rows} | {
            at(x) for (x,) in sqlite3.connect(db).execute("select start from segments")}
        assert f'data-finding-id="{dismissed[0]}"' not in html
        quotes = re.findall(r'<div class="quote">(.*?)</div>', html, re.S)
        assert not any(dismissed[4].strip() in re.sub(r"<[^>]+>", "", q) for q in quotes)
        # It may still be heard as the context line of a neighbouring finding.
        as_context[lang] = sum(dismissed[4].strip() in c for c in
                               re.findall(r'<p class="ctx">(.*?)</p>', html, re.S))
        assert "@font-face{font-family:'CE Report CJK'" in html  # the font travels in the page
        assert "0.00" not in html  # no confidence is printed as zero
        assert "Checked by listening to the original" in html

    # The PDFs carry the same words (pdftotext on the real Chromium output) ...
    c = sqlite3.connect(db)
    quoted = [t for (t,) in c.execute("select text from segments")]
    quoted += [t for (t,) in c.execute("select matched_text from findings")]
    quoted += [t for (t,) in c.execute("select text from words where probability < 0.5")]
    quoted += [t for (t,) in c.execute("select pattern from findings") if t]  # rule data, as code
    quoted += ["Checked by listening to the original"]  # the reviewer's own words
    names = ["XX 催收", "call-evidence", "numbers.yaml", "manifest.json"]
    names += [t for (t,) in c.execute("select file_name from recordings")]
    names += [t for (t,) in c.execute("select phone_number from recordings") if t]
    names += [x for r in c.execute("select engine, model from runs") for x in r if x]
    names += [p.name for p in (folder / "clips").iterdir()]
    known = _words(labels()["en"]) | _words(quoted) | _words(load_rules().categories)
    known |= _words([x["en"] for x in load_rules().citations.values()])
    known |= {n for n in (re.sub(r"\D", "", x) for x in names) if n}
    for pdf in result.pdf:
        lang = pdf.stem[-2:]
        raw = pdf_text(pdf)
        text = _squash(raw)
        for *_, utterance, _seg, _a, _b, _c in kept:
            assert _squash(utterance) in text, (pdf.name, utterance)
        assert text.count(_squash(dismissed[4])) == as_context[lang]
        # the review note (its cell wraps, and pdftotext may read another column in between)
        assert all(w in raw for w in "Checked by listening to the original".split())
        # ... each wholly in its own language, quotes and names aside ...
        assert foreign_text(raw, lang, quoted + names) == [], pdf.name
        # ... with no header, word or number cut across two lines ...
        L = labels()[lang]
        for key in HEADER_KEYS:
            header = L[key]
            if lang == "zh":
                assert header in raw, (pdf.name, header)
            else:
                for w in header.split():
                    assert re.search(rf"(?<![A-Za-z]){re.escape(w)}(?![A-Za-z])", raw), (pdf.name, w)
        assert broken_words(raw, known) == [], pdf.name
        for number in {n for (n,) in c.execute("select phone_number from recordings") if n}:
            assert number in raw, (pdf.name, number)
        # ... printed with the embedded font, as real text (not Type 3 glyph drawings).
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
        assert re.search(r"\+NotoSansCJK\S* +CID TrueType", fonts), fonts
        assert "Type 3" not in fonts, fonts
    c.close()

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
    assert datetime.fromisoformat(man["created_at"]).utcoffset() == timedelta(0)
    verdicts = {r["finding_id"]: r for r in man["reviews"]}
    assert verdicts[dismissed[0]]["status"] == "dismissed" and verdicts[dismissed[0]]["note"] == "test"
    assert verdicts[confirmed[0]]["note"] == "Checked by listening to the original"

    # Clips: one per sentence (and one per call opening), each holding the whole sentence
    # with padding, measured on the decoded audio of the clip itself.
    sentences = {r[5] for r in kept if r[8] != "identity"}
    openings = [r for r in kept if r[8] == "identity"]
    assert len(list((folder / "clips").glob("*.mp3"))) == len(sentences) + len(openings)
    assert len(man["clips"]) == len(sentences) + len(openings)
    by_sentence = {(r[6], r[7]) for r in kept if r[8] != "identity"}
    durations = {o["sha256"]: o["duration_s"] for o in man["originals"]}
    for clip in man["clips"]:
        a, b = clip["clip_span_s"]
        s_start, s_end = clip["sentence_span_s"]
        # the clip's span holds the whole sentence (to the end of the recording at most)
        assert a <= s_start and b >= min(s_end, durations[clip["recording_sha256"]])
        assert a <= clip["words_span_s"][0] <= clip["words_span_s"][1] <= b
        decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(folder / clip["file"]),
                                  "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
                                 capture_output=True, check=True).stdout
        duration = len(decoded) / 32000
        assert duration >= s_end - s_start, (clip["file"], duration, s_start, s_end)
        assert duration >= (b - a) - 0.1, (clip["file"], duration, a, b)
        if tuple(clip["sentence_span_s"]) in by_sentence:
            by_sentence.discard(tuple(clip["sentence_span_s"]))
    assert not by_sentence  # every sentence has its clip

    # Transcripts, drafts and the zip.
    srts = list((folder / "transcripts").glob("*.srt"))
    assert len(srts) == result.recordings == len(originals)
    assert any("上门" in p.read_text(encoding="utf-8") for p in srts)
    drafts = sorted(p.name for p in (folder / "complaint-drafts").iterdir())
    assert drafts == ["12321.txt", "12378.txt", "cfpb.txt", "police.txt"]  # CN and US bodies (all-in-one)
    police = (folder / "complaint-drafts" / "police.txt").read_text(encoding="utf-8")
    assert "号码未知" in police and "报案人" in police and "?，号码 ?" not in police
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


# --------------------------------------------------------------- the right law, scope, drafts
def _cards(html: str) -> list[tuple[str, str]]:
    """(jurisdiction, card html) for every finding card of a report."""
    return re.findall(r'<div class="finding [^"]*" id="incident-\d+" data-jurisdiction="(\w+)">'
                      r'(.*?)\n</div>', html, re.S)


def _law_labels(lang: str) -> dict[str, set[str]]:
    """Every citation label a report in ``lang`` may print, by jurisdiction."""
    out: dict[str, set[str]] = {}
    for c in load_rules().citations.values():
        out.setdefault(c["jurisdiction"], set()).add(html_escape(c[lang]))
    return out


def _shown(html: str) -> list[str]:
    """The citation labels in ``html`` as printed (markup and any condition line taken off,
    the non-breaking spaces of a designation read as spaces)."""
    return [re.sub(r"<[^>]+>", "", re.sub(r"<br>.*", "", li, flags=re.S)).replace("\u00a0", " ")
            for li in re.findall(r"<li>(.*?)</li>", html, re.S)]


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_citations_follow_the_jurisdiction_of_each_call(tmp_path):
    """A Mandarin call under CN rules shows no US or UK law, the +1 call (judged by US
    rules from its number) no Chinese or UK law; unverified citations are never shown."""
    db = _small_db(tmp_path, MIXED)
    result = build_report(db, tmp_path / "out", Scope(),
                          ReportOptions(pdf=False, make_zip=False, all_in_one=True))
    labels = {lang: _law_labels(lang) for lang in ("zh", "en")}
    verified = {c["id"] for c in load_rules().citations.values() if c["verified"]}
    for lang in ("zh", "en"):
        html = (result.folder / f"report-{lang}.html").read_text(encoding="utf-8")
        cards = _cards(html)
        assert {j for j, _ in cards} == {"CN", "US"}
        for j, card in cards:
            shown = _shown(card)
            assert shown, card  # every fixture rule has a verified provision of its call's law
            assert all(s in labels[lang][j] for s in shown), (j, shown)
            others = set().union(*(v for k, v in labels[lang].items() if k != j))
            assert not any(o in card for o in others), j
        for j, row in re.findall(r'<tr class="pattern-row" data-jurisdiction="(\w+)">(.*?)</tr>',
                                 html, re.S):
            assert all(s in labels[lang][j] for s in _shown(row))
        assert "unverified" not in html.lower() and "NIFA" not in html and "自律公约" not in html
        assert ("公平债务催收作业法" in html and "民法典" in html) if lang == "zh" else (
            "FDCPA" in html and "Civil Code" in html)
    data = _load(db)
    for f in data.findings:
        assert {c["id"] for c in f.shown_citations} <= verified
        assert {c["jurisdiction"] for c in f.shown_citations} == {f.recording.jurisdiction}
    us = next(r for r in data.recordings if r.phone_number == "+14155550123")
    assert (us.jurisdiction, us.jurisdiction_reason) == ("US", "prefix +1")
    assert any(p.rule_id == "US_NIGHT_21_08" and p.jurisdiction == "US" for p in data.patterns)
    assert not any(p.phone_number == "+14155550123" and p.jurisdiction == "CN" for p in data.patterns)


def test_an_english_call_with_no_number_is_judged_by_its_language(tmp_path):
    """With no number, no numbers.yaml and no --jurisdiction, an English call is judged
    under US rules (not CN, the default), and both reports and the manifest say why; a
    Mandarin call with no number stays under CN.  A --jurisdiction covers both."""
    files = [*MIXED, ("en_short_call.wav", None, None, "You are a worthless deadbeat.", "insult",
                      "deadbeat", "en")]
    db = _small_db(tmp_path, files)
    data = _load(db)
    by_file = {r.file_name: r for r in data.recordings}
    assert (by_file["en_short_call.wav"].jurisdiction,
            by_file["en_short_call.wav"].jurisdiction_reason) == ("US", "language en")
    assert (by_file["zh_threat_harm.flac"].jurisdiction,
            by_file["zh_threat_harm.flac"].jurisdiction_reason) == ("CN", "default")
    assert ("", "US", "language en") in data.number_jurisdictions
    assert ("", "CN", "default") in data.number_jurisdictions
    result = build_report(db, tmp_path / "out", Scope(),
                          ReportOptions(pdf=False, make_zip=False, all_in_one=True))
    en = (result.folder / "report-en.html").read_text(encoding="utf-8")
    zh = (result.folder / "report-zh.html").read_text(encoding="utf-8")
    assert "recordings with no number (spoken in English)" in en
    assert "没有号码的录音（通话为英语）" in zh
    card = next(c for j, c in _cards(en) if "deadbeat" in c and "14155550123" not in c)
    assert "FDCPA" in card and "Civil Code" not in card
    manifest = json.loads((result.folder / "manifest.json").read_text(encoding="utf-8"))
    assert {"number": None, "jurisdiction": "US", "why": "language en"} in \
        manifest["report_settings"]["number_jurisdictions"]
    chosen = load_report_data_with(db, "CN")
    assert {r.jurisdiction for r in chosen.recordings if not r.phone_number} == {"CN"}


def load_report_data_with(db: Path, jurisdiction: str):
    store = Store(db)
    try:
        return load(store, Scope(), jurisdiction)
    finally:
        store.close()


def test_a_provision_no_longer_in_force_is_not_cited(tmp_path):
    """治安管理处罚法 (2012) Art. 42 was replaced on 2026-01-01: a 2025 call may cite it,
    a 2026 call may not (the 2025 revision's Art. 50 is not verified, so nothing is shown)."""
    from pipeline.calls.jurisdiction import shown_citations

    known = load_rules().citations
    old = [known["PSAPL_42"]]
    assert shown_citations(old, "CN", "2025-12-31T23:00:00", known)
    assert not shown_citations(old, "CN", "2026-01-01T00:10:00", known)
    assert not shown_citations(old, "CN", None, known)  # undated: cannot know which text applied
    assert not shown_citations([known["PSAPL_2025_50"]], "CN", "2026-03-01T10:00:00", known)
    assert not shown_citations(old, "US", "2025-06-01T10:00:00", known)


@pytest.mark.parametrize("args, message", [
    (["--number", "19999999999"], "no recording, no call and no message finding from 19999999999"),
    (["--number", "abc"], "'abc' is not a phone number"),
    (["--number", "138"], "is not a phone number"),
    (["--from", "2030-01-01"], "dated 2030-01-01 or later"),
    (["--from", "2026-11-03", "--to", "2026-11-02"], "--from is after --to"),
    (["--number", "13812345678", "--to", "2026-11-01"], "dated 2026-11-01 or earlier"),
])
def test_an_empty_or_invalid_scope_is_an_error_and_makes_no_package(tmp_path, args, message):
    db = _small_db(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(out), "--no-pdf", *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not out.exists()  # nothing written, not even an empty folder
    with pytest.raises(ReportError):
        if "--number" in args and args[1] in ("abc", "138"):
            from pipeline.report.data import check_number

            check_number(args[1])
        else:
            numbers = [args[i + 1] for i, a in enumerate(args) if a == "--number"]
            _load(db, Scope(numbers=numbers, date_from=_day(args, "--from"),
                            date_to=_day(args, "--to")))


def _day(args: list[str], flag: str):
    from datetime import date

    return date.fromisoformat(args[args.index(flag) + 1]) if flag in args else None


def test_one_sentence_one_time_and_no_confidence_is_not_zero(tmp_path):
    """The opening finding is a card of its own (never pinned to the insult in the same
    segment), shows "—" for its confidence, and every card gives its sentence's start."""
    db = _small_db(tmp_path, identity=True)
    data = _load(db)
    opening = [i for i in data.incidents if i.opening]
    assert len(opening) == 1 and opening[0].categories == ["identity"]
    assert all("identity" not in i.categories for i in data.incidents if not i.opening)
    result = build_report(db, tmp_path / "out", Scope(),
                          ReportOptions(pdf=False, make_zip=False, languages=("en",)))
    html = (result.folder / "report-en.html").read_text(encoding="utf-8")
    ident = next(f for f in data.findings if f.category == "identity")
    row = re.search(rf'data-finding-id="{ident.id}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert '<td class="confidence">—' in row and "0.00" not in row
    assert at(3.04) == "0:03.0" and span(10.1, 10.46) == "0:10.1–0:10.4"
    assert html.count("[0:03.0]") >= 2  # the sentence, and the same sentence as context
    assert "0:04.1–0:04.4" in html  # the matched words' own span beside it
    # the drafts describe the opening as such: no quote, no position of a sentence
    for text, desc in ((draft("police", data), "通话开头 45 秒内"),
                       (draft("cfpb", data), "In the first 45 seconds")):
        lines = text.splitlines()
        i = next(k for k, line in enumerate(lines) if desc in line)
        assert not re.search("[“”\"]", lines[i]) and "上门" not in lines[i]
        assert lines[i - 1].endswith(("：", ":")) and not re.search(r"(第|at) \d+:\d", lines[i - 1])


def test_review_notes_reach_the_report_and_the_manifest(tmp_path):
    db = _small_db(tmp_path, MIXED)
    c = sqlite3.connect(db)
    keep = c.execute("select id from findings where category = 'visit_shaming'").fetchone()[0]
    drop = c.execute("select id from findings where category = 'threat_harm'").fetchone()[0]
    c.close()
    runner = CliRunner()
    assert runner.invoke(cli, ["review", str(keep), "--confirm", "--note",
                               "Checked by listening: his words", "--db", str(db)]).exit_code == 0
    assert runner.invoke(cli, ["review", str(drop), "--dismiss", "--note", "my own words",
                               "--db", str(db)]).exit_code == 0
    # a verdict stored by an earlier version, in its English words, is still worded per language
    store = Store(db)
    old = store.conn.execute("select id from findings where category = 'insult'").fetchone()[0]
    store.set_review([old], "confirmed", reviewed_by="this computer (browser, no login)")
    store.close()
    result = build_report(db, tmp_path / "out", Scope(),
                          ReportOptions(pdf=False, make_zip=False, all_in_one=True))
    login = sqlite3.connect(db).execute("select reviewed_by from finding_reviews where note like"
                                        " 'Checked%'").fetchone()[0]
    assert login.startswith("cli:") and "command line" not in login  # stored neutral
    who = {"zh": [f"核实人 {login[4:]}（命令行）", "核实人 本机浏览器（未登录）"],
           "en": [f"by {login[4:]} (command line)", "by this computer (browser, no login)"]}
    for lang in ("zh", "en"):
        html = (result.folder / f"report-{lang}.html").read_text(encoding="utf-8")
        row = re.search(rf'data-finding-id="{keep}"[^>]*>(.*?)</tr>', html, re.S).group(1)
        assert "Checked by listening: his words" in row
        assert who[lang][0] in row
        assert who[lang][1] in re.search(rf'data-finding-id="{old}"[^>]*>(.*?)</tr>', html, re.S).group(1)
        if lang == "zh":
            assert "command line" not in html and "browser" not in html
        assert "my own words" not in html  # the dismissed finding is left out ...
    man = json.loads((result.folder / "manifest.json").read_text(encoding="utf-8"))
    reviews = {r["finding_id"]: r for r in man["reviews"]}  # ... but its verdict is listed
    assert reviews[keep]["reviewed_by"] == login
    assert reviews[keep]["status"] == "confirmed" and reviews[keep]["note"].startswith("Checked")
    assert reviews[drop] == {**reviews[drop], "status": "dismissed", "note": "my own words"}
    assert reviews[keep]["reviewed_at"] and reviews[keep]["sentence_start_s"] == 3.04
    created = datetime.fromisoformat(man["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 600


def test_drafts_for_calls_without_metadata_and_for_the_police(tmp_path):
    data = _load(_small_db(tmp_path, MIXED, identity=True))
    police = draft("police", data)
    assert "报案人：" in police and "报案人（签名）" in police and "投诉人" not in police
    assert "号码未知" in police and "通话时间未知" in police
    assert "?" not in police.replace("？", "")  # no "9. ?，号码 ?"
    assert "1 个录音文件没有通话日期" in police
    en = draft("cfpb", data)
    assert "number unknown" in en and "Time unknown" in en and "?," not in en
    assert "1 recording has no call date" in en
    assert "4 original recordings" in en
    one = _load(tmp_path / "e.db", Scope(numbers=["13812345678"]))
    text = draft("fos", one)
    assert "1 original recording " in text and "1 call:" in text and "0 days over" in text
    assert "1 calls" not in text and "1 original recordings" not in text


def test_the_chart_counts_findings_not_sentences(tmp_path):
    db = _small_db(tmp_path)
    store = Store(db)
    sha = store.conn.execute("select id from recordings where phone_number = '13812345678'"
                             ).fetchone()[0]
    rows = store.load_segments(sha)
    two = [FindingRow(1, "ZH_VISIT", "visit_shaming", "high", "上门", rows[1].text, 4.1, 4.4, 0.8,
                      None, [], "n"),
           FindingRow(1, "ZH_THREAT", "threat_harm", "high", "找你", rows[1].text, 4.5, 4.9, 0.8,
                      None, [], "n")]
    store.replace_findings(sha, two, None)
    data = load(store, Scope(numbers=["13812345678"]))
    store.close()
    assert len(data.incidents) == 1 and [d.findings for d in data.days] == [2]
    assert "findings in that day's recordings" in labels_en()["chart_title"]


def labels_en() -> dict:
    return labels()["en"]


def test_call_pattern_details_are_worded_in_each_language_and_agree_with_their_count():
    from pipeline.report.build import _pattern_text
    from pipeline.report.data import PatternItem

    stop = PatternItem("CN_CONTACT_AFTER_STOP", "after_stop", "medium", "138", "2026-11-03",
                       "2026-11-02T10:00:00", "2026-11-03T10:00:00", 2, "x",
                       "1 call(s) after the stop request of 2026-11-02 10:00 (CN rules)", [], "CN",
                       "after_stop", {"count": 1, "when": "2026-11-02 10:00"})
    night = PatternItem("US_NIGHT_21_08", "night_call", "medium", "+1", "2026-11-05",
                        "2026-11-05T07:45:00", "2026-11-05T07:45:00", 1, "21:00:01–08:00",
                        "connected call at 07:45 local time (US rules)", [], "US", "night",
                        {"time": "07:45", "connected": True, "start": "21:00", "end": "08:00"})
    en, zh = labels()["en"], labels()["zh"]
    assert _pattern_text(en["pattern_details"], stop, en) == (
        "1 more call after the request to stop of 2026-11-02 10:00")
    assert _pattern_text(zh["pattern_details"], stop, zh) == "2026-11-02 10:00 要求停止联系后又来电 1 次"
    assert _pattern_text(zh["pattern_details"], night, zh) == "接通的来电，当地时间 07:45"
    assert _pattern_text(zh["pattern_thresholds"], night, zh) == "21:00–08:00 不应来电"
    assert _pattern_text(en["pattern_thresholds"], night, en) == "no calls 21:00–08:00"


# --------------------------------------------------------------- why each finding was flagged
# rule id -> the report's words, per language (conftest.WHY_CALLS holds the findings)
# What the reader sees on a card: no rule id, no pattern, no score (those are in the
# appendix for experts).
WHY = {
    "ZH_THIRD_PARTY_DISCLOSE": {
        "en": "A rule matched the words “告诉你家人”; the meaning check agreed.",
        "zh": "规则匹配了“告诉你家人”；语义判断同意。"},
    "MEANING_THREAT_HARM": {
        "en": "No rule matched; the sentence as a whole reads as “Threat of harm to person or"
              " property”; listen to it.",
        "zh": "没有规则匹配；整句语义判断为“威胁人身安全”，请核听。"},
    "ZH_LEGAL_CLAIM": {
        "en": "A rule matched the words “起诉”; the meaning check does not judge this"
              " kind of finding, so the rule alone decides.",
        "zh": "规则匹配了“起诉”；这类发现项不经语义判断，由规则决定。"},
    "ZH_INSULT_LEXICON": {
        "en": "A rule matched the words “老赖”; rules alone: the meaning check was"
              " off for this run.",
        "zh": "规则匹配了“老赖”；仅按规则：本次处理未运行语义判断。"},
    "EN_INSULT_PROFANITY": {
        "en": "A rule matched the words “deadbeat”; the meaning check agreed.",
        "zh": "规则匹配了“deadbeat”；语义判断同意。"},
}
SOUND = {"en": "Matched by sound: the recording may say something else; listen to it.",
         "zh": "按读音匹配，录音内容可能不同，请核听。"}


def _body_text(html_text: str) -> str:
    import html as html_lib

    body = re.sub(r"<style>.*?</style>", " ", html_text[html_text.find("<body>") + 1:], flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", body.replace("<wbr>", "")))


@needs_pdf
def test_each_finding_says_why_it_was_flagged_in_each_report_and_the_manifest(tmp_path):
    """One finding of each method (conftest.make_why_db): each report says why in its own
    language, with the pattern as data and the score; the summary counts what was found by
    meaning alone; the method section says how the runs detected; the manifest lists each
    finding's method, pattern and score and each run's detection line."""
    db = make_why_db(tmp_path / "why")
    result = build_report(db, tmp_path / "out", Scope(), ReportOptions(make_zip=False, all_in_one=True))
    assert result.warnings == [], result.warnings
    c = sqlite3.connect(db)
    found = c.execute("select id, rule_id, method, pattern, score, matched_text from findings"
                      " order by id").fetchall()
    assert {f[2] for f in found} == {"rule", "rule+meaning", "sound+meaning", "meaning"}
    quoted = [t for (t,) in c.execute("select text from segments")]
    quoted += [f[5] for f in found] + [f[3] for f in found if f[3]]
    names = ["call-evidence", "manifest.json"]
    names += [t for (t,) in c.execute("select file_name from recordings")]
    names += [p.name for p in (result.folder / "clips").iterdir()]
    for lang in ("zh", "en"):
        page = (result.folder / f"report-{lang}.html").read_text(encoding="utf-8")
        L = labels()[lang]
        for fid, rule_id, method, pattern, _score, _matched in found:
            row = re.search(rf'<tr class="finding-row" data-finding-id="{fid}"[^>]*'
                            rf'data-method="([^"]+)">(.*?)</tr>\s*<tr class="why-row" data-why-for="{fid}">'
                            r"(.*?)</tr>", page, re.S)
            assert row and row.group(1) == method, (lang, fid)
            why = _body_text(row.group(3))
            assert why.strip().startswith(L["why"]), (lang, why)
            if rule_id in WHY:
                assert WHY[rule_id][lang] in why, (lang, rule_id, why)
            assert (SOUND[lang] in why) == (rule_id == "ZH_FALSE_LEGAL_JAIL"), (lang, rule_id)
            assert rule_id not in why and (not pattern or pattern not in why)
            assert _score is None or f"{_score:.2f}" not in why
            # the rule id, the whole pattern as written and the score: in the expert appendix
            extra = re.search(rf'<tr class="appendix-row" data-finding-id="{fid}">(.*?)</tr>', page, re.S)
            extra = _body_text(extra.group(1)).replace("\u200b", "")
            assert rule_id in extra and (not pattern or pattern in extra), (lang, extra)
            assert (f"{_score:.2f}" if _score is not None else L["not_applicable"]) in extra
            if method == "meaning":  # found by meaning is marked where the category is
                assert L["why_text"]["badge"]["meaning"] in _body_text(row.group(2))
        count = re.search(r'<td class="by-meaning-count">(\d+)', page)
        assert count and count.group(1) == "1"
        for key in ("detection_meaning", "detection_rules_only"):
            assert f'<p class="meta detection">{L[key]}</p>' in page, (lang, key)
        # wholly in its language: in the page and in the printed PDF, quotes and patterns aside
        assert foreign_text(_body_text(page), lang, quoted + names) == [], lang
        raw = pdf_text(result.folder / f"report-{lang}.pdf")
        assert foreign_text(raw, lang, quoted + names) == [], lang
        assert _squash(WHY["MEANING_THREAT_HARM"][lang]) in _squash(raw)

    man = json.loads((result.folder / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["finding_id"]: f for f in man["findings"]}
    assert set(listed) == {f[0] for f in found}
    for fid, rule_id, method, pattern, score, _matched in found:
        entry = listed[fid]
        assert (entry["rule_id"], entry["method"], entry["pattern"], entry["score"]) == \
            (rule_id, method, pattern, score)
        assert entry["found_by_meaning"] == (method == "meaning")
        assert entry["matched_by_sound"] == (rule_id == "ZH_FALSE_LEGAL_JAIL")
    runs = dict(c.execute("select id, detection from runs"))
    assert {r["id"]: r["detection"] for r in man["detection_runs"]} == runs
    assert all(listed[f]["detection"] == runs[listed[f]["run_id"]] for f in listed)
    assert {r["id"]: r["detection"] for r in man["transcription_runs"]} == runs
    c.close()
