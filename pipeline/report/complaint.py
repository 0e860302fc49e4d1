"""Draft complaint texts, one per channel, filled with the facts of a report.

The templates are data (``pipeline/data/complaints.yaml``); this module only
gathers the facts they use.  Drafts state facts and ask the body to look into
them; they never draw a legal conclusion, and each starts with a banner saying
it is a draft to check and edit.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2
import yaml

from ..flagged import Why
from .data import Incident, ReportData
from .messages import MessageItem


@lru_cache(maxsize=1)
def templates() -> dict:
    path = Path(str(resources.files("pipeline") / "data" / "complaints.yaml"))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def channels() -> list[str]:
    return list(templates()["channels"])


def channels_for(codes: list[str], asked: list[str] | None) -> tuple[list[str], list[str]]:
    """The drafts for a package judged under ``codes`` (one jurisdiction, or several for an
    all-in-one package), and a warning for each asked channel of another jurisdiction:
    by default only the bodies that enforce the package's own rules are addressed."""
    t = templates()
    if not asked:
        return list(dict.fromkeys(c for j in codes for c in t["default_channels"].get(j, []))), []
    warnings = [f"the {c} draft is addressed to a {t['channels'][c].get('jurisdiction')} body, "
                f"but the calls in this package are judged under {'/'.join(codes)} rules: check "
                "that it can act on them before sending"
                for c in asked if t["channels"][c].get("jurisdiction") not in codes]
    return list(asked), warnings


def clock(seconds: float | None) -> str:
    """A duration in whole seconds: 0:15, 1:02:05."""
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:d}:{s % 60:02d}"


def at(seconds: float | None) -> str:
    """A position in a recording to a tenth of a second (cut down, as the transcripts
    are): 0:07.5.  Whole seconds would show a 0.4 s phrase as "0:10–0:10"."""
    if seconds is None:
        return "?"
    tenths = max(0, round(seconds * 1000)) // 100
    s, t = divmod(tenths, 10)
    return f"{clock(s)}.{t}"


def span(a: float | None, b: float | None) -> str:
    return f"{at(a)}–{at(b)}"


def _check(whys: list[Why]) -> str | None:
    """What the person sending a draft should check first: a sentence no rule matched
    ("meaning") or one matched only by sound ("sound"); None when a rule's words stand."""
    if whys and all(w.by_meaning for w in whys):
        return "meaning"
    if whys and all(w.by_sound or w.by_meaning for w in whys):
        return "sound"
    return None


def _categories(codes: list[str], data: ReportData) -> dict:
    cats = [data.categories.get(c, {}) for c in codes]
    return {"category_zh": "、".join(c.get("zh", "?") for c in cats),
            "category_en": "; ".join(c.get("en", "?") for c in cats)}


def _message(m: MessageItem, data: ReportData) -> dict:
    return {"when": (m.sent_at or "").replace("T", " ") or None, "number": m.phone_number or None,
            "text": m.text.strip(), "check": _check([f.why for f in m.findings]),
            **_categories(m.categories, data)}


def _fact(f: Incident, data: ReportData) -> dict:
    """One numbered fact: when, which number, which file and where in it, what was said.

    A finding about the call's opening (no identification heard) has no sentence to
    quote: it is described as such (``opening``), never pinned to another sentence.
    """
    return {"when": (f.recording.call_time or "").replace("T", " ") or None,
            "number": f.recording.phone_number or None, "file": f.recording.file_name,
            "at": at(f.start), "quote": f.utterance.strip(), "opening": f.opening,
            "opening_end": at(f.end), "check": _check([x.why for x in f.findings]),
            **_categories(f.categories, data)}


def draft(channel: str, data: ReportData, complainant: str | None = None,
          has_call_log: bool = False, codes: list[str] | None = None,
          attachments: dict | None = None) -> str:
    """The draft text for ``channel`` (a key of ``complaints.yaml``); ``codes``: the
    jurisdictions the package is judged under (a channel of another one gets a warning
    line on top, as it was asked for against the default).  ``attachments``: what the
    package really holds (originals copied, clips cut, transcripts, messages, report
    files); a draft lists only those."""
    t = templates()
    if channel not in t["channels"]:
        raise ValueError(f"unknown complaint channel {channel!r}; known: {', '.join(t['channels'])}")
    ch = t["channels"][channel]
    codes = codes or sorted(data.jurisdictions) or [data.jurisdiction]
    lang = ch.get("language", "zh")
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["plural"] = lambda n, one, many: f"{n} {one if n == 1 else many}"
    days = [d.day for d in data.days]
    facts = env.from_string(t["facts"][lang]).render(
        complainant=complainant, counterparty=data.scope.name,
        numbers=data.numbers, first_day=days[0] if days else None,
        last_day=days[-1] if days else None, calls=data.calls, connected=data.connected,
        unanswered=data.attempted_unanswered, night_calls=data.night_calls,
        days_over_caps=data.days_over_caps, night_window=data.night_window,
        findings=[_fact(f, data) for f in data.incidents], has_call_log=has_call_log,
        messages=[_message(m, data) for m in data.messages],
        undated=data.undated_recordings,
        attach=attachments if attachments is not None else {
            "originals": len(data.recordings), "hashes_only": 0, "clips": len(data.incidents),
            "transcripts": len(data.recordings), "messages": len(data.messages),
            "reports": ["report-zh.html", "report-en.html"]},
        party=ch.get("party", "投诉人" if lang == "zh" else "Complainant"),
        other_party=ch.get("other_party", "被投诉方" if lang == "zh" else "About"))
    foreign = ch.get("jurisdiction") and ch.get("jurisdiction") not in codes
    mixed = len(codes) > 1 or data.mixes
    notes = [t["foreign_channel"][lang].format(channel=ch.get("jurisdiction"), package="/".join(codes))
             ] if foreign else []
    notes += [t["mixed_package"][lang]] if mixed else []
    if lang == "zh":
        party = ch.get("party", "投诉人")
        head = [t["draft_banner"]["zh"], *notes, "", f"致：{ch['zh_name']}", f"（受理范围：{ch['covers']}）",
                f"提交方式：{ch['how']}", "", "事由：反映催收过程中的骚扰情况", ""]
        tail = ["", "五、请求", ch["ask"], "", f"{party}（签名）：__________    日期：__________", ""]
    else:
        head = [t["draft_banner"]["en"], *notes, "", f"To: {ch['en_name']}", f"(Covers: {ch['covers']})",
                f"How to submit: {ch['how']}", "", "Subject: harassment during debt collection", ""]
        tail = ["", "5. Request", ch["ask"], "", "Signed: __________    Date: __________", ""]
    return "\n".join(head) + facts + "\n".join(tail)
