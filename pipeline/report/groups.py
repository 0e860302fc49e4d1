"""Who a package is about: one counterparty, under one jurisdiction's rules.

A regulator acts on a complaint about one lender or collector; a package that mixes a
US number and a Chinese one, or two collectors, is set aside.  So ``report`` by default
writes one package per counterparty:

- numbers the caseworker grouped under a lender's name in ``numbers.yaml`` (beside the
  database) form one counterparty, however many numbers it rotates through::

      counterparties:
        "XX 贷款 (collector for YY app)": ["+8613800000001", "13800000002"]

- every other number is a counterparty of its own (two spellings of one number are one:
  ``same_number``);
- calls and messages with no number form one counterparty per jurisdiction.

A lender whose numbers are judged under two jurisdictions (a spoofed +1 number among
Chinese ones, with nothing in ``numbers.yaml`` placing it) is split by jurisdiction: one
report never mixes two countries' rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..calls.jurisdiction import same_number, user_file_for
from ..calls.numbers import canonical
from .data import ReportData, ReportError, Scope

LABELS_KEY = "counterparties"


@dataclass
class Counterparty:
    jurisdiction: str
    label: str | None = None  # the lender as named in numbers.yaml
    numbers: list[str] = field(default_factory=list)  # empty: calls and messages with no number

    def scope(self, base: Scope, name: str | None = None) -> Scope:
        """``base`` (its dates) narrowed to this counterparty."""
        return Scope(numbers=list(self.numbers), date_from=base.date_from, date_to=base.date_to,
                     name=name or self.label, unnumbered=not self.numbers,
                     only_jurisdiction=self.jurisdiction)

    def title(self, no_number: str = "no number") -> str:
        if self.label:
            return self.label
        return ", ".join(self.numbers) if self.numbers else f"{no_number} ({self.jurisdiction})"


def lender_labels(db_path: Path | str | None) -> dict[str, list[str]]:
    """``counterparties:`` of the ``numbers.yaml`` beside the database: label -> numbers."""
    path = user_file_for(db_path)
    if path is None or not path.is_file():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ReportError(f"{path}: not valid YAML: {e}") from e
    table = doc.get(LABELS_KEY) if isinstance(doc, dict) else None
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ReportError(f"{path}: {LABELS_KEY}: expected a mapping of a lender's name "
                                "to its numbers")
    out = {}
    for label, numbers in table.items():
        numbers = [numbers] if isinstance(numbers, (str, int)) else numbers
        if not isinstance(numbers, list) or not numbers:
            raise ReportError(f"{path}: {LABELS_KEY}: {label}: expected a list of numbers")
        out[str(label).strip()] = [str(n).strip() for n in numbers]
    return out


def counterparties(data: ReportData, labels: dict[str, list[str]]) -> list[Counterparty]:
    """The counterparties in ``data``, each under one jurisdiction: lenders first (in the
    order of numbers.yaml), then single numbers, then the calls with no number."""
    groups: list[Counterparty] = []

    def group_of(number: str, jurisdiction: str) -> Counterparty:
        label = next((lab for lab, nums in labels.items()
                      if any(same_number(number, n) for n in nums)), None)
        for g in groups:
            if g.jurisdiction != jurisdiction or (g.label or None) != label or not g.numbers:
                continue
            if label is not None or any(same_number(number, n) for n in g.numbers):
                return g
        g = Counterparty(jurisdiction, label)
        groups.append(g)
        return g

    for number, jurisdiction, _ in data.number_jurisdictions:
        if number:
            g = group_of(number, jurisdiction)
            if not any(same_number(number, n) for n in g.numbers):  # one line, one entry
                g.numbers.append(canonical(number) or number)
    unnumbered = list(dict.fromkeys(
        [r.jurisdiction for r in data.recordings if not r.phone_number]
        + [m.jurisdiction for m in data.messages if not m.phone_number]))
    groups += [Counterparty(j) for j in unnumbered]
    order = list(labels)
    return sorted(groups, key=lambda g: (not g.numbers, g.label is None,
                                         order.index(g.label) if g.label in order else 0,
                                         g.numbers, g.jurisdiction))
