"""What a report is about, read from the evidence database (reads only).

A report covers one counterparty (one or more numbers the user says belong to
one collector), a date range, or everything.  Everything the renderers need is
gathered here into plain dataclasses, so rendering (HTML, subtitles, complaint
drafts) never touches SQL and the selection rules live in one place.

Two rules a recipient relies on are decided here:

- *One sentence, one time.*  A finding's sentence is its transcript segment
  (``findings.segment_id``); the report shows the sentence's start as its time
  everywhere, and the matched words' own span beside it.
- *The right law.*  Each call is judged under the jurisdiction of its number
  (``pipeline/calls/jurisdiction.py``); only that jurisdiction's citations are shown,
  and only those marked ``verified`` in the rule files (and in force on the day).
  The rule itself (``jurisdiction.shown_citations``) is shared with the browser.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ..calls import callstore
from ..calls.callpattern import (
    Call,
    analyse_by_number,
    has_night_window,
    is_night,
    load_call_rules,
    local_time,
    merge_calls,
)
from ..calls.jurisdiction import (
    JurisdictionError,
    NumberRules,
    digits,
    rules_for_database,
    same_number,
    shown_citations,
)
from ..detect.rules import load_rules
from ..flagged import Why, meaning_ran
from ..store import Store
from .kinds import CONTEXT_CATEGORIES, OPENING_CATEGORIES, worst
from .messages import MessageItem, load_messages
from .scope import ReportError, Scope, ScopeError, check_number

# re-exported: phone numbers are compared here too, and the scope is part of what load takes
__all__ = ["ReportError", "Scope", "ScopeError", "check_number", "digits", "same_number"]

LOW_CONFIDENCE_WORD = 0.5  # word probability under which a word is shown as uncertain


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
    contact: str | None = None  # the name the phone saved (from the recorder's file name)
    direction: str = "unknown"  # incoming, outgoing (the borrower called), unknown
    candidate_paths: list[str] = field(default_factory=list)  # where the original was seen
    segments: list[Segment] = field(default_factory=list)
    jurisdiction: str = "CN"  # whose rules judge this call
    jurisdiction_reason: str = "default"  # why: "prefix +1", "numbers.yaml: 138...", "default"


@dataclass
class FindingItem:
    id: int
    recording: Recording
    category: str
    severity: str
    rule_id: str
    quote: str
    matched_text: str
    start: float | None  # the matched words
    end: float | None
    confidence: float | None
    speaker: str | None
    citations: list[dict]  # as stored (every jurisdiction)
    note: str | None
    review_status: str
    segment_idx: int | None = None
    utterance: str | None = None  # the whole utterance the quote was taken from
    sentence_start: float | None = None  # the utterance (segment): its time is the finding's time
    sentence_end: float | None = None
    before: list[Segment] = field(default_factory=list)  # context: the utterances around it
    after: list[Segment] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)
    shown_citations: list[dict] = field(default_factory=list)  # this call's law, verified only
    review_note: str | None = None
    reviewed_at: str | None = None
    reviewed_by: str | None = None
    # why it was flagged (schema 5): method, the rule's pattern, the meaning score, and
    # how the run that made it detected (``runs.detection``)
    method: str | None = None
    pattern: str | None = None
    score: float | None = None
    run_id: int | None = None
    detection: str | None = None
    # "listen" only for a listen suggestion a reviewer confirmed (the others never reach a report)
    tier: str = "finding"

    @property
    def opening(self) -> bool:
        return self.category in OPENING_CATEGORIES

    @property
    def why(self) -> Why:
        return Why(self.method, self.rule_id, self.matched_text, self.pattern, self.score,
                   self.note, meaning_ran(self.detection))


@dataclass
class Incident:
    """One utterance with everything found in it (several rules often match one
    sentence); the report shows and plays it once, with each finding listed.  A
    finding about the call's opening (nothing identified in the first 45 s) is an
    incident of its own, never attached to a sentence."""

    recording: Recording
    findings: list[FindingItem]
    utterance: str  # the whole utterance as transcribed (the quote's sentence)
    start: float | None  # the sentence (segment) span: the incident's one time
    end: float | None
    words_start: float | None = None  # the matched words, first to last
    words_end: float | None = None
    before: list[Segment] = field(default_factory=list)
    after: list[Segment] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)
    opening: bool = False

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(f.category for f in self.findings))

    @property
    def severity(self) -> str:
        return worst(f.severity for f in self.findings)

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
            for c in f.shown_citations:
                seen.setdefault(c.get("id") or f"{c.get('instrument')} {c.get('article')}", c)
        return list(seen.values())


def incidents(findings: list[FindingItem]) -> list[Incident]:
    """Findings grouped by utterance, in call order; opening findings stand alone."""
    groups: dict[tuple, list[FindingItem]] = {}
    for f in findings:
        if f.segment_idx is not None and not f.opening:
            key: tuple = (f.recording.id, f.segment_idx)
        else:
            key = (f.recording.id, "f", f.id)
        groups.setdefault(key, []).append(f)
    out = []
    for items in groups.values():
        first = items[0]
        starts = [f.start for f in items if f.start is not None]
        ends = [f.end for f in items if f.end is not None]
        w_start, w_end = (min(starts) if starts else None), (max(ends) if ends else None)
        if first.opening or first.sentence_start is None:
            out.append(Incident(first.recording, items, first.quote, w_start, w_end, w_start,
                                w_end, opening=first.opening))
        else:
            out.append(Incident(first.recording, items, first.utterance or first.quote,
                                first.sentence_start, first.sentence_end, w_start, w_end,
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
    citations: list[dict]  # shown: this jurisdiction's verified ones
    jurisdiction: str = ""
    kind: str = ""
    facts: dict = field(default_factory=dict)


@dataclass
class Day:
    day: str
    calls: int = 0
    connected: int = 0
    night: int = 0
    findings: int = 0  # findings (not sentences) in that day's recordings
    over_cap: bool = False
    messages: int = 0  # text messages with findings sent that day


@dataclass
class ReportData:
    scope: Scope
    jurisdiction: str  # the default (numbers that no numbers file places)
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
    night_window: str  # the night hours of the jurisdictions in the report, e.g. "22:00–08:00"
    undated_recordings: int = 0  # recordings with no call time: not counted as calls
    jurisdictions: dict[str, str] = field(default_factory=dict)  # used: code -> night window
    reviews: list[dict] = field(default_factory=list)  # verdicts and notes, for the manifest
    numbers_file: str | None = None  # the user's numbers.yaml, when there is one
    # (number, jurisdiction, why), each once; "" for recordings with no number (one entry
    # per distinct verdict: an English one may be judged apart from a Chinese one)
    number_jurisdictions: list[tuple[str, str, str]] = field(default_factory=list)
    # the runs that made the findings in the report: id, started_at, detection
    detection_runs: list[dict] = field(default_factory=list)
    # text messages with findings (``scan-text --db``), and their dismissed findings
    messages: list[MessageItem] = field(default_factory=list)
    messages_dismissed: int = 0
    # an --all-in-one package that mixes: (counterparty, jurisdiction) each; "": no number
    mixes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        """The jurisdictions the report's calls and messages are judged under."""
        return sorted(self.jurisdictions) or [self.jurisdiction]

    @property
    def by_meaning(self) -> int:
        """Findings no rule made: the meaning layer alone found them (calls and messages)."""
        return (sum(1 for f in self.findings if f.why.by_meaning)
                + sum(1 for m in self.messages for f in m.findings if f.why.by_meaning))

    @property
    def message_findings(self) -> int:
        return sum(len(m.findings) for m in self.messages)


