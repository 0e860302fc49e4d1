"""What a report is about, read from the evidence database (reads only).

A report covers one counterparty (one or more numbers the user says belong to
one collector), a date range, or everything.  Everything the renderers need is
gathered here into plain dataclasses, so rendering (HTML, subtitles, complaint
drafts) never touches SQL and the selection rules live in one place.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from .. import callstore
from ..callpattern import Call, analyse, is_night, load_call_rules, local_time, merge_calls
from ..detect.rules import load_rules
from ..store import Store

# Categories that are context, not possible violations: a borrower's request to
# stop is shown in its own list; ``identification`` is never stored as a finding.
CONTEXT_CATEGORIES = {"stop_request"}
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
LOW_CONFIDENCE_WORD = 0.5  # word probability under which a word is shown as uncertain


class ReportError(RuntimeError):
    """The report cannot be made as asked; the message says why."""


def digits(number: str | None) -> str:
    return re.sub(r"\D", "", number or "")


def same_number(a: str | None, b: str | None) -> bool:
    """Two phone numbers are the same line when their last 11 digits agree (``+86``,
    ``0086`` and spaces differ between a recorder's file name and a call log)."""
    da, db = digits(a), digits(b)
    if not da or not db:
        return False
    n = min(len(da), len(db), 11)
    return n >= 5 and da[-n:] == db[-n:]


@dataclass
class Scope:
    numbers: list[str] = field(default_factory=list)  # empty: every number
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    name: str | None = None  # the counterparty as the user names it ("XX 催收公司")

    def covers_number(self, number: str | None) -> bool:
        return not self.numbers or any(same_number(number, n) for n in self.numbers)

    def covers_time(self, iso: str | None) -> bool:
        if self.date_from is None and self.date_to is None:
            return True
        if not iso:
            return False  # a call of unknown date cannot be placed inside a range
        day = datetime.fromisoformat(iso).date()
        return ((self.date_from is None or day >= self.date_from)
                and (self.date_to is None or day <= self.date_to))

    def describe(self) -> dict:
        return {"numbers": self.numbers or "all", "from": _iso(self.date_from),
                "to": _iso(self.date_to), "name": self.name}


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


@dataclass
class Segment:
    idx: int
    start: float
    end: float
    text: str
    speaker: str | None
    words: list[tuple[float, float, str, float | None]] = field(default_factory=list)

    def uncertain_words(self) -> list[str]:
        return [w[2].strip() for w in self.words if w[3] is not None and w[3] < LOW_CONFIDENCE_WORD]


@dataclass
class Recording:
    id: str
    path: str
    file_name: str
    phone_number: str | None
    call_time: str | None
    duration: float | None
    size: int | None
    container: str | None
    codec: str | None
    sample_rate: int | None
    channels: int | None
    language: str | None
    engine: str | None
    model: str | None
    run_id: int | None
    candidate_paths: list[str] = field(default_factory=list)  # where the original was seen
    segments: list[Segment] = field(default_factory=list)


@dataclass
class FindingItem:
    id: int
    recording: Recording
    category: str
    severity: str
    rule_id: str
    quote: str
    matched_text: str
    start: float | None
    end: float | None
    confidence: float | None
    speaker: str | None
    citations: list[dict]
    note: str | None
    review_status: str
    segment_idx: int | None = None
    utterance: str | None = None  # the whole utterance the quote was taken from
    before: list[Segment] = field(default_factory=list)  # context: the utterances around it
    after: list[Segment] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)


@dataclass
class Incident:
    """One utterance with everything found in it (several rules often match one
    sentence); the report shows and plays it once, with each finding listed."""

    recording: Recording
    findings: list[FindingItem]
    utterance: str  # the whole utterance as transcribed (the quote's sentence)
    start: float | None
    end: float | None
    before: list[Segment] = field(default_factory=list)
    after: list[Segment] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(f.category for f in self.findings))

    @property
    def severity(self) -> str:
        return min((f.severity for f in self.findings), key=lambda s: SEVERITY_ORDER.get(s, 9))

    @property
    def speaker(self) -> str | None:
        return next((f.speaker for f in self.findings if f.speaker), None)

    @property
    def matched(self) -> list[str]:
        return list(dict.fromkeys(f.matched_text.strip() for f in self.findings if f.matched_text))

    @property
    def citations(self) -> list[dict]:
        seen: dict[str, dict] = {}
        for f in self.findings:
            for c in f.citations:
                seen.setdefault(c.get("id") or f"{c.get('instrument')} {c.get('article')}", c)
        return list(seen.values())


