"""What a report covers (numbers, dates, one jurisdiction) and the errors a scope can raise.

Apart from ``data`` (which loads what a scope covers) so that module stays readable; the
names are re-exported there, where callers have always found them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from ..calls.jurisdiction import digits, same_number

_NUMBER_RE = re.compile(r"^\+?[0-9][0-9 ()./-]*$")


class ReportError(RuntimeError):
    """The report cannot be made as asked; the message says why."""


class ScopeError(ReportError):
    """The scope asked for is invalid or holds nothing: no package is made (exit code 2)."""


def check_number(number: str) -> str:
    """A phone number as typed for a scope; anything else is an error, never 'all numbers'."""
    n = (number or "").strip()
    if not _NUMBER_RE.match(n) or len(digits(n)) < 5:
        raise ScopeError(f"{number!r} is not a phone number (digits, optionally with +, spaces "
                         "or dashes; at least 5 digits)")
    return n


@dataclass
class Scope:
    numbers: list[str] = field(default_factory=list)  # empty: every number
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    name: str | None = None  # the counterparty as the user names it ("XX 催收公司")
    # Only what was recorded or sent with no number (a counterparty of its own: the calls
    # nobody can attribute), and only what is judged under this jurisdiction: a package
    # per counterparty never mixes two countries' rules (``groups``).
    unnumbered: bool = False
    only_jurisdiction: str | None = None

    @property
    def narrowed(self) -> bool:
        return (bool(self.numbers) or self.unnumbered or self.only_jurisdiction is not None
                or self.date_from is not None or self.date_to is not None)

    def covers_number(self, number: str | None) -> bool:
        if self.unnumbered:
            return not (number or "").strip()
        return not self.numbers or any(same_number(number, n) for n in self.numbers)

    def covers_jurisdiction(self, code: str) -> bool:
        return self.only_jurisdiction is None or code == self.only_jurisdiction

    def covers_time(self, iso: str | None) -> bool:
        if self.date_from is None and self.date_to is None:
            return True
        if not iso:
            return False  # a call of unknown date cannot be placed inside a range
        day = datetime.fromisoformat(iso).date()
        return ((self.date_from is None or day >= self.date_from)
                and (self.date_to is None or day <= self.date_to))

    def describe(self) -> dict:
        return {"numbers": "none (calls and messages with no number)" if self.unnumbered
                else self.numbers or "all", "from": _iso(self.date_from),
                "to": _iso(self.date_to), "name": self.name,
                "jurisdiction": self.only_jurisdiction}

    def sentence(self) -> str:
        """The scope in words, for an error message: "from 1999… dated 2026-11-01 to 2026-11-30"."""
        parts = [f"from {', '.join(self.numbers)}" if self.numbers
                 else "with no number" if self.unnumbered else "from any number"]
        if self.date_from and self.date_to:
            parts.append(f"dated {_iso(self.date_from)} to {_iso(self.date_to)}")
        elif self.date_from or self.date_to:
            parts.append(f"dated {_iso(self.date_from)} or later" if self.date_from
                         else f"dated {_iso(self.date_to)} or earlier")
        return " ".join(parts)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None
