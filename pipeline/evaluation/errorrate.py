"""Error rates for ``eval-asr``: the one normalisation, CER for Mandarin, WER for English.

Pure functions of text, no audio and no engines: what ``asr_report`` scores each
clip with, and what the tests pin down edit by edit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

CHAR_LANGUAGES = frozenset({"zh", "yue", "cmn", "ja"})  # scored per character (CER)

_SPEAKER_TAG = re.compile(r"\[\s*(?:s|spk|speaker)[\s_-]*\d+\s*\]", re.IGNORECASE)
_APOSTROPHES = "'\u2019\u02bc"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:['\u2019][A-Za-z]+)*")


def normalise(text: str) -> str:
    """The one scoring normalisation, for hypotheses and references alike.

    Removes ``[S1]``-style speaker tags, then every punctuation (Unicode ``P*``) and
    symbol (``S*``) character; apostrophes are dropped inside words ("don't" -> "dont"),
    every other punctuation or symbol separates words.  Whitespace is collapsed to
    single spaces (it only marks English word boundaries; Mandarin ignores it).
    Nothing else changes: no case folding here, no script conversion, no numbers.
    """
    text = _SPEAKER_TAG.sub(" ", text or "")
    out = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue
        cat = unicodedata.category(ch)
        out.append(" " if cat[0] in "PSZ" or ch.isspace() else ch)
    return " ".join("".join(out).split())


def is_char_language(language: str) -> bool:
    return language.lower().split("-")[0] in CHAR_LANGUAGES


def units(text: str, language: str) -> list[str]:
    """Scoring units: characters (Mandarin, whitespace removed) or lower-cased words."""
    norm = normalise(text)
    if is_char_language(language):
        return [c for c in norm if not c.isspace()]
    return norm.lower().split()


def metric_name(language: str) -> str:
    return "CER" if is_char_language(language) else "WER"


@dataclass(frozen=True)
class EditCounts:
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def total(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def edit_counts(ref: Sequence, hyp: Sequence) -> EditCounts:
    """Minimum edits turning ``ref`` into ``hyp`` (Levenshtein), split by kind.

    Among alignments of equal total cost, the one with the most substitutions (fewest
    insertions + deletions) is kept, as the usual WER tools do.
    """
    # each cell: (total, -substitutions, substitutions, deletions, insertions)
    prev = [(j, 0, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [(i, 0, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            t, _, s, d, n = prev[j - 1]
            if ref[i - 1] == hyp[j - 1]:
                best = (t, -s, s, d, n)
            else:
                best = (t + 1, -(s + 1), s + 1, d, n)
            t, _, s, d, n = prev[j]
            best = min(best, (t + 1, -s, s, d + 1, n))
            t, _, s, d, n = cur[j - 1]
            best = min(best, (t + 1, -s, s, d, n + 1))
            cur.append(best)
        prev = cur
    _, _, s, d, n = prev[-1]
    return EditCounts(s, d, n)


def levenshtein(ref: Sequence, hyp: Sequence) -> int:
    return edit_counts(ref, hyp).total


def error_rate(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """(edits, reference units) under the scoring normalisation: CER or WER."""
    ref = units(reference, language)
    return levenshtein(ref, units(hypothesis, language)), len(ref)


def rate(edits: int, n: int) -> float | None:
    return edits / n if n else None


def cjk_chars(text: str) -> list[str]:
    return _CJK.findall(text or "")


def traditional_chars(text: str) -> list[str]:
    """Chinese characters that OpenCC t2s would change (each counted on its own)."""
    from .. import textnorm

    return [c for c in cjk_chars(text) if textnorm.to_simplified(c) != c]


def latin_words(text: str) -> list[str]:
    return _LATIN_WORD.findall(text or "")

