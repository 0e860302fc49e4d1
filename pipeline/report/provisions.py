"""Which provisions a report prints, by the conditions they need (``data/provisions.yaml``).

The rules cite every provision a kind of conduct may concern; some need a fact that one
sentence seldom shows (刑法 §246 a *public* insult, §293 *repeated* egregious conduct,
FDCPA §1692c(b) an *actual* communication with a third party).  A provision whose fact
the evidence does not show is left out (or, where the data file says so, printed with
"may apply if …"); a threat to contact third parties then cites the harassment
provisions instead of a disclosure that never happened.  The browser shows the rules'
citations as stored; this is the report's reading for a recipient who acts on it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from ..calls.jurisdiction import shown_citations
from ..textnorm import fold
from .data import ReportData


@lru_cache(maxsize=1)
def conditions() -> dict:
    path = Path(str(resources.files("pipeline") / "data" / "provisions.yaml"))
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for fact in doc["facts"].values():
        for lang in ("zh", "en"):
            if lang in fact:
                fact[lang] = [re.compile(p, re.I) for p in fact[lang]]
    return doc


def _shows(fact: str, text: str, repeated: bool) -> bool:
    if fact == "repeated":
        return repeated
    spec = conditions()["facts"].get(fact, {})
    t = fold(text or "")
    return any(p.search(t) for lang in ("zh", "en") for p in spec.get(lang, []))


def _filter(cites: list[dict], categories: list[str], text: str, repeated: bool,
            jurisdiction: str, when: str | None, known: dict[str, dict]) -> list[dict]:
    """``cites`` (already this jurisdiction's, verified) with each provision's condition
    applied; a kept conditional one gains ``condition`` ({zh, en})."""
    table = conditions()["provisions"]
    out: list[dict] = []
    extra: list[str] = []
    for c in cites:
        rule = table.get(c.get("id") or "")
        if rule is None:
            out.append(c)
            continue
        shown = _shows(rule["needs"], text, repeated)
        if shown and rule.get("shown") != "conditional":
            out.append(c)
        elif shown or rule.get("otherwise") == "may_apply":
            out.append({**c, "condition": {"zh": rule["zh"], "en": rule["en"]}})
        else:
            extra += [i for cat in categories for i in rule.get("instead", {}).get(cat, [])]
    have = {c.get("id") for c in out}
    more = shown_citations([known[i] for i in dict.fromkeys(extra) if i in known and i not in have],
                           jurisdiction, when, known)
    return out + more


def apply(data: ReportData, known: dict[str, dict]) -> None:
    """Apply the conditions to every finding and message finding of ``data`` (in place)."""
    spec = conditions()["facts"]["repeated"]
    cats = set(spec["categories"])
    count = (sum(1 for i in data.incidents if cats & set(i.categories))
             + sum(1 for m in data.messages if cats & set(m.categories)))
    repeated = count >= spec["min_count"]
    for inc in data.incidents:
        for f in inc.findings:
            f.shown_citations = _filter(f.shown_citations, [f.category], inc.utterance, repeated,
                                        f.recording.jurisdiction, f.recording.call_time, known)
    for m in data.messages:
        for f in m.findings:
            f.shown_citations = _filter(f.shown_citations, [f.category], m.text, repeated,
                                        m.jurisdiction, m.sent_at, known)