def incidents(findings: list[FindingItem]) -> list[Incident]:
    """Findings grouped by utterance, in call order."""
    groups: dict[tuple, list[FindingItem]] = {}
    for f in findings:
        key = (f.recording.id, f.segment_idx) if f.segment_idx is not None else (f.recording.id, "f", f.id)
        groups.setdefault(key, []).append(f)
    out = []
    for items in groups.values():
        first = items[0]
        starts = [f.start for f in items if f.start is not None]
        ends = [f.end for f in items if f.end is not None]
        out.append(Incident(first.recording, items, first.utterance or first.quote,
                            min(starts) if starts else None, max(ends) if ends else None,
                            first.before, first.after, first.uncertain))
    return out


@dataclass
class PatternItem:
    rule_id: str
    category: str
    severity: str
    phone_number: str | None
    day: str | None
    window_start: str | None
    window_end: str | None
    count: int
    threshold: str | None
    detail: str
    citations: list[dict]


@dataclass
class Day:
    day: str
    calls: int = 0
    connected: int = 0
    night: int = 0
    findings: int = 0
    over_cap: bool = False


@dataclass
class ReportData:
    scope: Scope
    jurisdiction: str
    categories: dict[str, dict]  # id -> {zh, en}
    recordings: list[Recording]
    findings: list[FindingItem]  # possible violations, not dismissed
    incidents: list[Incident]  # the same, grouped by utterance
    context: list[FindingItem]  # stop requests (the borrower's words)
    patterns: list[PatternItem]
    days: list[Day]
    calls: int
    connected: int
    attempted_unanswered: int
    night_calls: int
    days_over_caps: int
    per_category: dict[str, int]
    dismissed: int
    numbers: list[str]
    runs: list[dict]
    generated_at: str
    night_window: str  # the jurisdiction's night hours, e.g. "22:00–08:00"


def load(store: Store, scope: Scope, jurisdiction: str | None = None) -> ReportData:
    """Everything the report shows, for ``scope``; dismissed findings are left out."""
    conn = store.conn
    callstore.ensure_tables(store)
    stored_j = conn.execute("select jurisdiction from pattern_findings limit 1").fetchone()
    rules = load_call_rules(jurisdiction or (stored_j[0] if stored_j else None))
    recordings = _recordings(conn, scope)
    if not recordings and not scope.numbers and scope.date_from is None and scope.date_to is None:
        raise ReportError("the database holds no transcribed recording yet; run `call-evidence "
                          "transcribe` first")
    by_id = {r.id: r for r in recordings}
    findings, context, dismissed = _findings(conn, by_id)
    calls = [c for c in merge_calls(callstore.stored_calls(store),
                                    callstore.recordings_with_stop_requests(store))
             if scope.covers_number(c.number) and scope.covers_time(_local_iso(c, rules))]
    # Call patterns are recomputed over the calls in scope: for a counterparty that
    # rotates numbers, "5 connected calls on one day" must count its numbers together.
    patterns = [PatternItem(p.rule_id, p.category, p.severity, p.phone_number, p.day,
                            p.window_start, p.window_end, p.count, p.threshold, p.detail,
                            p.citations) for p in analyse(calls, rules)]
    pack = load_rules()
    grouped = incidents(findings)
    days = _days(calls, grouped, patterns, rules)
    # Counted per utterance: two rules matching one insult are one insult.
    per_category = Counter(c for i in grouped for c in i.categories)
    for p in patterns:
        per_category[p.category] += 1
    runs = [dict(zip(("id", "started_at", "tool_version", "engine", "engine_version", "model",
                      "model_sha256", "settings"), r, strict=True)) for r in conn.execute(
        "select id, started_at, tool_version, engine, engine_version, model, model_sha256, settings"
        " from runs where id in (select distinct run_id from recordings where status = 'done')"
        " order by id")]
    for r in runs:
        r["settings"] = json.loads(r["settings"]) if r["settings"] else None
    numbers = sorted({r.phone_number for r in recordings if r.phone_number}
                     | {c.number for c in calls if c.number})
    return ReportData(
        scope=scope, jurisdiction=rules["jurisdiction"], categories=pack.categories,
        recordings=recordings, findings=findings, incidents=grouped, context=context,
        patterns=patterns, days=days,
        calls=len(calls), connected=sum(1 for c in calls if c.connected),
        attempted_unanswered=sum(1 for c in calls if not c.connected),
        night_calls=sum(1 for c in calls if is_night(local_time(c.start, rules), rules)),
        days_over_caps=sum(1 for d in days if d.over_cap), per_category=dict(per_category),
        dismissed=dismissed, numbers=numbers, runs=runs,
        generated_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        night_window=f"{rules['night_start']}–{rules['night_end']}")


