"""One counterparty per package (pipeline/report/groups.py, batch.py): a database with a
Chinese lender (two rotating numbers and a third that texts, grouped in numbers.yaml) and
a US number, with calls and messages, gives two packages and an index; each report is in
one jurisdiction, its dates and counts include the messages, and its drafts address its
own jurisdiction's bodies and list only files the package holds.

The database and the default run are built once for the module (real fixtures' audio,
real ffmpeg clips, the real text scanner); the checks read the files they wrote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.report import manifest

from .test_report import SMALL, _small_db, needs_pdf
from .test_report_messages import SMS

US_CALL = ("+14155550123_2026-11-05_07-45-00.3gp", "+14155550123", "2026-11-05T07:45:00",
           "You are a worthless deadbeat.", "insult", "deadbeat", "en")
LENDER = "XX 贷款"
NUMBERS_YAML = f"""counterparties:
  "{LENDER}": ["13812345678", "+86 139 1234 5678", "15000000000"]
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("two")
    path = _small_db(root, [*SMALL, US_CALL])
    (root / "numbers.yaml").write_text(NUMBERS_YAML, encoding="utf-8")
    sms = root / "sms.csv"
    sms.write_text(SMS, encoding="utf-8")
    res = CliRunner().invoke(cli, ["scan-text", str(sms), "--db", str(path)])
    assert res.exit_code == 0, res.output
    return path


def _report(db: Path, out: Path, *args: str):
    return CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(out), "--no-pdf", *args])