def _window(rules: dict) -> str:
    if not has_night_window(rules):
        return ""
    return f"{rules['night_start'][:5]}–{rules['night_end'][:5]}"


def load(store: Store, scope: Scope, jurisdiction: str | None = None) -> ReportData:
    """Everything the report shows, for ``scope``; dismissed findings are left out.

    Raises ``ScopeError`` (and nothing is written) for a number that is not one, and
    for a scope that holds no recording and no call: a scope never silently widens.
    """
    for n in scope.numbers:
        check_number(n)
    if scope.date_from and scope.date_to and scope.date_from > scope.date_to:
        raise ScopeError("--from is after --to")
    conn = store.conn
    try:
        judge = rules_for_database(store.path, conn, jurisdiction)
    except JurisdictionError as e:
        raise ReportError(str(e)) from e
    rules_cache: dict[str, dict] = {}

    def rules_for(j: str) -> dict:
        if j not in rules_cache:
            rules_cache[j] = load_call_rules(j)
        return rules_cache[j]

    def rules_of(number: str | None) -> dict:
        return rules_for(judge.of(number))

    recordings = [r for r in _recordings(conn, scope, judge) if scope.covers_jurisdiction(r.jurisdiction)]
    calls = [c for c in merge_calls(callstore.stored_calls(store),
                                    callstore.recordings_with_stop_requests(store))
             if scope.covers_number(c.number) and scope.covers_jurisdiction(judge.of(c.number))
             and scope.covers_time(_local_iso(c, rules_of(c.number)))]
    pack = load_rules()
    messages, messages_dismissed = load_messages(conn, scope, judge, pack.citations)
    messages = [m for m in messages if scope.covers_jurisdiction(m.jurisdiction)]
    if not recordings and not calls and not messages:
        if scope.narrowed:
            raise ScopeError(f"nothing to report: the database holds no recording, no call and no "
                             f"message finding {scope.sentence()}; no package was made (check the "
                             f"number and dates)")
        raise ScopeError("the database holds no transcribed recording yet; run `call-evidence "
                         "transcribe` first")
    by_id = {r.id: r for r in recordings}
    findings, context, dismissed = _findings(store, by_id, pack.citations)
    reviews = [_review_entry(f) for f in [*findings, *context, *dismissed]
               if f.review_status != "unreviewed"]
    # Call patterns are recomputed over the calls in scope: for a counterparty that
    # rotates numbers, "5 connected calls on one day" must count its numbers together.
    patterns = [PatternItem(p.rule_id, p.category, p.severity, p.phone_number, p.day,
                            p.window_start, p.window_end, p.count, p.threshold, p.detail,
                            shown_citations(p.citations, p.jurisdiction, p.window_start,
                                            pack.citations),
                            p.jurisdiction, p.kind, p.facts)
                for p in analyse_by_number(calls, judge.of, rules_for)]
    grouped = incidents(findings)
    days = _days(calls, findings, patterns, rules_of, messages)
    # Counted per utterance: two rules matching one insult are one insult; per message
    # likewise (a message is one utterance).
    per_category = Counter(c for i in grouped for c in i.categories)
    per_category.update(c for m in messages for c in m.categories)
    for p in patterns:
        per_category[p.category] += 1
    runs = [dict(zip(("id", "started_at", "tool_version", "engine", "engine_version", "model",
                      "model_sha256", "settings", "detection"), r, strict=True)) for r in conn.execute(
        "select id, started_at, tool_version, engine, engine_version, model, model_sha256, settings,"
        " detection from runs where id in (select distinct run_id from recordings where status = 'done')"
        " order by id")]
    for r in runs:
        r["settings"] = json.loads(r["settings"]) if r["settings"] else None
    made = {f.run_id for f in [*findings, *context, *dismissed] if f.run_id is not None}
    detection_runs = [dict(zip(("id", "started_at", "detection"), r, strict=True)) for r in
                      conn.execute(f"select id, started_at, detection from runs where id in"
                                   f" ({', '.join('?' * len(made))}) order by id", sorted(made))]
    numbers = sorted({r.phone_number for r in recordings if r.phone_number}
                     | {c.number for c in calls if c.number}
                     | {m.phone_number for m in messages if m.phone_number})
    used = sorted({r.jurisdiction for r in recordings} | {judge.of(c.number) for c in calls}
                  | {m.jurisdiction for m in messages})
    windows = {j: _window(rules_for(j)) for j in used}
    return ReportData(
        scope=scope, jurisdiction=judge.default, categories=pack.categories,
        recordings=recordings, findings=findings, incidents=grouped, context=context,
        patterns=patterns, days=days,
        calls=len(calls), connected=sum(1 for c in calls if c.connected),
        attempted_unanswered=sum(1 for c in calls if not c.connected),
        night_calls=sum(1 for c in calls if is_night(local_time(c.start, rules_of(c.number)),
                                                     rules_of(c.number))),
        days_over_caps=sum(1 for d in days if d.over_cap), per_category=dict(per_category),
        dismissed=len(dismissed), numbers=numbers, runs=runs,
        generated_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        night_window=_windows_text(windows),
        undated_recordings=sum(1 for r in recordings if not r.call_time),
        jurisdictions=windows, reviews=reviews,
        numbers_file=judge.user_file, detection_runs=detection_runs,
        messages=messages, messages_dismissed=messages_dismissed,
        number_jurisdictions=list(dict.fromkeys(
            [(n, (v := judge.judge(n)).jurisdiction, v.reason) for n in numbers]
            + [("", r.jurisdiction, r.jurisdiction_reason) for r in recordings if not r.phone_number])))


