"""Call-pattern findings: night calls, daily caps, Reg F 7-in-7, number rotation, after-stop.

Input is a list of calls (from recordings' file names and an optional phone
call log), output is findings; like ``detect`` it knows nothing of engines or
the database.  Thresholds and hours come from ``pipeline/data/call_rules.yaml``
per jurisdiction, so a caseworker can change them without code.

Numbers: every call is counted by its canonical number (``pipeline.calls.numbers``), so
``+8613900002222``, ``13900002222`` and ``008613900002222`` are one caller, not a
rotation of three.  Direction: an outgoing call (the borrower dialling, as a recorder's
name or the call log says) is not a collector's call and no rule counts it; a call of
unknown direction is counted as incoming, as before direction was known.

Times: recorder file names carry local wall-clock time with no zone; they are
taken to be in the jurisdiction's timezone (Asia/Shanghai by default).  Call
logs often carry epoch milliseconds (UTC); those are converted to that zone
before "night" or "day" is decided.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from .numbers import canonical, same_number

REVIEW_NOTE = "possible violation — for human review"


@dataclass
class Call:
    number: str | None  # canonical (see ``pipeline.calls.numbers``); made so in __post_init__
    start: datetime  # timezone-aware
    connected: bool = True
    incoming: bool = True  # False only when known outgoing (the borrower called)
    source: str = "recording"  # "recording" or "call_log"
    ref: str | None = None  # recording id or call-log row id
    stop_request: bool = False  # the borrower asked them to stop during this call

    def __post_init__(self) -> None:
        self.number = canonical(self.number)


@dataclass
class PatternFinding:
    rule_id: str
    category: str
    severity: str
    phone_number: str | None  # None: all numbers together (per person)
    day: str | None  # local date, ISO
    window_start: str  # local ISO date-time
    window_end: str
    count: int
    threshold: str
    detail: str
    refs: list[str] = field(default_factory=list)
    citations: list[dict] = field(default_factory=list)
    note: str = REVIEW_NOTE
    jurisdiction: str = ""  # whose rules judged these calls
    kind: str = ""  # night, max_connected, max_unanswered, rotation, seven_in_seven, ...
    facts: dict = field(default_factory=dict)  # the numbers in ``detail``, for other languages


def load_call_rules(jurisdiction: str | None = None, path: Path | None = None) -> dict:
    """The thresholds for one jurisdiction (default from the file), with citations resolved."""
    path = path or Path(str(resources.files("pipeline") / "data" / "call_rules.yaml"))
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    name = jurisdiction or doc.get("default_jurisdiction", "CN")
    if name not in doc["jurisdictions"]:
        raise ValueError(f"unknown jurisdiction {name!r}; known: {', '.join(doc['jurisdictions'])}")
    rules = {"jurisdiction": name, **doc["jurisdictions"][name]}
    common = yaml.safe_load((path.parent / "rules" / "common.yaml").read_text(encoding="utf-8"))
    known = common.get("citations", {})
    cites = rules.get("citations") or []
    by_category = cites if isinstance(cites, dict) else {"*": cites}
    rules["citations_by_category"] = {cat: [{"id": c, **known[c]} for c in ids if c in known]
                                      for cat, ids in by_category.items()}
    rules["citations"] = [c for ids in rules["citations_by_category"].values() for c in ids]
    return rules


def citations_for(rules: dict, category: str) -> list[dict]:
    """The citations for one category of finding (or the jurisdiction's list for all)."""
    by = rules.get("citations_by_category") or {}
    return by.get(category, by.get("*", rules.get("citations", [])))


def _hhmm(s: str) -> time:
    return time(*(int(x) for x in s.split(":")))


def has_night_window(rules: dict) -> bool:
    return bool(rules.get("night_start") and rules.get("night_end"))


def is_night(local: datetime, rules: dict) -> bool:
    """Inside the jurisdiction's night window (never, where it sets none)."""
    if not has_night_window(rules):
        return False
    start, end = _hhmm(rules["night_start"]), _hhmm(rules["night_end"])
    t = local.timetz().replace(tzinfo=None)
    return t >= start or t < end if start > end else start <= t < end


def local_time(naive_or_aware: datetime, rules: dict) -> datetime:
    """Aware datetime in the jurisdiction's zone (naive input is taken as already local)."""
    tz = ZoneInfo(rules.get("timezone", "Asia/Shanghai"))
    if naive_or_aware.tzinfo is None:
        return naive_or_aware.replace(tzinfo=tz)
    return naive_or_aware.astimezone(tz)


def _iso(dt: datetime) -> str:
    return dt.replace(tzinfo=None).isoformat(timespec="seconds")


def _pf(rule_id, category, severity, number, day, calls, threshold, detail, rules,
        kind: str = "", facts: dict | None = None) -> PatternFinding:
    return PatternFinding(
        rule_id=rule_id, category=category, severity=severity, phone_number=number,
        day=day.isoformat() if isinstance(day, date) else day,
        window_start=_iso(calls[0].start), window_end=_iso(calls[-1].start), count=len(calls),
        threshold=threshold, detail=f"{detail} ({rules['jurisdiction']} rules)",
        refs=[c.ref for c in calls if c.ref], citations=citations_for(rules, category),
        jurisdiction=rules["jurisdiction"], kind=kind, facts=facts or {})


def analyse_by_number(calls: list[Call], jurisdiction_of: Callable[[str | None], str],
                      load: Callable[[str], dict] | None = None) -> list[PatternFinding]:
    """Each call judged under its own jurisdiction (chosen per number): the calls are
    grouped by jurisdiction and each group analysed under that jurisdiction's rules."""
    load = load or load_call_rules
    groups: dict[str, list[Call]] = defaultdict(list)
    for c in calls:
        groups[jurisdiction_of(c.number)].append(c)
    out: list[PatternFinding] = []
    for j in sorted(groups):
        out += analyse(groups[j], load(j))
    return out


def analyse(calls: list[Call], rules: dict) -> list[PatternFinding]:
    """All call-pattern findings for one borrower's calls under ``rules``."""
    j = rules["jurisdiction"]
    incoming = sorted((Call(**{**c.__dict__, "start": local_time(c.start, rules)}) for c in calls
                       if c.incoming), key=lambda c: c.start)
    out: list[PatternFinding] = []
    # Night calls: every connected or attempted call inside the window.
    for c in incoming:
        if is_night(c.start, rules):
            out.append(_pf(f"{j}_NIGHT_{rules['night_start'][:2]}_{rules['night_end'][:2]}",
                           "night_call", "medium", c.number, c.start.date(), [c],
                           f"{rules['night_start']}–{rules['night_end']}",
                           f"{'connected call' if c.connected else 'call attempt'} at "
                           f"{c.start:%H:%M} local time", rules, "night",
                           dict(time=f"{c.start:%H:%M}", connected=c.connected,
                                start=rules["night_start"][:5], end=rules["night_end"][:5])))
    by_day: dict[date, list[Call]] = defaultdict(list)
    for c in incoming:
        by_day[c.start.date()].append(c)
    cap = rules.get("max_connected_per_day")
    attempts_cap = rules.get("max_attempts_per_day")
    rotation = rules.get("rotation_numbers_per_day")
    for day, day_calls in sorted(by_day.items()):
        connected = [c for c in day_calls if c.connected]
        if cap is not None and len(connected) > cap:
            out.append(_pf(f"{j}_MAX{cap}_CONNECTED_PER_DAY", "frequency", "medium", None, day,
                           connected, f"> {cap} connected calls a day",
                           f"{len(connected)} connected calls on {day} (all numbers together)",
                           rules, "max_connected",
                           dict(count=len(connected), day=day.isoformat(), cap=cap)))
        if attempts_cap is not None:
            per_number: dict[str | None, list[Call]] = defaultdict(list)
            for c in day_calls:
                if not c.connected:
                    per_number[c.number].append(c)
            for number, missed in per_number.items():
                if len(missed) > attempts_cap:
                    out.append(_pf(f"{j}_MAX{attempts_cap}_UNANSWERED_PER_DAY", "frequency", "medium",
                                   number, day, missed, f"> {attempts_cap} unanswered attempts a day",
                                   f"{len(missed)} unanswered attempts from {number} on {day}", rules,
                                   "max_unanswered", dict(count=len(missed), day=day.isoformat(),
                                                          number=number or "", cap=attempts_cap)))
        if rotation is not None:
            numbers = sorted({c.number for c in day_calls if c.number})
            if len(numbers) >= rotation:
                out.append(_pf(f"{j}_NUMBER_ROTATION", "frequency", "low", None, day, day_calls,
                               f">= {rotation} different numbers a day",
                               f"{len(numbers)} different numbers called on {day}: "
                               + ", ".join(numbers), rules, "rotation",
                               dict(count=len(numbers), day=day.isoformat(), numbers=numbers,
                                    cap=rotation)))
    out += _seven_in_seven(incoming, rules)
    out += _after_stop(incoming, rules)
    return out


def _seven_in_seven(calls: list[Call], rules: dict) -> list[PatternFinding]:
    """Reg F 1006.14(b)(2): more than N calls in 7 consecutive days, or a call within
    7 days after a telephone conversation.  Counted per person (all numbers)."""
    n = rules.get("max_calls_in_7_days")
    if n is None:
        return []
    j = rules["jurisdiction"]
    out, last_end = [], None
    for i, c in enumerate(calls):
        window = [d for d in calls[: i + 1] if d.start > c.start - timedelta(days=7)]
        if len(window) > n and (last_end is None or window[0].start > last_end):
            out.append(_pf(f"{j}_REGF_7IN7", "frequency", "medium", None, c.start.date(), window,
                           f"> {n} calls in 7 days",
                           f"{len(window)} calls between {window[0].start:%Y-%m-%d} and "
                           f"{c.start:%Y-%m-%d}", rules, "seven_in_seven",
                           dict(count=len(window), first=f"{window[0].start:%Y-%m-%d}",
                                last=f"{c.start:%Y-%m-%d}", cap=n)))
            last_end = c.start
    conversations = [c for c in calls if c.connected]
    for conv in conversations:
        later = [d for d in calls if conv.start < d.start <= conv.start + timedelta(days=7)
                 and d.start.date() != conv.start.date()]
        if later:
            out.append(_pf(f"{j}_REGF_7DAY_AFTER_CONV", "frequency", "medium", None,
                           later[0].start.date(), [conv, *later],
                           "no call within 7 days after a conversation",
                           f"{len(later)} call(s) within 7 days after the conversation of "
                           f"{conv.start:%Y-%m-%d %H:%M}", rules, "after_conversation",
                           dict(count=len(later), when=f"{conv.start:%Y-%m-%d %H:%M}")))
    return out


def _after_stop(calls: list[Call], rules: dict) -> list[PatternFinding]:
    """Calls from the same number after the borrower asked them to stop."""
    j = rules["jurisdiction"]
    out = []
    for stop in (c for c in calls if c.stop_request):
        later = [d for d in calls if d.start > stop.start and d.start.date() > stop.start.date()
                 and (stop.number is None or d.number == stop.number)]  # canonical
        if later:
            out.append(_pf(f"{j}_CONTACT_AFTER_STOP", "after_stop", "medium", stop.number,
                           later[0].start.date(), [stop, *later], "no contact after a stop request",
                           f"{len(later)} call(s) after the stop request of "
                           f"{stop.start:%Y-%m-%d %H:%M}", rules, "after_stop",
                           dict(count=len(later), when=f"{stop.start:%Y-%m-%d %H:%M}")))
    return out


def _parse_local(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def merge_calls(rows: list[tuple], stop_refs: set[str]) -> list[Call]:
    """Recordings and call-log entries as one list of calls; a recording that is the
    same call as a log entry (same number however written, start within 2 minutes) is
    counted once.  ``rows``: (kind, number, start, connected, incoming, ref)."""
    logs = [r for r in rows if r[0] == "call_log"]
    calls = [Call(r[1], _parse_local(r[2]), r[3], r[4], "call_log", r[5]) for r in logs]
    for kind, number, start, connected, incoming, ref in rows:
        if kind != "recording":
            continue
        t = _parse_local(start)
        twin = next((c for c in calls if c.source == "call_log" and same_number(c.number, number) and abs(
            (c.start.replace(tzinfo=None) - t.replace(tzinfo=None)).total_seconds()) <= 120), None)
        if twin is not None:
            twin.ref, twin.connected = ref, True
            twin.stop_request = ref in stop_refs
        else:
            calls.append(Call(number, t, connected, incoming, "recording", ref, ref in stop_refs))
    return calls
