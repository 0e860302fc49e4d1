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

from .data import Incident, ReportData


@lru_cache(maxsize=1)
def templates() -> dict:
    path = Path(str(resources.files("pipeline") / "data" / "complaints.yaml"))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def channels() -> list[str]:
    return list(templates()["channels"])


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:d}:{s % 60:02d}"


def _fact(f: Incident, data: ReportData) -> dict:
    cats = [data.categories.get(c, {}) for c in f.categories]
    return {"when": (f.recording.call_time or "").replace("T", " ") or "?",
            "number": f.recording.phone_number or "?", "file": f.recording.file_name,
            "at": clock(f.start), "quote": f.utterance.strip(),
            "category_zh": "、".join(c.get("zh", "?") for c in cats),
            "category_en": "; ".join(c.get("en", "?") for c in cats)}


def draft(channel: str, data: ReportData, complainant: str | None = None,
          has_call_log: bool = False) -> str:
    """The draft text for ``channel`` (a key of ``complaints.yaml``)."""
    t = templates()
    if channel not in t["channels"]:
        raise ValueError(f"unknown complaint channel {channel!r}; known: {', '.join(t['channels'])}")
    ch = t["channels"][channel]
    lang = ch.get("language", "zh")
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    days = [d.day for d in data.days]
    facts = env.from_string(t["facts"][lang]).render(
        complainant=complainant, counterparty=data.scope.name,
        numbers=data.numbers, first_day=days[0] if days else None,
        last_day=days[-1] if days else None, calls=data.calls, connected=data.connected,
        unanswered=data.attempted_unanswered, night_calls=data.night_calls,
        days_over_caps=data.days_over_caps, night_window=data.night_window,
        findings=[_fact(f, data) for f in data.incidents], has_call_log=has_call_log,
        originals=len(data.recordings))
    if lang == "zh":
        head = [t["draft_banner"]["zh"], "", f"致：{ch['zh_name']}", f"（受理范围：{ch['covers']}）",
                f"提交方式：{ch['how']}", "", "事由：反映催收过程中的骚扰情况", ""]
        tail = ["", "五、请求", ch["ask"], "", "投诉人（签名）：__________    日期：__________", ""]
    else:
        head = [t["draft_banner"]["en"], "", f"To: {ch['en_name']}", f"(Covers: {ch['covers']})",
                f"How to submit: {ch['how']}", "", "Subject: harassment during debt collection", ""]
        tail = ["", "5. Request", ch["ask"], "", "Signed: __________    Date: __________", ""]
    return "\n".join(head) + facts + "\n".join(tail)
