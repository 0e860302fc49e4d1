"""The quote of a finding: its sentence, cut only at word boundaries.

A recipient reads the quote before anything else, so it must never start or
end inside a word ("ay, we will call your employer and tell yo").  The quote
is the whole sentence that holds the match, in the words as transcribed (not
the folded matching form).  A sentence longer than ``QUOTE_MAX_CHARS`` is
shortened around the match to whole units, with "…" where text was left out.

Units are the transcript's own words when known (Whisper's word list, so a
Chinese quote is never cut inside a word Whisper heard); without them,
whitespace-separated words, and for Chinese (which has no spaces) whole
clauses between punctuation marks.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .. import textnorm

QUOTE_MAX_CHARS = 100  # a sentence up to this long is quoted whole
ELLIPSIS = "…"
SENTENCE_END = "。！？!?\n"  # always end a sentence
SENTENCE_END_BEFORE_SPACE = ".…;；"  # end a sentence when followed by a space or the end
CLAUSE_MARKS = "，、；：,;:"  # where a Chinese sentence may be cut when no word list is known
_UNIT_RE = re.compile(rf"[^\s{re.escape(CLAUSE_MARKS)}]+[{re.escape(CLAUSE_MARKS)}]*"
                      rf"|[{re.escape(CLAUSE_MARKS)}]+")


def sentence_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence of ``text`` that holds ``[start, end)``, without surrounding spaces."""
    a = start
    while a > 0 and not _ends_sentence(text, a - 1):
        a -= 1
    b = max(end, start)
    if not (b > a and _ends_sentence(text, b - 1)):  # the match may end with the mark
        while b < len(text) and not _ends_sentence(text, b):
            b += 1
        b = min(len(text), b + 1)  # keep the sentence's own closing mark
    while b < len(text) and text[b] in "\"'”’」』）)":  # and a closing quote or bracket
        b += 1
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _ends_sentence(text: str, i: int) -> bool:
    c = text[i]
    if c in SENTENCE_END:
        return True
    if c in SENTENCE_END_BEFORE_SPACE:
        return i + 1 >= len(text) or text[i + 1].isspace()
    return False


def _units(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Cuttable units of ``text[a:b]`` when no word list is known."""
    return [(a + m.start(), a + m.end()) for m in _UNIT_RE.finditer(text[a:b])]


def quote_around(text: str, start: int, end: int,
                 words: list[tuple[int, int]] | None = None,
                 limit: int = QUOTE_MAX_CHARS) -> str:
    """The quote for a match at ``[start, end)`` of ``text``.

    ``words``: character spans of the transcript's words in ``text`` (from the
    engine's word list), in order; None when unknown (typed text, SMS).
    """
    start, end = max(0, start), min(len(text), max(start, end))
    a, b = sentence_span(text, start, end)
    if b - a <= limit:
        return text[a:b]
    if words:
        units = [(max(s, a), min(e, b)) for s, e in words if s < b and e > a]
        units = [(s, e) for s, e in units if text[s:e].strip()]
    else:
        units = _units(text, a, b)
    if not units:
        return text[a:b]
    # The units the match touches are always kept whole, however long.
    first = next((i for i, (s, e) in enumerate(units) if e > start), len(units) - 1)
    last = max((i for i, (s, e) in enumerate(units) if s < max(end, start + 1)), default=first)
    last = max(first, last)
    lo, hi = first, last
    grew = True
    while grew:  # widen one unit at a time, left and right in turn, while it fits
        grew = False
        if lo > 0 and units[hi][1] - units[lo - 1][0] <= limit:
            lo -= 1
            grew = True
        if hi < len(units) - 1 and units[hi + 1][1] - units[lo][0] <= limit:
            hi += 1
            grew = True
    s, e = units[lo][0], units[hi][1]
    body = text[s:e].strip()
    head = ELLIPSIS if text[a:s].strip() else ""
    tail = ELLIPSIS if text[e:b].strip() else ""
    if tail:  # "…上门找你，…" reads as "…上门找你…"
        body = body.rstrip(CLAUSE_MARKS + " ")
    return f"{head}{body}{tail}"


def word_spans(pieces: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join word texts (as the engine gave them, with their own spaces) and return
    the text and each word's span in it, leading and trailing spaces left out."""
    spans, pos = [], 0
    for p in pieces:
        lead = len(p) - len(p.lstrip())
        core = len(p.strip())
        spans.append((pos + lead, pos + lead + core))
        pos += len(p)
    return "".join(pieces), spans


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """One character folded; remembered, since a text repeats few distinct characters."""
    return textnorm.fold(ch)


def fold_map(text: str) -> tuple[str, list[int]]:
    """``text`` folded for matching one character at a time, and for each folded
    character the index of the original character it came from."""
    out, origin = [], []
    for i, ch in enumerate(text):
        f = _fold_char(ch)
        out.append(f)
        origin += [i] * len(f)
    return "".join(out), origin


@lru_cache(maxsize=4)
def _matching_map(original: str) -> tuple[str, list[int]]:
    """The matcher's form of ``original`` with its map back, made once per utterance:
    every finding in one utterance asks for it (up to 25 per rule on junk input, where
    remaking it for each cost minutes on a 1 MB line)."""
    return _without_cjk_spaces(*fold_map(original))


def _without_cjk_spaces(text: str, origin: list[int]) -> tuple[str, list[int]]:
    """Drop spaces between two Chinese characters, as the matcher does."""
    keep = [not (c.isspace() and 0 < k < len(text) - 1 and textnorm.has_cjk(text[k - 1])
                 and textnorm.has_cjk(text[k + 1])) for k, c in enumerate(text)]
    return ("".join(c for c, ok in zip(text, keep, strict=True) if ok),
            [o for o, ok in zip(origin, keep, strict=True) if ok])


def quote_in_text(original: str, matched_in: str, start: int, end: int) -> str:
    """The quote for a match at ``[start, end)`` of ``matched_in`` (the matcher's folded
    form of ``original``), taken from ``original`` itself when the positions map back."""
    folded, origin = _matching_map(original)
    if folded != matched_in or end <= start:
        return quote_around(matched_in, start, end)  # cannot map back: cut the folded form
    return quote_around(original, origin[start], origin[end - 1] + 1)


def opening(texts: list[str], limit: int = 2 * QUOTE_MAX_CHARS) -> str:
    """The first utterances of a call, whole, as many as fit in ``limit`` (at least one):
    the "quote" of a finding about the call's opening rather than about one sentence."""
    out: list[str] = []
    for t in (t.strip() for t in texts):
        if t and out and len(" ".join([*out, t])) > limit:
            return " ".join(out) + " " + ELLIPSIS
        if t:
            out.append(t)
    return " ".join(out)


def strip_ellipsis(quote: str) -> str:
    """The quoted words without the "…" marks this module adds."""
    return quote.strip().removeprefix(ELLIPSIS).removesuffix(ELLIPSIS).strip()
