"""Match rule patterns on timed text and place each hit on the audio timeline.

Matching runs on a normalised copy of the text built word by word, so every
character of a match maps back to the Whisper word it came from and hence to
a start/end time that can be played and cut as a clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import textnorm
from .quote import quote_around, quote_in_text, word_spans
from .rules import CLAUSE_BREAK, RulePack, load_rules

REVIEW_NOTE = "possible violation — for human review"
NEGATION_WINDOW = 12  # characters before a match searched for a negation
SOUND_CONFIDENCE = 0.6  # a match found only by pronunciation is less certain
SOUND_NOTE = "matched by pronunciation (the transcript may have misheard the words)"


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


def _folded_with_map(u: TimedText) -> tuple[str, list[int]]:
    """Folded text and, per character, the index of the word it came from (-1: none).

    Spaces between two Chinese characters are dropped: Whisper (and people
    typing SMS) often space Chinese words apart, which would break phrases.
    """
    if not u.words:
        text = textnorm.fold(u.text)
        owners = [-1] * len(text)
    else:
        parts, owners = [], []
        for i, w in enumerate(u.words):
            f = textnorm.fold(w.text)
            parts.append(f)
            owners += [i] * len(f)
        text = "".join(parts)
    keep = [not (c.isspace() and 0 < k < len(text) - 1 and textnorm.has_cjk(text[k - 1])
                 and textnorm.has_cjk(text[k + 1]))
            for k, c in enumerate(text)]
    if all(keep):
        return text, owners
    return ("".join(c for c, ok in zip(text, keep, strict=True) if ok),
            [o for o, ok in zip(owners, keep, strict=True) if ok])


def _quote(u: TimedText, text: str, idx: list[int], s: int, e: int) -> str:
    """The match's sentence in the words as transcribed, cut only between words (quote.py)."""
    if u.words and idx:
        source, spans = word_spans([w.text for w in u.words])
        return quote_around(source, spans[idx[0]][0], spans[idx[-1]][1], spans)
    return quote_in_text(u.text, text, s, e)


def _clause(text: str, start: int, end: int) -> tuple[int, int]:
    a = start
    while a > 0 and text[a - 1] not in CLAUSE_BREAK:
        a -= 1
    b = end
    while b < len(text) and text[b] not in CLAUSE_BREAK:
        b += 1
    return a, b


def _language_ok(rule_lang: str | None, text: str, lang: str | None) -> bool:
    if rule_lang is None:
        return True
    if rule_lang == "zh":
        return textnorm.has_cjk(text)
    if rule_lang == "en":
        return lang in (None, "en") or not textnorm.has_cjk(text)
    return lang in (None, rule_lang)


class Detector:
    """Applies a rule pack to utterances.  Stateless after construction."""

    def __init__(self, pack: RulePack | None = None, rule_paths: list[Path] | None = None):
        self.pack = pack or load_rules(rule_paths)

    def detect_one(self, u: TimedText) -> list[Finding]:
        text, owners = _folded_with_map(u)
        sounds = textnorm.sound_key(text) if textnorm.has_cjk(text) else None
        findings: list[Finding] = []
        taken: dict[str, list[tuple[int, int]]] = {}
        for rule in self.pack.rules:
            if not _language_ok(rule.language, text, u.language):
                continue
            passes = [(rule.patterns, text, False)]
            if sounds is not None and rule.sound_patterns:
                passes.append((rule.sound_patterns, sounds, True))
            for patterns, haystack, by_sound in passes:
                for pattern in patterns:
                    for m in pattern.finditer(haystack):
                        s, e = m.span()
                        if e <= s or (by_sound and self._excluded(text[s:e])):
                            continue
                        if not self._accept(rule, text, s, e, taken):
                            continue
                        findings.append(self._finding(u, rule, text, owners, s, e, by_sound))
        return findings

    def _excluded(self, matched: str) -> bool:
        """Everyday words that sound like a trigger word (老来 ~ 老赖) never match by sound."""
        return any(w in matched for w in self.pack.sound_exclusions)

    def _accept(self, rule, text: str, s: int, e: int, taken: dict) -> bool:
        """Filter a raw match: overlap with an earlier hit, negation, reported speech, question."""
        spans = taken.setdefault(rule.id, [])
        if any(s < b and a < e for a, b in spans):
            return False  # same rule, overlapping hit: one finding
        ca, cb = _clause(text, s, e)
        # the window runs into the match: "不会让您转到个人账户" may match from "会"
        # by sound, and a gap pattern may hold the negation ("银行卡不会被冻结")
        before = text[max(ca, s - NEGATION_WINDOW):e]
        rhetorical = any(r.lower() in text[ca:s] for r in self.pack.rhetorical)
        if rule.use_negations and not rhetorical and any(
                n.lower() in before for n in self.pack.negations + rule.negations):
            return False
        if any(r.lower() in text[ca:s] for r in self.pack.reported_speech):
            return False
        if rule.skip_questions and not rhetorical and text[cb:cb + 1] in ("?", "？"):
            return False
        if any(p.search(text) for p in rule.unless):
            return False
        spans.append((s, e))
        return True

    def _finding(self, u, rule, text, owners, s, e, by_sound: bool = False) -> Finding:
        idx = sorted({owners[i] for i in range(s, e) if owners[i] >= 0})
        if idx:
            words = [u.words[i] for i in idx]
            start, end = words[0].start, words[-1].end
            probs = [w.probability for w in words if w.probability is not None]
            conf = sum(probs) / len(probs) if probs else None
        else:
            start, end, conf = u.start, u.end, None
        if by_sound:
            conf = (conf if conf is not None else 1.0) * SOUND_CONFIDENCE
        conf = round(conf, 3) if conf is not None else None
        quote = _quote(u, text, idx, s, e)
        return Finding(
            rule_id=rule.id,
            category=rule.category,
            severity=rule.severity,
            matched_text=text[s:e].strip(),
            quote=quote,
            start=start,
            end=end,
            confidence=conf,
            speaker=u.speaker,
            citations=rule.citations,
            ref=u.ref,
            note=f"{REVIEW_NOTE}; {SOUND_NOTE}" if by_sound else REVIEW_NOTE,
            by_sound=by_sound,
        )

    def detect(self, utterances: list[TimedText]) -> list[Finding]:
        out: list[Finding] = []
        for u in utterances:
            out += self.detect_one(u)
        return out
