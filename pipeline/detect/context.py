"""A call or a message thread is judged as a whole, not sentence by sentence.

Why: in a real call most sentences that carry the threat carry no debt word of their own
("你等着，今晚就有人去找你"), yet the talk around them is plainly about a debt; and a
threat comes in a run, so a sentence between two threatening ones is worth more attention
than the same words in small talk.  Three things, all cheap (no extra embedding):

* ``thread_cues``: one word of collection talk anywhere in a conversation meets the
  "collection talk" condition for every sentence in it;
* ``context_scores``: each judged sentence's score is raised toward its strongest judged
  neighbour's (the sentence just before and just after in the same conversation), by
  ``neighbour_weight`` of the gap; never lowered, and (``combine``) never used for a
  sentence the layer reads as plainly not abuse;
* ``drop_borrower_side``: where the speakers are known (stereo channels, ``--diarize``),
  the side that reads as the borrower's (asks to stop, names no institution, says
  nothing abusive) is never a collector's abuse: abuse findings and listen suggestions in
  its speech are left out; stop requests and legal claims stay.
"""

from __future__ import annotations

from collections import defaultdict

from .combine import has_cue
from .findings import Finding, TimedText
from .meaning import Policy

# The collector's side must out-weigh the other by this much before either is called the
# borrower's: one identification or stop request is worth 2, an abuse finding 1.
SIDE_MARGIN = 1.0


def thread_cues(utterances: list[TimedText], keys: list[object], policy: Policy) -> list[bool]:
    """Per utterance: does its conversation use a word of collection talk anywhere?"""
    talk: dict[object, bool] = defaultdict(bool)
    for u, k in zip(utterances, keys, strict=True):
        if not talk[k] and has_cue(u, policy):
            talk[k] = True
    return [talk[k] for k in keys]


def context_scores(keys: list[object], scores: dict[int, float], weight: float) -> dict[int, float]:
    """Scores with their neighbours: ``s + weight * max(0, best neighbour - s)``.

    Neighbours are the nearest judged sentences before and after in the same conversation
    (sentences not judged, small talk, are skipped over).
    """
    if weight <= 0:
        return dict(scores)
    order: dict[object, list[int]] = defaultdict(list)
    for i in sorted(scores):
        order[keys[i]].append(i)
    out: dict[int, float] = {}
    for seq in order.values():
        for n, i in enumerate(seq):
            near = [scores[seq[m]] for m in (n - 1, n + 1) if 0 <= m < len(seq)]
            best = max(near, default=0.0)
            out[i] = scores[i] + weight * max(0.0, best - scores[i])
    return out


def borrower_speaker(speakers: set[str], findings: list[Finding], abuse_categories: list[str]
                     ) -> str | None:
    """The speaker who reads as the borrower, where two are known and the evidence is clear.

    Evidence that a side is the collector's: an identification ("我是XX平台的", "calling
    on behalf of"), 2 each; an abuse finding, 1 each (listen suggestions 0.5).  A stop request
    ("别再打了", "stop calling me") is the borrower's, -2 each.
    """
    weight: dict[str, float] = dict.fromkeys(speakers, 0.0)
    for f in findings:
        if f.speaker not in weight:
            continue
        if f.category == "identification":
            weight[f.speaker] += 2.0
        elif f.category == "stop_request":
            weight[f.speaker] -= 2.0
        elif f.category in abuse_categories:
            weight[f.speaker] += 1.0 if f.tier == "finding" else 0.5
    ranked = sorted(weight, key=lambda s: (weight[s], s))
    if len(ranked) < 2:
        return None
    low, high = ranked[0], ranked[-1]
    return low if weight[high] - weight[low] >= SIDE_MARGIN and weight[high] > 0 else None


def drop_borrower_side(utterances: list[TimedText], findings: list[Finding],
                       abuse_categories: list[str]) -> list[Finding]:
    """Leave out abuse found in the borrower's own speech (when the speakers are known)."""
    speakers = {u.speaker for u in utterances if u.speaker}
    if len(speakers) < 2:
        return findings
    borrower = borrower_speaker(speakers, findings, abuse_categories)
    if borrower is None:
        return findings
    return [f for f in findings if not (f.speaker == borrower and f.category in abuse_categories)]
