"""Why a finding was flagged, in words a borrower reads (issue 13).

Detection stores three facts with every finding (schema 5, ``pipeline/store.py``):
``method`` (``rule``, ``rule+meaning``, ``sound+meaning``, ``meaning``), ``pattern`` (the
rule's pattern as written in the rule file) and ``score`` (the meaning layer's abuse score
for the sentence); the run that made it says in ``runs.detection`` whether the meaning
layer ran.  Each reader words them from its own labels, like ``reviewers.describe``: the
browser in both languages (``pipeline/data/browse_labels.yaml``), each report wholly in
its language (``pipeline/data/report_labels.yaml``), from the same templates' keys:

- ``rule`` / ``sound`` / ``call``: how the rule matched (its words, by sound, or a finding
  about the call as a whole, such as no identification in the opening);
- ``pattern``: the pattern, in brackets (left out when there is none, or on request);
- ``agreed`` / ``meaning_off`` / ``not_judged`` / ``alone``: what the meaning check said, or why it
  said nothing (the run had it off; the category is left to the rules; unknown);
- ``sound_warning``: a match by pronunciation, which the recording may not bear out;
- ``meaning``: no rule matched, the whole sentence reads as a category;
- ``badge``: a short marker for lists, one per kind (the score goes beside it).

Data only: nothing here reads a database or loads a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from .detect.matcher import SOUND_NOTE

METHODS = ("rule", "rule+meaning", "sound+meaning", "meaning")
# kinds: the four methods, plus "sound" (a sound-alike match kept by rules alone, when the
# meaning layer was off) -- the reader is warned the same way.
KINDS = ("rule", "sound", "rule+meaning", "sound+meaning", "meaning")
PATTERN_SHORT = 40  # a pattern longer than this is cut in a sentence (shown whole apart)


def kind(method: str | None, note: str | None = None) -> str:
    """One of ``KINDS`` for a stored finding; a database older than schema 5 has no
    method (every finding then came from the rules)."""
    m = (method or "rule").strip()
    if m in ("meaning", "rule+meaning", "sound+meaning"):
        return m
    return "sound" if SOUND_NOTE in (note or "") else "rule"


def meaning_ran(detection: str | None) -> bool | None:
    """Whether the run that made a finding had the meaning layer (``runs.detection``):
    None when the run did not say (an older database, or a finding with no run)."""
    text = (detection or "").strip().lower()
    if not text:
        return None
    if text.startswith("rules only"):
        return False
    return "meaning" in text


def short_pattern(pattern: str | None, limit: int = PATTERN_SHORT) -> str | None:
    if not pattern:
        return None
    return pattern if len(pattern) <= limit else pattern[:limit - 1] + "…"


@dataclass(frozen=True)
class Why:
    """What is known about why one finding was flagged."""

    method: str | None
    rule_id: str
    words: str | None  # the matched words (the whole sentence for a meaning finding)
    pattern: str | None
    score: float | None
    note: str | None = None
    meaning_ran: bool | None = None  # from the run's detection line

    @property
    def kind(self) -> str:
        return kind(self.method, self.note)

    @property
    def by_meaning(self) -> bool:
        return self.kind == "meaning"

    @property
    def by_sound(self) -> bool:
        return self.kind in ("sound", "sound+meaning")

    def score_text(self) -> str:
        return "" if self.score is None else f"{float(self.score):.2f}"

    def sentence(self, t: dict, category: str, pattern: bool | str = True) -> str:
        """The explanation in one language; ``t``: that language's ``why`` templates;
        ``category``: the finding's category name in that language; ``pattern``: False to
        leave the pattern out, "short" to cut a long one."""
        k, score = self.kind, self.score_text()
        if k == "meaning":
            return t["meaning"].format(category=category, score=score or "?")
        shown = self.pattern if pattern is True else short_pattern(self.pattern) if pattern else None
        pat = t["pattern"].format(pattern=shown) if shown else ""
        words = (self.words or "").strip()
        if not words:
            out = t["call"].format(rule=self.rule_id, pattern=pat)
        else:
            out = t["sound" if self.by_sound else "rule"].format(rule=self.rule_id, words=words,
                                                                 pattern=pat)
        if k in ("rule+meaning", "sound+meaning"):
            out += t["agreed"].format(score=score or "?")
        elif self.meaning_ran is False:
            out += t["meaning_off"]
        elif self.meaning_ran is True:
            out += t["not_judged"]
        else:
            out += t["alone"]
        if self.by_sound:
            out += t["sound_warning"]
        return out

    def badge(self, t: dict) -> str:
        """A short marker for a list ("found by meaning", "rule", "by sound"); the score,
        where there is one, goes beside it (``score_text``)."""
        return t["badge"][self.kind]
