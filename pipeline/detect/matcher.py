"""Match rule patterns on timed text and place each hit on the audio timeline.

Matching runs on a normalised copy of the text built word by word, so every
character of a match maps back to the Whisper word it came from and hence to
a start/end time that can be played and cut as a clip.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from .. import textnorm
from .combine import combine, could_stand_alone
from .context import context_scores, drop_borrower_side, thread_cues
from .findings import REVIEW_NOTE, Finding, TimedText, TimedWord  # noqa: F401 (public names)
from .meaning import MeaningLayer, MeaningUnavailable, shared_meaning
from .quote import quote_around, quote_in_text, word_spans
from .rules import CLAUSE_BREAK, RulePack, load_rules

NEGATION_WINDOW = 12  # characters before a match searched for a negation
# Bounds for pathological input (a 1 MB "message", the same word 500,000 times): real
# utterances are a few hundred characters; findings past these add nothing a reviewer can use.
MAX_SCAN_CHARS = 50_000  # an utterance is scanned in its first 50,000 characters
MAX_HITS_PER_RULE = 25  # findings of one rule in one utterance
SOUND_CONFIDENCE = 0.6  # a match found only by pronunciation is less certain
SOUND_NOTE = "matched by pronunciation (the transcript may have misheard the words)"


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


def _clause(breaks: list[int], length: int, start: int, end: int) -> tuple[int, int]:
    """The clause around text[start:end], from the sorted positions of clause marks.

    Found by bisection, not by walking the text: a line with thousands of matches and no
    punctuation (junk, a pasted export) must not cost the square of its length.
    """
    i = bisect.bisect_left(breaks, start)
    a = breaks[i - 1] + 1 if i > 0 else 0
    j = bisect.bisect_left(breaks, end)
    b = breaks[j] if j < len(breaks) else length
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
    """Applies a rule pack, and the meaning layer when it loads, to utterances.

    ``meaning="auto"`` loads the bundled meaning layer (``pipeline/detect/meaning.py``);
    when it cannot load, detection runs on rules alone and ``meaning_notice`` says why in
    one line, for the run summary and the ``runs`` table.  ``meaning=None`` is rules only.
    Stateless after construction.
    """

    def __init__(self, pack: RulePack | None = None, rule_paths: list[Path] | None = None,
                 meaning: MeaningLayer | str | None = "auto"):
        self.pack = pack or load_rules(rule_paths)
        self.meaning_notice: str | None = None
        if meaning == "auto":
            try:
                meaning = shared_meaning()
            except MeaningUnavailable as e:
                meaning, self.meaning_notice = None, f"meaning layer off ({e}); detection used rules only"
        self.meaning: MeaningLayer | None = meaning if isinstance(meaning, MeaningLayer) else None

    def describe(self) -> str:
        """What detected, for the run record: rules alone, or rules and the meaning layer."""
        if self.meaning is None:
            return "rules only" + (f" ({self.meaning_notice})" if self.meaning_notice else "")
        return f"rules + {self.meaning.describe()}"

    def detect_one(self, u: TimedText) -> list[Finding]:
        return self.detect([u])

    def rule_findings(self, u: TimedText) -> list[Finding]:
        """What the rules alone find in one utterance."""
        text, owners = _folded_with_map(u)
        text, owners = text[:MAX_SCAN_CHARS], owners[:MAX_SCAN_CHARS]
        sounds = textnorm.sound_key(text) if textnorm.has_cjk(text) else None
        breaks = [k for k, c in enumerate(text) if c in CLAUSE_BREAK]
        findings: list[Finding] = []
        taken: dict[str, list[tuple[int, int]]] = {}
        cancelled: dict[str, bool] = {}
        for rule in self.pack.rules:
            if not _language_ok(rule.language, text, u.language):
                continue
            passes = [(rule.patterns, text, False)]
            if sounds is not None and rule.sound_patterns:
                passes.append((rule.sound_patterns, sounds, True))
            for patterns, haystack, by_sound in passes:
                sources = rule.sound_sources if by_sound else rule.sources
                for k, pattern in enumerate(patterns):
                    for m in pattern.finditer(haystack):
                        if len(taken.get(rule.id, ())) >= MAX_HITS_PER_RULE:
                            break
                        s, e = m.span()
                        if e <= s or (by_sound and self._excluded(text[s:e])):
                            continue
                        if not self._accept(rule, text, breaks, s, e, taken, cancelled):
                            continue
                        f = self._finding(u, rule, text, owners, s, e, by_sound)
                        f.pattern = sources[k] if k < len(sources) else None
                        findings.append(f)
        return findings

    def _excluded(self, matched: str) -> bool:
        """Everyday words that sound like a trigger word (老来 ~ 老赖) never match by sound."""
        return any(w in matched for w in self.pack.sound_exclusions)

    def _accept(self, rule, text: str, breaks: list[int], s: int, e: int, taken: dict,
                cancelled: dict[str, bool]) -> bool:
        """Filter a raw match: overlap with an earlier hit, negation, reported speech, question."""
        spans = taken.setdefault(rule.id, [])
        if any(s < b and a < e for a, b in spans):
            return False  # same rule, overlapping hit: one finding
        ca, cb = _clause(breaks, len(text), s, e)
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
        if rule.unless:  # context that cancels the rule: looked for once per rule and text
            if rule.id not in cancelled:
                cancelled[rule.id] = any(p.search(text) for p in rule.unless)
            if cancelled[rule.id]:
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

    def detect(self, utterances: list[TimedText], threads: list[object] | None = None) -> list[Finding]:
        """Findings (and listen suggestions) for a batch, in order: a recording's segments,
        a message export.  ``threads`` gives each utterance's conversation (a message's
        number); by default the batch is one conversation (a call).

        The meaning layer embeds the whole batch once, so a recording costs one pass.  A
        conversation is judged as a whole (``context.py``): a collection word anywhere in it
        counts for every sentence, neighbours' scores enter each judgement, and where the
        speakers are known the borrower's side is never a collector's abuse.
        """
        hits = [self.rule_findings(u) for u in utterances]
        if self.meaning is None:
            return [f for fs in hits for f in fs]
        policy = self.meaning.policy
        keys = threads if threads is not None else [None] * len(utterances)
        cue = thread_cues(utterances, keys, policy)
        # Only sentences whose judgement can change something are embedded: those with an
        # abuse-category rule hit, and those that could be found by meaning alone (long
        # enough, and in collection talk when the policy asks for it).
        todo = [i for i, (u, fs) in enumerate(zip(utterances, hits, strict=True))
                if any(f.category in policy.abuse_categories for f in fs)
                or could_stand_alone(u, policy, cue[i])]
        judged = dict(zip(todo, self.meaning.judge([utterances[i].text for i in todo]), strict=True))
        ctx = context_scores(keys, {i: j.abuse for i, j in judged.items()}, policy.neighbour_weight)
        out: list[Finding] = []
        for i, (u, fs) in enumerate(zip(utterances, hits, strict=True)):
            out += (combine(u, fs, judged[i], policy, self._category_citations, cue[i], ctx.get(i))
                    if i in judged else fs)
        return drop_borrower_side(utterances, out, policy.abuse_categories)

    def _category_citations(self, category: str, language: str) -> list[dict]:
        """Citations for a finding no rule made: those of the rules of its category."""
        seen: dict[str, dict] = {}
        for r in self.pack.rules:
            if r.category == category and r.language in (None, language):
                for c in r.citations:
                    seen.setdefault(c.get("id", str(c)), c)
        return list(seen.values())