def _windows_text(windows: dict[str, str]) -> str:
    shown = {j: w for j, w in windows.items() if w}
    if len(set(shown.values())) <= 1 and len(shown) == len(windows):
        return next(iter(shown.values()), "—")
    return "; ".join(f"{j} {w or '—'}" for j, w in windows.items())


def _local_iso(c: Call, rules: dict) -> str:
    return local_time(c.start, rules).replace(tzinfo=None).isoformat(timespec="seconds")


def _recordings(conn: sqlite3.Connection, scope: Scope, judge: NumberRules) -> list[Recording]:
    cols = ("id, path, file_name, phone_number, call_time, duration, size, container, codec,"
            " sample_rate, channels, language, engine, model, run_id, contact,"
            " coalesce(direction, 'unknown')")
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
        verdict = judge.judge(rec.phone_number, rec.language)
        rec.jurisdiction, rec.jurisdiction_reason = verdict.jurisdiction, verdict.reason
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


def _findings(store: Store, by_id: dict[str, Recording], known: dict[str, dict]
              ) -> tuple[list[FindingItem], list[FindingItem], list[FindingItem]]:
    """(possible violations, context such as stop requests, dismissed): dismissed
    findings are left out of the report but their verdicts go into the manifest."""
    found, context, dismissed = [], [], []
    verdicts: dict[int, dict] = {}
    for sha in by_id:
        verdicts.update(store.review_matches(sha)[1])
    for row in store.conn.execute(
            "select f.id, f.recording_id, f.category, f.severity, f.rule_id, f.quote,"
            " f.matched_text, f.start, f.end, f.confidence, f.speaker, f.citations, f.note,"
            " coalesce(f.review_status, 'unreviewed'), s.idx, f.method, f.pattern, f.score,"
            " f.run_id, ru.detection, f.tier from findings f left join segments s on s.id = f.segment_id"
            " left join runs ru on ru.id = f.run_id"
            # listen suggestions (值得复听) reach a report only once a reviewer confirms them
            " where coalesce(f.tier, 'finding') = 'finding' or f.review_status = 'confirmed'"
            " order by f.recording_id, f.start"):
        rec = by_id.get(row[1])
        if rec is None:
            continue
        item = FindingItem(row[0], rec, *row[2:11], json.loads(row[11] or "[]"), row[12], row[13])
        item.method, item.pattern, item.score, item.run_id, item.detection = row[15:20]
        item.tier = row[20] or "finding"
        item.shown_citations = shown_citations(item.citations, rec.jurisdiction, rec.call_time, known)
        verdict = verdicts.get(item.id)
        if verdict and row[13] != "unreviewed":
            item.review_note, item.reviewed_at = verdict.get("note"), verdict.get("reviewed_at")
            item.reviewed_by = verdict.get("reviewed_by")
        seg_idx = row[14]
        if seg_idx is not None:
            pos = next((i for i, s in enumerate(rec.segments) if s.idx == seg_idx), None)
            if pos is not None:
                seg = rec.segments[pos]
                item.segment_idx = seg_idx
                item.utterance = seg.text.strip()
                item.sentence_start, item.sentence_end = seg.start, seg.end
                item.before = rec.segments[max(0, pos - 1):pos]
                item.after = rec.segments[pos + 1:pos + 2]
                item.uncertain = seg.uncertain_words()
        if item.review_status == "dismissed":
            dismissed.append(item)
        else:
            (context if item.category in CONTEXT_CATEGORIES else found).append(item)

    def key(f: FindingItem) -> tuple:
        when = f.sentence_start if f.sentence_start is not None else (f.start or 0)
        return (f.recording.call_time or "9999", f.recording.file_name, when, f.start or 0)

    return sorted(found, key=key), sorted(context, key=key), sorted(dismissed, key=key)


