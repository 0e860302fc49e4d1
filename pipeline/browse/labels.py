"""Bilingual words of the browser ("Confirm / 确认"), read from the project's data files.

Category names come from the rules (``pipeline/data/rules/common.yaml``, the
names the report uses too); everything else the browser says is in
``pipeline/data/browse_labels.yaml``.  A borrower reads Chinese, a caseworker
or recipient may read English, so both are shown, English first.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from .. import reviewers
from ..calls.jurisdiction import reason_text
from ..detect import load_rules
from ..flagged import Why, meaning_ran


@lru_cache(maxsize=1)
def _doc() -> dict:
    path = Path(str(resources.files("pipeline") / "data" / "browse_labels.yaml"))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _pair(entry: dict | None, fallback: str) -> str:
    if not entry:
        return fallback
    return f"{entry.get('en', fallback)} / {entry.get('zh', fallback)}"


@lru_cache(maxsize=1)
def _rules():
    return load_rules()


def category_names() -> dict[str, dict]:
    return _rules().categories


def known_citations() -> dict[str, dict]:
    """The rule files' citations by id (with ``verified``, ``jurisdiction``, ``en``, ``zh``)."""
    return _rules().citations


def category(code: str | None) -> str:
    """``false_legal`` -> "False legal threat / impersonation / 虚假法律后果 / 冒充公检法"."""
    if not code:
        return ""
    return _pair(category_names().get(code), code)


def category_en_zh(code: str) -> tuple[str, str]:
    entry = category_names().get(code) or {}
    return entry.get("en", code), entry.get("zh", code)


def severity(code: str | None) -> str:
    return _pair(_doc()["severity"].get(code or ""), code or "")


def status(code: str | None) -> str:
    code = code or "unreviewed"
    return _pair(_doc()["status"].get(code), code)


def button(action: str, short: bool = False) -> str:
    """A review button's words; ``short``: the list's narrower form (same Chinese)."""
    entry = _doc()["buttons"].get(action) or {}
    if short and "en_short" in entry:
        entry = {**entry, "en": entry["en_short"]}
    return _pair(entry, action)


def column(name: str) -> str:
    return _pair(_doc()["columns"].get(name), name)


def param(name: str) -> str:
    return _pair(_doc()["params"].get(name), name)


def word(key: str) -> str:
    return _pair(_doc()["words"].get(key), key)


def _both(make) -> str:
    """``make(lang)`` in English / Chinese (once, when both are the same)."""
    en, zh = make("en"), make("zh")
    return en if en == zh else f"{en} / {zh}"


def jurisdiction_name(code: str | None, lang: str) -> str:
    return (_doc()["jurisdictions"].get(code or "") or {}).get(lang, code or "")


def judged(code: str | None, reason: str, error: str | None = None) -> str:
    """Which jurisdiction judged a call, and why: "judged under CN rules (Mainland China;
    default) / 按中国大陆规则判断（默认）"; or why it cannot be told."""
    law = _doc()["law"]
    if code is None:
        return _both(lambda lang: law["unknown"][lang].format(error=error or ""))
    reasons, names = _doc()["jurisdiction_reasons"], _doc()["language_names"]
    return _both(lambda lang: law["judged"][lang].format(
        code=code, name=jurisdiction_name(code, lang),
        why=reason_text(reason, {k: v[lang] for k, v in reasons.items()},
                        {k: v[lang] for k, v in names.items()})))


def law_none() -> str:
    """Shown where a call's law has no checked provision for a finding."""
    return _pair(_doc()["law"]["none"], "—")


def reviewer(stored: str | None) -> str:
    """Who gave a verdict (a code such as ``cli:ana``, or an older English string), in both
    languages: "ana (command line) / ana（命令行）"."""
    words = _doc()["reviewers"]
    return _both(lambda lang: reviewers.describe(stored, {k: v[lang] for k, v in words.items()}))


def why(w: Why, category_code: str, pattern: bool | str = True,
        plain: bool = False) -> tuple[str, str]:
    """Why a finding was flagged, in English and in Chinese (``flagged.Why.sentence``);
    ``plain``: without the rule's id and pattern (the main pages; experts see them)."""
    t = _doc()["why"]
    en, zh = category_en_zh(category_code)
    if plain:
        return (w.sentence({**t["en"], **t["en"]["plain"]}, en, False),
                w.sentence({**t["zh"], **t["zh"]["plain"]}, zh, False))
    return (w.sentence(t["en"], en, pattern), w.sentence(t["zh"], zh, pattern))


def why_badge(w: Why) -> tuple[str, str, str]:
    """The list's short marker in its three parts: "found by meaning", "语义发现", "0.96"
    (no score for a rule alone)."""
    t = _doc()["why"]
    score = w.score_text() if w.kind != "rule" else ""
    return w.badge(t["en"]), w.badge(t["zh"]), score


def pattern_help() -> str:
    return _pair(_doc()["why"]["pattern_help"], "")


def detection(text: str | None) -> str:
    """A run's ``detection`` line in both languages: "rules, checked by the meaning layer /
    规则，并经语义判断" (the stored line itself is shown beside it)."""
    words = _doc()["detection"]
    ran = meaning_ran(text)
    return _pair(words["unknown" if ran is None else "meaning" if ran else "rules_only"], "")


def detection_off_notice() -> tuple[str, str]:
    notice = _doc()["detection"]["off_notice"]
    return notice["en"], notice["zh"]


def severities() -> list[str]:
    return list(_doc()["severity"])


def template_labels() -> dict:
    """Everything templates need, in one dictionary (``ce.*`` in templates)."""
    doc = _doc()
    return {
        "column": {k: _pair(v, k) for k, v in doc["columns"].items()},
        "param": {k: _pair(v, k) for k, v in doc["params"].items()},
        "word": {k: _pair(v, k) for k, v in doc["words"].items()},
        "status": {k: _pair(v, k) for k, v in doc["status"].items()},
        "button": {k: _pair(v, k) for k, v in doc["buttons"].items()},
        "severity": {k: _pair(v, k) for k, v in doc["severity"].items()},
        "category": {k: _pair(v, k) for k, v in category_names().items()
                     if k != "identification"},
    }
