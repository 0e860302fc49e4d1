"""Text messages (SMS, chat) in the report: what ``scan-text --db`` stored.

A collector's written threat is often the plainest evidence a borrower has, so the report
shows message findings beside the calls': one card per message (a message that several
rules matched is shown once), with its time, number, the message whole with the matched
words marked, the provisions of its own jurisdiction, why it was flagged and its review
status.  Dismissed findings are left out and counted, as for calls; the borrower's own
stop requests are not findings.

A message is placed by its number like a call (``NumberRules.judge``); with no number, by
its script (Chinese characters: ``zh``, else ``en``), when nobody chose a jurisdiction.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..calls.jurisdiction import NumberRules, shown_citations, written_language
from ..flagged import Why
from .kinds import CONTEXT_CATEGORIES, worst


class _Scope(Protocol):
    def covers_number(self, number: str | None) -> bool: ...
    def covers_time(self, iso: str | None) -> bool: ...


@dataclass
class MessageFinding:
    id: int
    rule_id: str
    category: str
    severity: str
    matched_text: str
    citations: list[dict]
    note: str | None
    review_status: str
    method: str | None
    pattern: str | None
    score: float | None
    shown_citations: list[dict] = field(default_factory=list)

    @property
    def why(self) -> Why:
        # No run is recorded for a message scan, so whether the meaning layer ran is told
        # by the method alone.
        return Why(self.method, self.rule_id, self.matched_text, self.pattern, self.score, self.note)


@dataclass
class MessageItem:
    id: int
    source: str
    line: str | None
    phone_number: str | None
    sent_at: str | None
    text: str
    jurisdiction: str = ""
    jurisdiction_reason: str = ""
    findings: list[MessageFinding] = field(default_factory=list)

    @property
    def source_name(self) -> str:
        return Path(self.source).name if self.source and not self.source.startswith("<") else self.source

    @property
    def language(self) -> str:
        return written_language(self.text)

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(f.category for f in self.findings))

    @property
    def severity(self) -> str:
        return worst(f.severity for f in self.findings)

    @property
    def matched(self) -> list[str]:
        return [f.matched_text for f in self.findings if f.matched_text]


def _has_tier(conn) -> bool:
    """Whether ``message_findings`` has the tier column (schema 6; older tables: all findings)."""
    return any(r[1] == "tier" for r in conn.execute("pragma table_info(message_findings)"))


def _covers_time(scope: _Scope, iso: str | None) -> bool:
    try:
        return scope.covers_time(iso)
    except ValueError:  # a date as the export wrote it, which cannot be placed in a range
        return False


def load_messages(conn: sqlite3.Connection, scope: _Scope, judge: NumberRules,
                  known: dict[str, dict]) -> tuple[list[MessageItem], int]:
    """The messages in ``scope`` with at least one finding not dismissed, oldest first
    (undated last), and how many message findings were dismissed.  ``known``: the rule
    files' citations by id (``RulePack.citations``)."""
    if not conn.execute("select 1 from sqlite_master where name = 'message_findings'").fetchone():
        return [], 0
    out: dict[int, MessageItem] = {}
    dismissed = 0
    for (mid, source, line, number, sent_at, text, fid, rule_id, category, severity, matched,
         citations, note, status, method, pattern, score) in conn.execute(
            "select m.id, m.source, m.line, m.phone_number, m.sent_at, m.text, f.id, f.rule_id,"
            " f.category, f.severity, f.matched_text, f.citations, f.note, f.review_status,"
            " f.method, f.pattern, f.score from message_findings f"
            " join messages m on m.id = f.message_id"
            # listen suggestions reach a report only once a reviewer confirms them
            + (" where coalesce(f.tier, 'finding') = 'finding' or f.review_status = 'confirmed'"
               if _has_tier(conn) else "") +
            " order by coalesce(m.sent_at, '9999'), m.source, m.id, f.id"):
        if (category in CONTEXT_CATEGORIES or not scope.covers_number(number)
                or not _covers_time(scope, sent_at)):
            continue
        if status == "dismissed":
            dismissed += 1
            continue
        try:
            cites = json.loads(citations or "[]")
        except ValueError:
            cites = []
        item = out.get(mid)
        if item is None:
            item = out[mid] = MessageItem(mid, source, line, number, sent_at, text or "")
            verdict = judge.judge(number, item.language)
            item.jurisdiction, item.jurisdiction_reason = verdict.jurisdiction, verdict.reason
        f = MessageFinding(fid, rule_id, category, severity, matched or "",
                           cites if isinstance(cites, list) else [], note, status or "unreviewed",
                           method, pattern, score)
        f.shown_citations = shown_citations(f.citations, item.jurisdiction, sent_at, known)
        item.findings.append(f)
    return list(out.values()), dismissed
