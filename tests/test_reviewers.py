"""Who gave a verdict (pipeline/reviewers.py): stored neutral, worded per language, and the
English strings of earlier versions still read."""

import pytest

from pipeline import reviewers
from pipeline.browse import labels
from pipeline.report.build import labels as report_labels


def test_codes_are_neutral():
    assert reviewers.command_line("ana") == "cli:ana"
    assert reviewers.command_line(None) == "cli"
    assert reviewers.browser("caseworker") == "browser:caseworker"
    assert reviewers.browser(None) == reviewers.browser("") == "local-browser"
    assert reviewers.command_line("a\nb   c") == "cli:a b c"  # one line


@pytest.mark.parametrize("stored, parsed", [
    ("cli:root", ("cli", "root")), ("cli", ("cli", None)), ("browser:caseworker", ("browser", "caseworker")),
    ("local-browser", ("local-browser", None)),
    # what schema 4's first release stored
    ("this computer (browser, no login)", ("local-browser", None)),
    ("root (command line)", ("cli", "root")), ("command line", ("cli", None)),
    ("caseworker (browser)", ("browser", "caseworker")),
    # something else (typed into the database by hand): shown as it is
    ("Ms Li, legal aid", (None, "Ms Li, legal aid")), (None, (None, None)), ("", (None, None)),
])
def test_parse(stored, parsed):
    assert reviewers.parse(stored) == parsed


@pytest.mark.parametrize("stored, zh, en", [
    ("cli:root", "root（命令行）", "root (command line)"),
    ("root (command line)", "root（命令行）", "root (command line)"),
    ("local-browser", "本机浏览器（未登录）", "this computer (browser, no login)"),
    ("this computer (browser, no login)", "本机浏览器（未登录）", "this computer (browser, no login)"),
    ("browser:caseworker", "caseworker（浏览器）", "caseworker (browser)"),
    ("cli", "命令行", "the command line"),
    (None, "未知", "unknown"),
    ("Ms Li", "Ms Li", "Ms Li"),
])
def test_each_reader_words_it_in_its_language(stored, zh, en):
    L = report_labels()
    assert reviewers.describe(stored, L["zh"]["reviewers"]) == zh
    assert reviewers.describe(stored, L["en"]["reviewers"]) == en
    assert labels.reviewer(stored) == (en if en == zh else f"{en} / {zh}")
