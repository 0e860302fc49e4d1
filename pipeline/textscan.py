"""Scan text evidence (SMS, chat exports) with the same rules as the calls.

Input is either one message per line, or a CSV export with a text column and,
optionally, date and number columns (header names in English or Chinese).
Each finding carries the message's date-time in place of audio times.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from .calls.calllog import parse_when
from .detect import Detector, TimedText

TEXT_HEADERS = ("text", "body", "message", "content", "msg", "sms", "内容", "短信内容", "消息", "正文")
DATE_HEADERS = ("date", "datetime", "time", "sent", "received", "timestamp", "时间", "日期", "发送时间")
NUMBER_HEADERS = ("number", "address", "phone", "from", "sender", "号码", "发件人", "电话", "对方号码")


@dataclass
class Message:
    text: str
    sent_at: str | None = None  # ISO date-time as given (converted when epoch)
    number: str | None = None
    ref: str = ""


def _find(fieldnames: list[str], names: tuple[str, ...]) -> str | None:
    lower = {f.strip().lower(): f for f in fieldnames}
    return next((lower[n] for n in names if n in lower), None)


def read_messages(text: str) -> list[Message]:
    """CSV with a recognisable text column, else one message per non-empty line."""
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if "," in first or "\t" in first:
        dialect = "excel-tab" if "\t" in first else "excel"
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), dialect=dialect)
        col_text = _find(reader.fieldnames or [], TEXT_HEADERS)
        if col_text:
            col_date = _find(reader.fieldnames or [], DATE_HEADERS)
            col_num = _find(reader.fieldnames or [], NUMBER_HEADERS)
            out = []
            for n, row in enumerate(reader, start=2):
                body = (row.get(col_text) or "").strip()
                if not body:
                    continue
                when = row.get(col_date) if col_date else None
                if when and when.strip().isdigit():
                    when = parse_when(when).isoformat(timespec="seconds")
                out.append(Message(body, (when or "").strip() or None,
                                   (row.get(col_num) or "").strip() or None if col_num else None,
                                   f"line {n}"))
            return out
    return [Message(line.strip(), ref=f"line {n}")
            for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def scan(messages: list[Message], detector: Detector) -> list[dict]:
    """Findings as plain dicts: the audio finding fields, with message date/number/ref."""
    out = []
    # One batch: the meaning layer embeds the whole export at once.  Each number's messages
    # are one thread, judged as a whole (a debt word in one message counts for the others).
    # Every dict carries "tier": "finding", or "listen" for a listen suggestion.
    for f in detector.detect([TimedText(m.text, ref=i) for i, m in enumerate(messages)],
                             threads=[m.number for m in messages]):
        m = messages[f.ref]
        if f.category == "identification":  # a signal for calls, not a finding
            continue
        d = asdict(f)
        d.pop("ref")
        d.pop("start")
        d.pop("end")
        d.update(message=m.text, sent_at=m.sent_at, number=m.number, source=m.ref,
                 start=m.sent_at, end=m.sent_at)
        out.append(d)
    return out
