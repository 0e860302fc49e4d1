"""What detection takes and gives: timed text in, findings out.

Kept apart from the matcher so that the rule matcher and the meaning layer's combination
step (``combine.py``) share these types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REVIEW_NOTE = "possible violation — for human review"


@dataclass
class TimedWord:
    start: float
    end: float
    text: str
    probability: float | None = None


@dataclass
class TimedText:
    """One utterance: a transcript segment, an SMS, a chat line."""

    text: str
    start: float | None = None
    end: float | None = None
    words: list[TimedWord] = field(default_factory=list)
    speaker: str | None = None
    language: str | None = None
    ref: object = None  # caller's handle (segment index, message id), returned untouched


@dataclass
class Finding:
    rule_id: str
    category: str
    severity: str
    matched_text: str
    quote: str
    start: float | None
    end: float | None
    confidence: float | None
    speaker: str | None
    citations: list[dict]
    ref: object = None
    note: str = REVIEW_NOTE
    by_sound: bool = False
    # why it was flagged: "rule" (rules alone), "rule+meaning" (a rule hit the meaning layer
    # agreed with), "sound+meaning" (a sound-alike hit it agreed with), "meaning" (no rule)
    method: str = "rule"
    pattern: str | None = None  # the rule's pattern as written in the rule file
    score: float | None = None  # the meaning layer's abuse score for the sentence
    # "finding": stands on its own (report, drafts, counts).  "listen": a listen suggestion
    # (值得复听 / worth a listen), ranked by the meaning layer below the finding bar; it
    # reaches the to-review queue only, until a person confirms it.
    tier: str = "finding"


TIERS = ("finding", "listen")
