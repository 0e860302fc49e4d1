"""Per-recording answers for a page's cells, looked up once and kept for a moment.

A page of 100 findings from a few calls asks about the same recordings again and
again: the call (time, number, file), its sentences, and the law that judges it.
Each answer is kept for ``TTL_S`` seconds, so a page costs about one query per
recording, and a change (a re-run, an edited ``numbers.yaml``) shows within seconds.

The law is decided exactly as the report decides it (``pipeline/calls/jurisdiction.py``):
the number's jurisdiction from ``numbers.yaml`` beside the database, the country
code, the last run's ``--jurisdiction``, else CN; then only that jurisdiction's
verified citations, in force on the call's day (``shown_citations``).  So the
browser never shows law the report leaves out (issue 14: an English call with no
number showed FDCPA, Regulation F and FCA CONC; a Mandarin call showed US law).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..calls.jurisdiction import JurisdictionError, NumberRules, rules_for_database, shown_citations
from . import labels

TTL_S = 2.0
MAX_ENTRIES = 2000
_CACHE: dict[tuple, tuple[float, object]] = {}


async def _cached(key: tuple, compute: Callable[[], Awaitable[object]]) -> object:
    hit = _CACHE.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    value = await compute()
    if len(_CACHE) > MAX_ENTRIES:
        _CACHE.clear()
    _CACHE[key] = (time.monotonic() + TTL_S, value)
    return value


def citation_items(value) -> list[dict]:
    """A stored ``citations`` cell (JSON text or a list) as a list of dicts; junk is none."""
    try:
        items = json.loads(value) if isinstance(value, str) else (value or [])
    except ValueError:
        return []
    return [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []


@dataclass(frozen=True)
class CallLaw:
    """Whose rules judge one call, why, and the call's day (for provisions with an end date).

    ``jurisdiction`` is None when it cannot be told (``error`` says why, e.g. a broken
    ``numbers.yaml``): then no citation is shown, as the report would refuse to run."""

    jurisdiction: str | None
    reason: str
    call_time: str | None
    error: str | None = None

    def shown(self, citations) -> list[dict]:
        """The citations of a finding that this call's page shows (the report's rule)."""
        return shown_citations(citation_items(citations), self.jurisdiction, self.call_time,
                               labels.known_citations())


async def recording(datasette, db: str, rid: str) -> dict:
    """The call's time, number, file name, language, and (schema 6) contact and direction
    ({} for an unknown recording).  ``*``: a database not yet opened by schema 6 has no
    contact or direction column, and must still show."""
    async def compute():
        row = (await datasette.get_database(db).execute(
            "select * from recordings where id = ?", [rid])).first()
        return dict(row) if row else {}

    return await _cached((id(datasette), db, "recording", rid), compute)  # type: ignore[return-value]


async def sentences(datasette, db: str, rid: str) -> dict:
    """Segment id -> (start, end) for one recording."""
    async def compute():
        return {r[0]: (r[1], r[2]) for r in await datasette.get_database(db).execute(
            'select id, start, "end" from segments where recording_id = ?', [rid])}

    return await _cached((id(datasette), db, "segments", rid), compute)  # type: ignore[return-value]


async def run_detection(datasette, db: str, run_id) -> str | None:
    """How a run detected (``runs.detection``): rules alone, or with the meaning layer."""
    if run_id is None:
        return None

    async def compute():
        try:
            row = (await datasette.get_database(db).execute(
                "select detection from runs where id = ?", [run_id])).first()
        except sqlite3.OperationalError:  # a database older than schema 5 has no such column
            return None
        return row[0] if row else None

    return await _cached((id(datasette), db, "run", run_id), compute)  # type: ignore[return-value]


async def number_rules(datasette, db: str) -> NumberRules | JurisdictionError:
    """The database's per-number rules (its numbers.yaml and last run), or the error that
    a malformed numbers.yaml gives."""
    async def compute():
        database = datasette.get_database(db)
        path = None if database.is_memory else database.path

        def load(conn):
            try:
                return rules_for_database(path, conn)
            except JurisdictionError as e:
                return e

        return await database.execute_fn(load)

    return await _cached((id(datasette), db, "rules"), compute)  # type: ignore[return-value]


async def call_law(datasette, db: str, number: str | None, call_time: str | None,
                   language: str | None = None) -> CallLaw:
    """The law of a call from ``number`` at ``call_time`` (a message's too); ``language``:
    the call's, which decides only when no number does and nobody chose."""
    rules = await number_rules(datasette, db)
    if isinstance(rules, JurisdictionError):
        return CallLaw(None, "", call_time, str(rules))
    verdict = rules.judge(number or None, language)
    return CallLaw(verdict.jurisdiction, verdict.reason, call_time)


async def recording_law(datasette, db: str, rid: str) -> CallLaw:
    """The law of one recorded call, resolved once per recording."""
    async def compute():
        rec = await recording(datasette, db, rid)
        return await call_law(datasette, db, rec.get("phone_number"), rec.get("call_time"),
                              rec.get("language"))

    return await _cached((id(datasette), db, "law", rid), compute)  # type: ignore[return-value]
