"""What the report treats as context and how it ranks severity: shared by the call
findings (``data``) and the message findings (``messages``), which ``data`` loads, so
neither module holds a copy of the other's rules."""

from __future__ import annotations

from collections.abc import Iterable

# Categories that are context, not possible violations: a borrower's request to
# stop is shown in its own list; ``identification`` is never stored as a finding.
CONTEXT_CATEGORIES = {"stop_request"}
# Findings about the call's opening as a whole (nothing heard), not about one sentence.
OPENING_CATEGORIES = {"identity"}
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def worst(severities: Iterable[str]) -> str:
    """The most severe of ``severities`` (an unknown one counts least)."""
    return min(severities, key=lambda s: SEVERITY_ORDER.get(s, 9))