@pytest.fixture(scope="module")
def batch(db, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("out")
    res = _report(db, out, "--complainant", "张三 138****0000")
    assert res.exit_code == 0, res.output
    [folder] = [p for p in out.iterdir() if p.is_dir()]
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    packages = {row["jurisdiction"]: folder / row["folder"] for row in index["packages"]}
    return {"out": out, "folder": folder, "index": index, "packages": packages, "output": res.output}


def test_two_counterparties_two_packages_and_an_index(batch):
    rows = batch["index"]["packages"]
    assert [(r["counterparty"], r["jurisdiction"]) for r in rows] == [(LENDER, "CN"),
                                                                        ("+14155550123", "US")]
    # stored canonical (pipeline/calls/numbers.py), calls and messages alike
    assert sorted(rows[0]["numbers"]) == ["+8613812345678", "+8613912345678", "+8615000000000"]
    index_html = (batch["folder"] / "INDEX.html").read_text(encoding="utf-8")
    assert LENDER in index_html and "+14155550123" in index_html
    for package in batch["packages"].values():
        assert manifest.check(package) == []
        assert package.with_suffix(".zip").is_file()
        modes = {oct(p.stat().st_mode & 0o777) for p in package.rglob("*") if p.is_file()}
        assert modes == {"0o644"}, modes  # clips too
        made = json.loads((package / "manifest.json").read_text(encoding="utf-8"))["created_at"]
        stamp = made[:16].replace("T", " ")  # the report prints the same instant
        assert stamp in (package / "report-en.html").read_text(encoding="utf-8")
    assert "2 packages, one per counterparty" in batch["output"]
    assert not [p for p in batch["out"].rglob(".*")]  # no temporary folder left


def test_each_report_is_in_one_jurisdiction(batch):
    for code, package in batch["packages"].items():
        for lang in ("zh", "en"):
            page = (package / f"report-{lang}.html").read_text(encoding="utf-8")
            cards = re.findall(r'class="finding [^"]*" id="[a-z]+-\d+" data-jurisdiction="(\w+)"', page)
            assert cards and set(cards) == {code}, (code, lang)
            assert 'class="warn mixes"' not in page
        drafts = sorted(p.stem for p in (package / "complaint-drafts").iterdir())
        assert drafts == (["12321", "12378", "police"] if code == "CN" else ["cfpb"])
        cn = (package / "report-en.html").read_text(encoding="utf-8")
        assert ("deadbeat" in cn) == (code == "US") and ("老赖" in cn) == (code == "CN")
        # private insults: no §246; four insults and threats: §293 only as "may apply if"
        assert "Art. 246" not in cn
        assert ("may apply if the insults or threats were repeated" in cn) == (code == "CN")


def test_dates_and_counts_include_the_messages(batch):
    cn = batch["packages"]["CN"]
    m = json.loads((cn / "manifest.json").read_text(encoding="utf-8"))
    # calls on 11-02 and 11-03, messages to 11-06 (11-07's reminder has no finding, and
    # 11-08's comes from the lender's third number)
    assert m["report_settings"]["period"] == ["2026-11-02", "2026-11-08"]
    assert len(m["messages"]) == 2 and len(m["originals"]) == 2
    page = (cn / "report-en.html").read_text(encoding="utf-8")
    assert "2026-11-02</span> — <span class=\"num\">2026-11-08" in page
    table = dict(re.findall(r'<tr><td class="cat">([^<]+)</td><td class="n">(\d+)</td></tr>', page))
    # one insult call, one visit call, and the messages' insults and visit
    assert table["Insult / profanity"] == "3" and table["Visits and public shaming"] == "2"
    assert m["complainant"] == "张三 138****0000" and "张三 138****0000" in page


def test_drafts_list_only_files_the_package_holds(batch):
    for package in batch["packages"].values():
        clips = len(list((package / "clips").glob("*.mp3")))
        originals = len(list((package / "originals").iterdir()))
        transcripts = len(list((package / "transcripts").glob("*.txt")))
        for t in (package / "transcripts").glob("*.txt"):  # headers in both languages
            head = t.read_text(encoding="utf-8")
            assert "录音文件 / file:" in head and "适用规则 / rules applied:" in head
        for draft in (package / "complaint-drafts").iterdir():
            text = draft.read_text(encoding="utf-8")
            attach = text[text.index("四、附件" if "四、附件" in text else "4. Attachments"):]
            said = re.findall(r"原始录音 (\d+) 个|录音片段 (\d+) 个|转写文本 (\d+) 份|"
                              r"(\d+) original recordings?|(\d+) clips?\b|(\d+) transcripts?\b", attach)
            said = [int("".join(x)) for x in said]
            assert said == [originals, clips, transcripts], (draft, attach)
            assert ".pdf" not in attach and "report-zh.html" in attach


def test_a_scope_of_messages_only_counts_them(db, tmp_path):
    res = _report(db, tmp_path, "--from", "2026-11-06", "--lang", "en", "--number", "13912345678")
    assert res.exit_code == 0, res.output
    [package] = [p for p in tmp_path.iterdir() if p.is_dir()]
    page = (package / "report-en.html").read_text(encoding="utf-8")
    assert "2026-11-06</span> — <span class=\"num\">2026-11-06" in page
    assert "<td colspan=\"2\">none</td>" not in page  # the category table counts the message
    draft = (package / "complaint-drafts" / "12378.txt").read_text(encoding="utf-8")
    attach = draft[draft.index("四、附件"):]
    assert "原始录音" not in attach and "录音片段" not in attach and "转写文本" not in attach
    assert "短信/聊天消息原文 1 条" in attach
    assert not (package / "transcripts").exists() and not (package / "clips").exists()


def test_numbers_of_two_jurisdictions_are_not_one_report_unless_asked(db, tmp_path):
    res = _report(db, tmp_path / "a", "--number", "13812345678,+14155550123")
    assert res.exit_code == 2 and "different jurisdictions" in res.output
    assert not (tmp_path / "a").exists()
    res = _report(db, tmp_path / "b", "--all-in-one", "--lang", "en", "--no-originals")
    assert res.exit_code == 0, res.output
    [package] = [p for p in (tmp_path / "b").iterdir() if p.is_dir()]
    page = (package / "report-en.html").read_text(encoding="utf-8")
    first = page[:page.index("<h2>")]
    assert 'class="warn mixes"' in first and LENDER in first and "United States" in first
    assert sorted(p.stem for p in (package / "complaint-drafts").iterdir()) == [
        "12321", "12378", "cfpb", "police"]
    assert "[WARNING] This package was asked to mix" in (
        package / "complaint-drafts" / "cfpb.txt").read_text(encoding="utf-8")


def test_a_channel_of_another_jurisdiction_is_written_with_a_warning(db, tmp_path):
    res = _report(db, tmp_path, "--number", "13812345678", "--channel", "cfpb", "--lang", "en")
    assert res.exit_code == 0, res.output
    assert "warning: the cfpb draft is addressed to a US body" in res.output
    [package] = [p for p in tmp_path.iterdir() if p.is_dir()]
    text = (package / "complaint-drafts" / "cfpb.txt").read_text(encoding="utf-8")
    assert text.splitlines()[1].startswith("[WARNING] This draft is addressed to a US body")


def test_lender_labels_must_be_lists_of_numbers(db, tmp_path):
    copy = tmp_path / "e.db"
    shutil.copyfile(db, copy)
    (tmp_path / "numbers.yaml").write_text("counterparties: [1, 2]\n", encoding="utf-8")
    res = _report(copy, tmp_path / "out")
    assert res.exit_code == 1 and "counterparties: expected a mapping" in res.output


def test_messages_are_read_and_the_reader_sees_no_codes(batch):
    from pipeline.flagged import Why
    from pipeline.report.build import labels

    for lang, read, listen in (("en", "read it to check", "listen"), ("zh", "请阅读原文核对", "核听")):
        L = labels()[lang]
        text = Why("meaning", "MEANING_X", "", None, 0.9).sentence({**L["why_text"], **L["why_message"]}, "c")
        assert read in text and listen not in text
    for package in batch["packages"].values():
        for lang in ("zh", "en"):
            page = (package / f"report-{lang}.html").read_text(encoding="utf-8")
            body = page[:page.index('<section class="appendix">')]
            body = re.sub(r"<[^>]+>", " ", body[body.index("<body>"):])
            assert not re.search(r"\b(ZH|EN)_[A-Z_]+\b|scan-text|语义分数|meaning score", body), lang
            assert not re.search(r"[（(](CN|US|UK)[）)]|\b(CN|US) (rules|\d)", body), lang
            messages = re.findall(r'<div class="finding message.*?\n</div>', page, re.S)
            assert messages and not any("核听" in m or "listen" in m.lower() for m in messages)


@needs_pdf
def test_printed_pages_first_findings_and_messages(db, tmp_path):
    """The Chinese lender's package printed by real Chromium: page one names the
    complainant and the counterparty, the cards flow several to a page (not one card per
    page), and a citation is never split across lines.  With CE_SCREENSHOTS set (`make
    screenshots`), the first page, a findings page and a messages page of each language
    are written there as PNG for docs/report.md."""
    res = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(tmp_path / "pdf"),
                                   "--number", "13812345678,13912345678,15000000000", "--name", LENDER,
                                   "--complainant", "张三（联系电话 138****0000）"])
    assert res.exit_code == 0, res.output
    [package] = [p for p in (tmp_path / "pdf").iterdir() if p.is_dir()]
    target = os.environ.get("CE_SCREENSHOTS")
    for lang, card, message, law in (("zh", "#1 · ", "消息 #1 · ", "《刑法》第二百九十三条"),
                                     ("en", "#1 · ", "Message #1 · ", "PRC Criminal Law, Art. 293")):
        pdf = package / f"report-{lang}.pdf"
        pages = [pdf_text(pdf, page) for page in range(1, _pages(pdf) + 1)]
        assert "张三" in pages[0] and LENDER in pages[0]
        findings = next(i for i, t in enumerate(pages, 1) if card in t)
        messages = next(i for i, t in enumerate(pages, 1) if message in t)
        cards = sum(len(re.findall(r"^(?:#\d+|消息 #\d+|Message #\d+) · ", t, re.M)) for t in pages)
        assert cards == 4 and len(pages) <= 5, (lang, len(pages))  # flowing, not a page each
        assert any(law in " ".join(t.split()) for t in pages), lang
        if target:
            for name, page in (("first", 1), ("findings", findings), ("messages", messages)):
                subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(page), "-l", str(page),
                                "-singlefile", str(pdf), str(Path(target) / f"report-{lang}-{name}")],
                               check=True)


def pdf_text(pdf: Path, page: int) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", "-f", str(page), "-l", str(page), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def _pages(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", out).group(1))
