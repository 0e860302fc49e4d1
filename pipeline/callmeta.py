"""What a call recorder's file name tells: the other party's number and the call time.

Only unambiguous patterns are parsed; anything else returns ``None`` fields
rather than a guess, because a wrong date on evidence is worse than none.
Styles covered (examples):

- ``13812345678_20261102223015.amr``            (many Android recorders)
- ``通话录音_15012345678_20261104_230510.m4a``      (Chinese phone recorders)
- ``Call recording 13912345678_261103_091500.m4a`` (Samsung: yyMMdd_HHmmss)
- ``+14155550123_2026-11-05_07-45-00.3gp``      (ISO-like, with dashes)
- ``张三(13812345678)_20261102223015.mp3``       (MIUI: name and number)
- ``录音 2026-11-02 22:30:15 13812345678.m4a``  (date-time first)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_PHONE = r"(?P<phone>\+?\d{5,15})"
_SEP = r"[ _\-@]+"
_PATTERNS = [
    # number then 14-digit yyyyMMddHHmmss
    re.compile(_PHONE + r"\)?" + _SEP + r"(?P<dt>(?:19|20)\d{12})(?!\d)"),
    # number then yyyyMMdd_HHmmss
    re.compile(_PHONE + r"\)?" + _SEP + r"(?P<d>(?:19|20)\d{6})[_\- ](?P<t>\d{6})(?!\d)"),
    # number then yyyy-MM-dd[_ ]HH-mm-ss
    re.compile(_PHONE + r"\)?" + _SEP
               + r"(?P<iso>(?:19|20)\d\d-\d\d-\d\d[ _T]\d\d[-:.]\d\d[-:.]\d\d)"),
    # Samsung: number then yyMMdd_HHmmss
    re.compile(_PHONE + _SEP + r"(?P<yd>\d{6})_(?P<yt>\d{6})(?!\d)"),
    # date-time first, then number
    re.compile(r"(?P<iso>(?:19|20)\d\d-\d\d-\d\d[ _T]\d\d[-:.]\d\d[-:.]\d\d)" + _SEP + _PHONE),
    re.compile(r"(?P<dt>(?:19|20)\d{12})" + _SEP + _PHONE + r"(?!\d)"),
]


@dataclass
class CallMeta:
    phone_number: str | None = None
    call_time: str | None = None  # ISO 8601 local time as the recorder wrote it (no zone)


def _parse(m: re.Match) -> datetime | None:
    g = m.groupdict()
    try:
        if g.get("dt"):
            return datetime.strptime(g["dt"], "%Y%m%d%H%M%S")
        if g.get("d"):
            return datetime.strptime(g["d"] + g["t"], "%Y%m%d%H%M%S")
        if g.get("iso"):
            s = re.sub(r"[ _T]", " ", g["iso"], count=1)
            date, time = s.split(" ")
            return datetime.strptime(date + " " + re.sub(r"[-:.]", ":", time), "%Y-%m-%d %H:%M:%S")
        if g.get("yd"):  # a call recorder's two-digit year is 20yy (Python's %y makes 69-99 19xx)
            return datetime.strptime("20" + g["yd"] + g["yt"], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return None


def parse_filename(name: str) -> CallMeta:
    """Phone number and call time from a recorder's file name, when unambiguous."""
    stem = name.rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    for pattern in _PATTERNS:
        m = pattern.search(stem)
        if not m:
            continue
        when = _parse(m)
        if when is None:
            continue
        return CallMeta(phone_number=m.group("phone"), call_time=when.isoformat(timespec="seconds"))
    return CallMeta()
