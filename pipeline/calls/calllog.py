"""Read a call log exported from the phone (CSV) into ``callpattern.Call`` objects.

Recordings only show connected calls; the phone's own log also shows the
attempts that never connected and numbers that were never recorded, which is
what the daily-attempt caps and Reg F counting need.  Export formats differ,
so headers are matched from a list of common names (English and Chinese), numbers are
stored in their canonical form (``pipeline.calls.numbers``, the same as a recording's), and
dates may be ISO text (local time, or with a zone) or epoch seconds/milliseconds
(UTC, as Android's call log stores them).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path

from .callpattern import Call
from .numbers import canonical

HEADERS = {
    "number": ("number", "phone", "phone_number", "phonenumber", "address", "caller", "from",
               "号码", "电话", "电话号码", "对方号码", "来电号码"),
    "date": ("date", "datetime", "time", "start", "start_time", "call_time", "timestamp",
             "时间", "日期", "通话时间", "来电时间"),
    "duration": ("duration", "duration_s", "seconds", "时长", "通话时长"),
    "type": ("type", "call_type", "direction", "status", "类型", "通话类型", "状态"),
}
INCOMING = {"1", "incoming", "in", "received", "answered", "来电", "呼入", "已接", "已接来电"}
OUTGOING = {"2", "outgoing", "out", "dialed", "去电", "呼出", "已拨"}
MISSED = {"3", "5", "6", "missed", "rejected", "declined", "blocked", "未接", "未接来电", "拒接", "已拒接",
          "拦截"}


class CallLogError(ValueError):
    pass


def _column(fieldnames: list[str], kind: str) -> str | None:
    names = {f.strip().lower(): f for f in fieldnames}
    for alias in HEADERS[kind]:
        if alias in names:
            return names[alias]
    return None


def parse_when(value: str) -> datetime:
    v = value.strip()
    if v.isdigit():
        n = int(v)
        return datetime.fromtimestamp(n / 1000 if len(v) >= 12 else n, tz=timezone.utc)
    v = v.replace("/", "-").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(v)
    except ValueError:
        pass
    for fmt in ("%Y-%m-%d %H:%M", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M"):
        try:
            return datetime.strptime(v, fmt)
        except ValueError:
            continue
    raise CallLogError(f"cannot read the date {value!r}")


def read_call_log(path: Path) -> list[Call]:
    """Parse a CSV call log; incoming calls and attempts are returned, outgoing ones too
    (flagged ``incoming=False``) so the caller can show them."""
    text = Path(path).read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise CallLogError("the call log is empty")
    col_number = _column(reader.fieldnames, "number")
    col_date = _column(reader.fieldnames, "date")
    if not col_number or not col_date:
        raise CallLogError(f"the call log needs a number and a date column; found {reader.fieldnames}")
    col_duration = _column(reader.fieldnames, "duration")
    col_type = _column(reader.fieldnames, "type")
    calls = []
    for n, row in enumerate(reader, start=2):
        try:
            when = parse_when(row[col_date] or "")
        except CallLogError as e:
            raise CallLogError(f"line {n}: {e}") from e
        kind = (row.get(col_type) or "").strip().lower() if col_type else ""
        try:
            duration = float(row.get(col_duration) or 0) if col_duration else None
        except ValueError as e:
            raise CallLogError(f"line {n}: cannot read the duration {row.get(col_duration)!r}") from e
        incoming = kind not in OUTGOING
        if kind in MISSED:
            connected = False
        elif duration is not None:
            connected = duration > 0
        else:
            connected = kind in INCOMING
        calls.append(Call(number=canonical((row[col_number] or "").strip() or None), start=when,
                          connected=connected, incoming=incoming, source="call_log", ref=f"line {n}"))
    return calls
