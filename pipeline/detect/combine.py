"""Rules and meaning together: which rule hits stand, and what the meaning layer adds.

The policy (thresholds in ``pipeline/data/meaning/policy.yaml``):

* a rule hit in an abuse category stands unless the meaning layer is confident the
  sentence is not directed abuse (``rule_veto_below``): a journalist's "催收员威胁要上门",
  a reassurance, news;
* a hit found only by pronunciation (统计 ~ 通缉, 大使 ~ 打死) never stands alone: it
  needs the meaning layer to agree (``sound_needs``);
* a sentence no rule matched becomes a finding, "found by meaning", when its score is at
  least ``alone_at`` for its language; it spans the whole sentence, and its categories
  are the head's best ones;
* categories that are not abuse (``legal_claim``, ``stop_request``, the identification
  signal) are left to the rules.

Every finding says why it stands: ``method``, ``pattern`` and ``score``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..textnorm import has_cjk
from .findings import REVIEW_NOTE, Finding, TimedText
from .meaning import Judgement, Policy, prepare

MEANING_NOTE = "found by meaning: no rule matched; the sentence as a whole reads as {cat} (score {score:.2f})"
MAX_MEANING_CATEGORIES = 2


def _language(u: TimedText) -> str:
    if u.language in ("zh", "yue") or has_cjk(u.text):
        return "zh"
    return "en"


def could_stand_alone(u: TimedText, policy: Policy) -> bool:
    """Whether a sentence with no rule hit could become a finding found by meaning: long
    enough, and using a word of collection talk where the policy asks for one.  Sentences
    that could not are not embedded at all (most of an ordinary call's small talk)."""
    lang = _language(u)
    text = (u.text or "").strip()
    if lang not in policy.alone_at or len(text) < policy.min_chars.get(lang, 0):
        return False
    return not policy.alone_needs_cue.get(lang) or policy.has_cue(prepare(text), lang)


def combine(u: TimedText, hits: list[Finding], j: Judgement, policy: Policy,
            citations_for: Callable[[str, str], list[dict]]) -> list[Finding]:
    """The findings that stand for one utterance, given its rule hits and its judgement."""
    score = round(j.abuse, 3)
    kept: list[Finding] = []
    for f in hits:
        if f.category not in policy.abuse_categories:
            kept.append(f)
            continue
        if f.by_sound:
            if j.abuse < policy.sound_needs:
                continue
            f.method = "sound+meaning"
        elif j.abuse < policy.rule_veto_below:
            continue
        else:
            f.method = "rule+meaning"
        f.score = score
        kept.append(f)
    if any(f.category in policy.abuse_categories for f in kept):
        return kept
    lang = _language(u)
    text = (u.text or "").strip()
    if j.abuse < policy.alone_at.get(lang, 1.01) or not could_stand_alone(u, policy):
        return kept
    start = u.words[0].start if u.words else u.start
    end = u.words[-1].end if u.words else u.end
    probs = [w.probability for w in u.words if w.probability is not None]
    asr = sum(probs) / len(probs) if probs else 1.0
    for cat in j.top(policy.category_floor)[:MAX_MEANING_CATEGORIES]:
        if cat not in policy.abuse_categories:
            continue
        kept.append(Finding(
            rule_id=f"MEANING_{cat.upper()}", category=cat, severity=policy.severity,
            matched_text=text, quote=text, start=start, end=end,
            confidence=round(asr * j.abuse, 3), speaker=u.speaker,
            citations=citations_for(cat, lang), ref=u.ref,
            note=f"{REVIEW_NOTE}; " + MEANING_NOTE.format(cat=cat, score=j.abuse),
            method="meaning", score=score))
    return kept
