"""Which jurisdiction's rules judge each call: chosen per number, not only per run.

A collector calling from ``+1 415…`` is judged by US rules (FDCPA hours, Reg F), one
calling from ``138…`` by the run's default (CN unless ``--jurisdiction`` says
otherwise).  The choice comes from, in order:

1. ``numbers.yaml`` beside the database (``evidence.db`` -> ``numbers.yaml``), the
   user's own list of numbers or prefixes (and optionally ``default:``);
2. the bundled prefixes in ``pipeline/data/numbers.yaml`` (+1 US, +44 UK, +86 CN);
3. the run's ``--jurisdiction``, else the user file's ``default:``, else (for a
   report) the last run's;
4. when nobody chose (none of those), the language the call was spoken in
   (``language_jurisdiction`` in ``call_rules.yaml``: an English call with no number is
   not judged under Chinese law just because CN is the default);
5. else ``default_jurisdiction`` in ``call_rules.yaml``.

The longest matching key wins within each file; a user entry always beats a bundled
one.  Every decision carries its reason, which the report and the call-pattern
findings print.

Both the report and the browser show a finding's citations through
``shown_citations`` (the judging jurisdiction's, verified, in force on the call's
day) after resolving its number with ``rules_for_database``: one rule, so the
browser never shows law the report leaves out.  No engine; the database is only
read (the last run's ``--jurisdiction``) through a connection the caller owns.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .numbers import digits, same_number  # noqa: F401 (re-exported: one canonical form)

USER_FILE = "numbers.yaml"
MIN_NUMBER_DIGITS = 7  # a key with this many digits is a whole number, shorter ones are prefixes


class JurisdictionError(ValueError):
    """A numbers file is malformed; the message names the file and entry."""


def international(number: str | None) -> str:
    """``+`` and digits only; a leading ``00`` is the international prefix written out."""
    n = re.sub(r"[\s\-().]", "", number or "")
    if n.startswith("00"):
        n = "+" + n[2:]
    return n


def written_language(text: str | None) -> str:
    """The language of a typed message, for ``NumberRules.judge`` (which only asks when
    no number places it): Chinese characters make it ``zh``, anything else ``en``."""
    return "zh" if re.search(r"[\u3400-\u9fff]", text or "") else "en"


def known_jurisdictions() -> list[str]:
    path = Path(str(resources.files("pipeline") / "data" / "call_rules.yaml"))
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["jurisdictions"])


def _call_rules() -> dict:
    path = Path(str(resources.files("pipeline") / "data" / "call_rules.yaml"))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def default_jurisdiction() -> str:
    return str(_call_rules().get("default_jurisdiction", "CN"))


def language_jurisdictions() -> dict[str, str]:
    """Spoken language -> jurisdiction, for a call no number places when nobody chose."""
    return {str(k): str(v).upper() for k, v in (_call_rules().get("language_jurisdiction") or {}).items()}


@dataclass
class Judgement:
    jurisdiction: str
    reason: str  # "numbers.yaml: +14155550123", "prefix +1", "default", "--jurisdiction", "language en"
    kind: str  # "user", "prefix", "language", "default"


@dataclass
class NumberRules:
    user: list[tuple[str, str]] = field(default_factory=list)  # (key, jurisdiction)
    bundled: list[tuple[str, str]] = field(default_factory=list)
    default: str = "CN"
    default_reason: str = "default"
    user_file: str | None = None
    # language -> jurisdiction; empty when someone chose the default (--jurisdiction, the
    # numbers file's default:, the last run's), whose choice then covers every language
    by_language: dict[str, str] = field(default_factory=dict)

    def judge(self, number: str | None, language: str | None = None) -> Judgement:
        """The jurisdiction of a call from ``number``; ``language`` (the call's, as
        transcribed) decides only for a call no number places, when nobody chose."""
        for entries, kind in ((self.user, "user"), (self.bundled, "prefix")):
            hit = _longest_match(number, entries)
            if hit:
                key, j = hit
                where = f"{USER_FILE}: {key}" if kind == "user" else f"prefix {key}"
                return Judgement(j, where, kind)
        lang = (language or "").strip().lower()
        if lang in self.by_language and self.by_language[lang] != self.default:
            return Judgement(self.by_language[lang], f"language {lang}", "language")
        return Judgement(self.default, self.default_reason, "default")

    def of(self, number: str | None, language: str | None = None) -> str:
        return self.judge(number, language).jurisdiction


def _longest_match(number: str | None, entries: list[tuple[str, str]]) -> tuple[str, str] | None:
    if not number:
        return None
    n = international(number)
    best = None
    for key, j in entries:
        k = international(key)
        if len(digits(k)) >= MIN_NUMBER_DIGITS:
            ok = same_number(n, k)
        else:
            ok = bool(k) and n.startswith(k)
        if ok and (best is None or len(digits(k)) > len(digits(international(best[0])))):
            best = (key, j)
    return best


def _entries(doc: object, where: str, known: list[str]) -> tuple[list[tuple[str, str]], str | None]:
    if doc is None:
        return [], None
    if not isinstance(doc, dict):
        raise JurisdictionError(f"{where}: expected a mapping of number or prefix to jurisdiction")
    default = doc.get("default")
    table = doc.get("prefixes", doc.get("numbers"))
    if table is None:  # the short form: the whole file is the table
        # ``counterparties:`` (lenders' numbers, pipeline/report/groups.py) is not a number
        table = {k: v for k, v in doc.items() if k not in ("default", "counterparties")}
    out = []
    for key, j in (table or {}).items():
        key = str(key).strip()
        j = str(j).strip().upper()
        if j not in known:
            raise JurisdictionError(f"{where}: {key}: unknown jurisdiction {j!r}; "
                                    f"known: {', '.join(known)}")
        if not digits(key):
            raise JurisdictionError(f"{where}: {key!r} is not a phone number or prefix")
        out.append((key, j))
    if default is not None:
        default = str(default).strip().upper()
        if default not in known:
            raise JurisdictionError(f"{where}: default: unknown jurisdiction {default!r}")
    return out, default


def user_file_for(db_path: Path | str | None) -> Path | None:
    if db_path is None:
        return None
    return Path(db_path).resolve().parent / USER_FILE


def load_number_rules(db_path: Path | str | None = None, run_default: str | None = None,
                      user_file: Path | None = None, fallback: str | None = None) -> NumberRules:
    """The per-number rules for a database (its ``numbers.yaml``, if any) and a run.

    ``run_default``: the run's ``--jurisdiction``; ``fallback``: used when neither it nor
    the file's ``default:`` is given (the report passes the last run's choice)."""
    known = known_jurisdictions()
    bundled_path = Path(str(resources.files("pipeline") / "data" / "numbers.yaml"))
    bundled, _ = _entries(yaml.safe_load(bundled_path.read_text(encoding="utf-8")),
                          str(bundled_path), known)
    path = user_file or user_file_for(db_path)
    user, user_default = [], None
    if path is not None and path.is_file():
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise JurisdictionError(f"{path}: not valid YAML: {e}") from e
        user, user_default = _entries(doc, str(path), known)
    if run_default:
        default, reason = run_default.upper(), "--jurisdiction"
    elif user_default:
        default, reason = user_default, f"{USER_FILE}: default"
    elif fallback:
        default, reason = fallback.upper(), "default"
    else:
        default, reason = default_jurisdiction(), "default"
    if default not in known:
        raise JurisdictionError(f"unknown jurisdiction {default!r}; known: {', '.join(known)}")
    by_language = {}
    if not (run_default or user_default or fallback):  # nobody chose: the language may
        by_language = {k: v for k, v in language_jurisdictions().items() if v in known}
    return NumberRules(user, bundled, default, reason,
                       str(path) if path is not None and path.is_file() else None, by_language)


def last_run_jurisdiction(conn: sqlite3.Connection) -> str | None:
    """The ``--jurisdiction`` the last transcribe or detect run was given (None: its default).

    A report or a browser opened later has no ``--jurisdiction`` of its own for the
    numbers no numbers file places; the run that judged them had one."""
    try:
        row = conn.execute("select settings from runs where settings is not null order by id desc"
                           " limit 1").fetchone()
    except sqlite3.Error:  # a database without runs (yet)
        return None
    try:
        return (json.loads(row[0]) or {}).get("jurisdiction") if row else None
    except (TypeError, ValueError, AttributeError):
        return None


def rules_for_database(db_path: Path | str | None, conn: sqlite3.Connection,
                       run_default: str | None = None) -> NumberRules:
    """The per-number rules for a database after the run: its ``numbers.yaml``, the
    country codes, ``run_default`` (a report's ``--jurisdiction``), else the last run's,
    else the default (CN).  The report and the browser both resolve a call with this."""
    return load_number_rules(db_path, run_default, fallback=last_run_jurisdiction(conn))


def shown_citations(items: list[dict], jurisdiction: str | None, call_time: str | None,
                    known: dict[str, dict]) -> list[dict]:
    """The citations shown for a call (report and browser alike): the judging jurisdiction's,
    verified, in force on the call's day, each once.

    ``known``: the current rule files' citations by id (``RulePack.citations``).  They win
    over the copy stored with the finding, so a citation checked (or withdrawn) after
    detection is shown (or hidden) without re-running it.  A call of unknown date cannot
    cite a provision that has an end date (which text applied is unknown).
    """
    out, seen = [], set()
    for c in items:
        if not isinstance(c, dict):
            continue
        full = {**c, **known.get(c.get("id") or "", {})}
        key = full.get("id") or f"{full.get('instrument')} {full.get('article')}"
        if key in seen or full.get("jurisdiction") != jurisdiction or full.get("verified") is not True:
            continue
        until = full.get("in_force_until")
        if until and (not call_time or str(call_time)[:10] > str(until)):
            continue
        seen.add(key)
        out.append(full)
    return out


def reason_text(reason: str, templates: dict[str, str],
                languages: dict[str, str] | None = None) -> str:
    """Why a number is judged under a jurisdiction, worded by ``templates`` (one language's
    ``prefix``/``user``/``run``/``language``/``default``; ``prefix`` may use ``{key}``,
    ``language`` ``{language}``, named by ``languages``)."""
    if reason.startswith("language "):
        code = reason.removeprefix("language ")
        return templates["language"].format(language=(languages or {}).get(code, code))
    if reason.startswith("prefix "):
        return templates["prefix"].format(key=reason.removeprefix("prefix "))
    if reason.startswith(USER_FILE):
        return templates["user"]
    if reason == "--jurisdiction":
        return templates["run"]
    return templates["default"]