def _local_iso(c: Call, rules: dict) -> str:
    return local_time(c.start, rules).replace(tzinfo=None).isoformat(timespec="seconds")


def _recordings(conn: sqlite3.Connection, scope: Scope) -> list[Recording]:
    cols = ("id, path, file_name, phone_number, call_time, duration, size, container, codec,"
            " sample_rate, channels, language, engine, model, run_id")
    out = []
    for row in conn.execute(f"select {cols} from recordings where status = 'done'"
                            " order by coalesce(call_time, '9999'), file_name"):
        rec = Recording(*row)
        if scope.covers_number(rec.phone_number) and scope.covers_time(rec.call_time):
            out.append(rec)
    for rec in out:
        rec.candidate_paths = [rec.path] + [p for (p,) in conn.execute(
            "select path from recording_files where recording_id = ? and superseded_at is null"
            " order by last_seen desc", [rec.id]) if p != rec.path]
        rec.segments = _segments(conn, rec.id)
    return out


def _segments(conn: sqlite3.Connection, sha: str) -> list[Segment]:
    words: dict[int, list] = defaultdict(list)
    for seg_id, s, e, t, p in conn.execute(
            "select segment_id, start, end, text, probability from words where recording_id = ?"
            " order by segment_id, idx", [sha]):
        words[seg_id].append((s, e, t, p))
    return [Segment(idx, start, end, text, speaker, words.get(seg_id, []))
            for seg_id, idx, start, end, text, speaker in conn.execute(
                "select id, idx, start, end, text, speaker from segments where recording_id = ?"
                " order by idx", [sha])]


def _findings(conn: sqlite3.Connection, by_id: dict[str, Recording]
              ) -> tuple[list[FindingItem], list[FindingItem], int]:
    found, context, dismissed = [], [], 0
    for row in conn.execute(
            "select f.id, f.recording_id, f.category, f.severity, f.rule_id, f.quote,"
            " f.matched_text, f.start, f.end, f.confidence, f.speaker, f.citations, f.note,"
            " coalesce(f.review_status, 'unreviewed'), s.idx from findings f"
            " left join segments s on s.id = f.segment_id order by f.recording_id, f.start"):
        rec = by_id.get(row[1])
        if rec is None:
            continue
        if row[13] == "dismissed":
            dismissed += 1
            continue
        item = FindingItem(row[0], rec, *row[2:11], json.loads(row[11] or "[]"), row[12], row[13])
        seg_idx = row[14]
        if seg_idx is not None:
            pos = next((i for i, s in enumerate(rec.segments) if s.idx == seg_idx), None)
            if pos is not None:
                item.segment_idx = seg_idx
                item.utterance = rec.segments[pos].text.strip()
                item.before = rec.segments[max(0, pos - 1):pos]
                item.after = rec.segments[pos + 1:pos + 2]
                item.uncertain = rec.segments[pos].uncertain_words()
        (context if item.category in CONTEXT_CATEGORIES else found).append(item)
    key = lambda f: (f.recording.call_time or "9999", f.recording.file_name, f.start or 0)  # noqa: E731
    return sorted(found, key=key), sorted(context, key=key), dismissed


def _days(calls: list[Call], found: list[Incident], patterns: list[PatternItem],
          rules: dict) -> list[Day]:
    """One entry per calendar day (local time) from the first to the last call."""
    days: dict[str, Day] = {}
    for c in calls:
        t = local_time(c.start, rules)
        d = days.setdefault(t.date().isoformat(), Day(t.date().isoformat()))
        d.calls += 1
        d.connected += int(c.connected)
        d.night += int(is_night(t, rules))
    for f in found:
        if f.recording.call_time:
            day = f.recording.call_time[:10]
            days.setdefault(day, Day(day)).findings += 1
    for p in patterns:
        if p.category == "frequency" and p.day:
            days.setdefault(p.day, Day(p.day)).over_cap = True
    if not days:
        return []
    first, last = min(days), max(days)
    span = (date.fromisoformat(last) - date.fromisoformat(first)).days
    if span > 366:  # a sparse multi-year log: only the days that had something
        return [days[k] for k in sorted(days)]
    return [days.get(d, Day(d)) for d in (
        (date.fromisoformat(first) + timedelta(n)).isoformat() for n in range(span + 1))]
