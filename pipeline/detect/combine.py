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
* a sentence scoring below ``alone_at`` but at least ``listen_at`` is a *listen
  suggestion* (``tier="listen"``, 值得复听): one per sentence, for the to-review queue, never
  the report unless a person confirms it;
* a call or message thread is judged as a whole (``detect`` passes ``thread_cue`` and the
  context score): one collection word anywhere in it meets the "collection talk" condition
  for every sentence, and a sentence's score is raised toward its strongest neighbour's;
* the category of a meaning-found sentence is first the one its own words name
  (``category_words``: "all your contacts" is third party), then the head's best, and its
  severity is the category's (``severity_by_category``), not the score's;
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
LISTEN_NOTE = ("worth a listen (值得复听), not a finding: the meaning layer ranks this sentence as "
               "possibly {cat} (score {score:.2f}), below the finding bar; it reaches a report only "
               "if a reviewer confirms it")
MAX_MEANING_CATEGORIES = 2


def _language(u: TimedText) -> str:
    if u.language in ("zh", "yue") or has_cjk(u.text):
        return "zh"
    return "en"


def has_cue(u: TimedText, policy: Policy) -> bool:
    """Whether the sentence itself uses a word of collection talk."""
    return policy.has_cue(prepare(u.text or ""), _language(u))


def could_stand_alone(u: TimedText, policy: Policy, thread_cue: bool = False) -> bool:
    """Whether a sentence with no rule hit could become a finding found by meaning: long
    enough, and in collection talk where the policy asks for it (a word of its own, or one
    anywhere in its call or thread: ``thread_cue``).  Sentences that could not are not
    embedded at all (most of an ordinary call's small talk)."""
    lang = _language(u)
    text = (u.text or "").strip()
    if lang not in policy.alone_at or len(text) < policy.min_chars.get(lang, 0):
        return False
    return thread_cue or not policy.alone_needs_cue.get(lang) or policy.has_cue(prepare(text), lang)


def meaning_categories(u: TimedText, j: Judgement, policy: Policy) -> list[str]:
    """The abuse categories a person would give the sentence: those its words name, then the
    head's best; at most ``MAX_MEANING_CATEGORIES``."""
    ranked = policy.worded_categories(prepare(u.text or ""), _language(u)) + j.top(policy.category_floor)
    out: list[str] = []
    for c in ranked:
        if c in policy.abuse_categories and c not in out:
            out.append(c)
    if not out:  # the head's best abuse category, even below the floor
        out = [c for c, _ in sorted(j.categories.items(), key=lambda kv: -kv[1])
               if c in policy.abuse_categories][:1]
    return out[:MAX_MEANING_CATEGORIES]


def combine(u: TimedText, hits: list[Finding], j: Judgement, policy: Policy,
            citations_for: Callable[[str, str], list[dict]], thread_cue: bool = False,
            context_score: float | None = None) -> list[Finding]:
    """The findings that stand for one utterance, given its rule hits and its judgement.

    Rule hits are vetoed on the sentence's own score; the meaning-alone tiers use
    ``context_score`` (the score with its neighbours, from ``detect``) when given.
    """
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
        elif j.abuse < policy.veto_for(f.category):
            continue
        else:
            f.method = "rule+meaning"
        f.score = score
        kept.append(f)
    if any(f.category in policy.abuse_categories for f in kept):
        return kept
    lang = _language(u)
    text = (u.text or "").strip()
    alone = policy.alone_at.get(lang, 1.01)
    listen = min(policy.listen_at.get(lang, alone), alone)
    # Neighbours lift a sentence the layer already half suspects, never one it reads as
    # plainly not abuse (below half the listen bar on its own): a bill reminder next to a
    # threat is still a bill reminder.
    lift = context_score is not None and j.abuse >= listen / 2
    s = max(j.abuse, context_score) if lift else j.abuse
    if s < listen or not could_stand_alone(u, policy, thread_cue):
        return kept
    tier = "finding" if s >= alone else "listen"
    start = u.words[0].start if u.words else u.start
    end = u.words[-1].end if u.words else u.end
    probs = [w.probability for w in u.words if w.probability is not None]
    asr = sum(probs) / len(probs) if probs else 1.0
    cats = meaning_categories(u, j, policy)
    for cat in cats if tier == "finding" else cats[:1]:
        note = (MEANING_NOTE if tier == "finding" else LISTEN_NOTE).format(cat=cat, score=s)
        kept.append(Finding(
            rule_id=f"MEANING_{cat.upper()}", category=cat, severity=policy.severity_of(cat),
            matched_text=text, quote=text, start=start, end=end,
            confidence=round(asr * s, 3), speaker=u.speaker,
            citations=citations_for(cat, lang), ref=u.ref,
            note=f"{REVIEW_NOTE}; {note}", method="meaning", score=round(s, 3), tier=tier))
    return kept
