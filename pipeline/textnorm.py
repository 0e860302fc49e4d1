"""Text normalisation shared by transcription output, detection and search.

Whisper often answers Mandarin in Traditional characters; evidence is read
and searched in Simplified, so every transcript passes through ``to_simplified``.
``fold`` is the stronger, lossy form used only for *matching* (full-width to
half-width, case folding, Chinese numerals left alone).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from functools import lru_cache

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_CJK_RUN = re.compile(f"([{_CJK}])")


@lru_cache(maxsize=2)
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese (OpenCC ``t2s``); other text unchanged.

    Applied until nothing changes: OpenCC's table maps a few characters in two steps
    (薴 -> 苧 -> 苎), and stored text, search index and queries must all agree.
    """
    if not text or not _CJK_RE.search(text):
        return text
    convert = _converter("t2s").convert
    for _ in range(4):
        once = convert(text)
        if once == text:
            break
        text = once
    return text


def to_traditional(text: str) -> str:
    if not text or not _CJK_RE.search(text):
        return text
    return _converter("s2t").convert(text)


def is_simplified(text: str) -> bool:
    """True when converting to Simplified changes nothing (no Traditional-only forms)."""
    return to_simplified(text) == text


def fold(text: str) -> str:
    """Matching form: NFKC (full-width -> half-width), Simplified, lower case."""
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


def has_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text or ""))


def search_index_text(text: str) -> str:
    """Text as stored in the full-text index: one token per Chinese character.

    SQLite's ``unicode61`` tokenizer treats a run of Chinese characters as one
    token, so a 2-character word inside a sentence would never match, and the
    ``trigram`` tokenizer needs at least 3 characters.  Spacing the characters
    lets a phrase query (``"老 赖"``) find any Chinese word of any length while
    English words stay whole.
    """
    spaced = _CJK_RUN.sub(r" \1 ", fold(text))
    return " ".join(spaced.split())


def search_query(query: str) -> str:
    """Turn what a user types into an FTS5 query for ``search_index_text`` text.

    Each whitespace-separated term becomes a quoted phrase (so punctuation and
    FTS operators in user input are inert); terms are ANDed.
    """
    terms = []
    # control characters (a NUL ends an FTS5 string early) are not searchable text
    query = "".join(" " if unicodedata.category(c) == "Cc" else c for c in query)
    for term in fold(query).split():
        tokens = search_index_text(term).split()
        tokens = [t.replace('"', "") for t in tokens if t.replace('"', "")]
        if tokens:
            terms.append('"' + " ".join(tokens) + '"')
    return " ".join(terms) if terms else '""'


@lru_cache(maxsize=65536)
def _sound_char(ch: str) -> str:
    from pypinyin import Style, lazy_pinyin

    syllable = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
    if not syllable or not syllable[0]:
        return ch
    return chr(0xF0000 + (zlib.crc32(_fuzzy(syllable[0]).encode()) % 0xFFFD))


def _fuzzy(syllable: str) -> str:
    """Merge the sounds ASR (and many Mandarin speakers) confuse: zh/z, ch/c, sh/s, -ing/-in, -eng/-en."""
    for a, b in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if syllable.startswith(a):
            syllable = b + syllable[2:]
            break
    if syllable.endswith(("ing", "eng")):
        syllable = syllable[:-1]
    return syllable


def sound_key(text: str) -> str:
    """Replace each Chinese character by a stand-in for its toneless pinyin.

    The result has exactly one character per input character (so match
    offsets still point at the right words), and homophones collapse to the
    same stand-in: Whisper's 吹收/催收, 报你/爆你, 做老/坐牢 then compare equal
    (with the usual fuzzy-pinyin merges, see ``_fuzzy``).
    Stand-ins come from a Unicode private-use plane, so they never collide
    with real text or regular-expression syntax.
    """
    return "".join(_sound_char(c) if _CJK_RE.match(c) else c for c in text)