def _review_entry(f: FindingItem) -> dict:
    """A verdict as the manifest lists it (dismissed ones too: the recipient sees what
    was left out, and why)."""
    return {"finding_id": f.id, "recording_sha256": f.recording.id,
            "file_name": f.recording.file_name, "rule_id": f.rule_id, "category": f.category,
            "sentence_start_s": f.sentence_start, "words_start_s": f.start,
            "status": f.review_status, "note": f.review_note, "reviewed_at": f.reviewed_at,
            "reviewed_by": f.reviewed_by}


def _days(calls: list[Call], found: list[FindingItem], patterns: list[PatternItem],
          rules_of, messages: list[MessageItem] = ()) -> list[Day]:
    """One entry per calendar day (local time) from the first call or message to the last
    (a message's time is as the phone exported it: local)."""
    days: dict[str, Day] = {}
    for c in calls:
        rules = rules_of(c.number)
        t = local_time(c.start, rules)
        d = days.setdefault(t.date().isoformat(), Day(t.date().isoformat()))
        d.calls += 1
        d.connected += int(c.connected)
        d.night += int(is_night(t, rules))
    for f in found:  # every finding counts (two rules in one sentence are two findings)
        if f.recording.call_time:
            day = f.recording.call_time[:10]
            days.setdefault(day, Day(day)).findings += 1
    for m in messages:
        day = (m.sent_at or "")[:10]
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            days.setdefault(day, Day(day)).messages += 1
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
