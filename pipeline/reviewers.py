"""Who gave a review verdict: stored in a neutral form, worded per language when shown.

``finding_reviews.reviewed_by`` used to hold English sentences ("this computer
(browser, no login)", "root (command line)"), which then appeared verbatim in the
Chinese report.  It now holds a code that names the way in and the login, and
each reader (the report in its language, the browser in both) words it from its
own labels:

- ``cli:<login>``: the ``review`` command, run by that system user (``cli`` when
  the user cannot be told);
- ``browser:<account>``: the browser, logged in as that account (``--password``);
- ``local-browser``: the browser on this computer, without a login.

Verdicts stored by earlier versions keep their English strings; ``parse`` still
reads them, so an old database shows the same words as a new one.  Data only.
"""

from __future__ import annotations

import re

CLI = "cli"
BROWSER = "browser"
LOCAL_BROWSER = "local-browser"
KINDS = (CLI, BROWSER, LOCAL_BROWSER)

# What schema 4's first release stored, read back as (kind, name).
_OLD_LOCAL = "this computer (browser, no login)"
_OLD = re.compile(r"^(?P<name>.+?) \((?P<how>command line|browser)\)$")
_CODE = re.compile(rf"^(?P<kind>{CLI}|{BROWSER}):(?P<name>.+)$")


def _clean(name: str | None) -> str:
    """A login as stored: its whitespace folded to single spaces, at most 64 characters."""
    return " ".join(str(name or "").split())[:64]


def command_line(login: str | None) -> str:
    """The code for a verdict given with ``call-evidence review`` by ``login``."""
    name = _clean(login)
    return f"{CLI}:{name}" if name else CLI


def browser(account: str | None) -> str:
    """The code for a verdict given in the browser (``account``: the logged-in actor, if any)."""
    name = _clean(account)
    return f"{BROWSER}:{name}" if name else LOCAL_BROWSER


def parse(stored: str | None) -> tuple[str | None, str | None]:
    """``(kind, name)`` of a stored reviewer: kind is one of ``KINDS``, or None for a
    string this module did not write (shown as it is); name is the login, if any."""
    if not stored:
        return None, None
    text = str(stored).strip()
    if text in (LOCAL_BROWSER, _OLD_LOCAL):
        return LOCAL_BROWSER, None
    if text in (CLI, "command line"):
        return CLI, None
    m = _CODE.match(text)
    if m:
        return m.group("kind"), m.group("name")
    m = _OLD.match(text)
    if m:
        return (CLI if m.group("how") == "command line" else BROWSER), m.group("name")
    return None, text


def describe(stored: str | None, words: dict[str, str]) -> str:
    """A stored reviewer in one language.

    ``words``: that language's templates, keyed ``cli``, ``cli_unnamed``, ``browser``
    and ``local-browser`` (``{name}`` is the login) and ``unknown``.
    """
    kind, name = parse(stored)
    if kind is None:
        return name or words.get("unknown", "")
    if kind == CLI and not name:
        return words["cli_unnamed"]
    return words[kind].format(name=name or "")
