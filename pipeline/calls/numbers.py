"""One phone number, however it is written: the canonical form every table stores.

A recorder writes ``13900002222``, a call log ``+86 139 0000 2222``, a bank SMS
``008613900002222``; counted as strings those are three callers, and three
"different numbers" in a day is what the rotation rule flags.  ``canonical`` turns
each spelling into one form (E.164, ``+8613900002222``) and ``same_number`` compares
through it, so the recorder reading, the call-log import, the call-pattern rules,
the jurisdiction lookup and the report all agree on who called.

Rules, in order (a wrong country on evidence is worse than none, so nothing is guessed
beyond them):

- spaces, dashes, dots and brackets are dropped; a leading ``00`` is the international
  prefix written out and becomes ``+``;
- a number with ``+`` is checked with Google's libphonenumber (the ``phonenumbers``
  package) and written in E.164;
- an 11-digit number starting ``13``-``19`` is a mainland China mobile: ``+86`` is
  assumed (``86`` before it without ``+`` is read the same way);
- anything else (short service numbers like ``95555``, landlines without a country,
  foreign numbers without ``+``) cannot be placed: it keeps its written digits and
  ``Number.placed`` is False, which the browser and the report say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

try:  # a dependency (pyproject); the fallback keeps an old environment working
    import phonenumbers
except ImportError:  # pragma: no cover - exercised only without the package
    phonenumbers = None

_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_SEPARATORS = re.compile(r"[\s\-().\u00a0\u2010-\u2015]")


@dataclass(frozen=True)
class Number:
    """A number as stored: ``canonical`` (E.164 when placed), what was written, and
    whether the country is known (``placed``)."""

    canonical: str
    written: str
    placed: bool


def digits(number: str | None) -> str:
    return re.sub(r"\D", "", number or "")


@lru_cache(maxsize=4096)
def parse_number(written: str | None) -> Number | None:
    """The canonical reading of ``written``; None when it holds no digits."""
    if not written or not digits(written):
        return None
    text = written.strip()
    n = _SEPARATORS.sub("", text)
    if n.startswith("00"):
        n = "+" + n[2:]
    if not n.startswith("+") and n.startswith("86") and _CN_MOBILE.fullmatch(n[2:]):
        n = "+" + n
    if n.startswith("+"):
        e164 = _e164(n)
        if e164:
            return Number(e164, text, True)
        return Number("+" + digits(n), text, False)
    if _CN_MOBILE.fullmatch(n):
        return Number("+86" + n, text, True)
    return Number(digits(n), text, False)


def _e164(n: str) -> str | None:
    """``+`` and digits in E.164 when libphonenumber finds a possible number."""
    if phonenumbers is None:
        d = digits(n)
        return "+" + d if 8 <= len(d) <= 15 else None
    try:
        parsed = phonenumbers.parse(n, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def canonical(written: str | None) -> str | None:
    """The form stored in every ``phone_number`` column (None for no number)."""
    parsed = parse_number(written)
    return parsed.canonical if parsed else None


def same_number(a: str | None, b: str | None) -> bool:
    """Two spellings of one line.  Both placed: their E.164 forms agree.  Otherwise
    (one country unknown) the last digits agree, as many as the shorter has (at most
    11, at least 5): ``4155550123`` is ``+14155550123``, ``95555`` is not ``+8695555``'s
    neighbour by accident because five digits is the floor."""
    pa, pb = parse_number(a), parse_number(b)
    if pa is None or pb is None:
        return False
    if pa.placed and pb.placed:
        return pa.canonical == pb.canonical
    da, db = digits(pa.canonical), digits(pb.canonical)
    n = min(len(da), len(db), 11)
    return n >= 5 and da[-n:] == db[-n:]
