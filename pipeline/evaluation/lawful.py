"""Lawful collection talk: real reminders, overdue notices, agents' scripts, collection
letters and regulators' notices that break no rule (``corpora/lawful/``).

Why: most of a real collection call is this kind of talk (an amount due, a late fee, a
payment plan, a lawful mention of a lawsuit), and a detector that flags it discredits the
package before a regulator reads the one real threat.  So it is a negative of its own,
measured apart from ordinary speech: findings and listen suggestions per 1,000 lawful
sentences, with the worst offenders (``make eval-detect``).

Each source document (one entry of ``corpora/lawful/<language>.yaml``, with its address)
goes whole to the ``train`` or the ``eval`` half, by a salted hash of its address, so a
letter's sentences never sit on both sides; ``make train-detect`` trains on ``train`` and
chooses its thresholds on it by cross-validation, ``make eval-detect`` measures ``eval``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from .corpora import repo_root
from .ordinary import split_sentences

LANGUAGES = ("zh", "en")
SALT = "lawful-2026-12-07"
HALVES = ("train", "eval")


@dataclass(frozen=True)
class LawfulSentence:
    id: str
    text: str
    language: str
    url: str
    kind: str  # reminder, agent_script, collection_letter, voicemail, lender_notice...
    split: str  # "train" or "eval"


def lawful_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "corpora" / "lawful"


def half_of(url: str) -> str:
    """``train`` or ``eval`` for a document, fixed by its address (about half each)."""
    h = int.from_bytes(hashlib.sha256(f"{SALT}|{url}".encode()).digest()[:4], "big")
    return HALVES[h % 2]


def load_documents(language: str, root: Path | None = None) -> list[dict]:
    path = lawful_dir(root) / f"{language}.yaml"
    if not path.exists():
        return []
    docs = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    for d in docs:
        missing = [k for k in ("url", "title", "kind", "text") if not d.get(k)]
        if missing:
            raise ValueError(f"{path}: a document lacks {', '.join(missing)}: {str(d)[:80]}")
    return docs


def lawful_sentences(split: str | None = None, language: str | None = None,
                     root: Path | None = None) -> list[LawfulSentence]:
    """The sentences of the lawful corpus (one half, or both), in file order, each once: a
    sentence met again (a template line on several pages) stays with its first document, so
    no sentence sits in both halves."""
    out: list[LawfulSentence] = []
    seen: set[tuple[str, str]] = set()
    for lang in LANGUAGES if language is None else (language,):
        for d in load_documents(lang, root):
            half = half_of(d["url"])
            n = 0
            for line in str(d["text"]).splitlines():
                for s in split_sentences(line, lang):
                    if (lang, s) in seen:  # a template repeated on one page, or across pages
                        continue
                    seen.add((lang, s))
                    n += 1
                    key = hashlib.sha256(d["url"].encode()).hexdigest()[:10]
                    out.append(LawfulSentence(f"law-{lang}-{key}-{n}", s, lang, d["url"],
                                              str(d["kind"]), half))
    return [s for s in out if split is None or s.split == split]


def summary(root: Path | None = None) -> dict[str, dict[str, int]]:
    """Sentences and documents per language and half (for docs and the eval header)."""
    out: dict[str, dict[str, int]] = {}
    for lang in LANGUAGES:
        sents = lawful_sentences(language=lang, root=root)
        docs = {s.url for s in sents}
        out[lang] = {"documents": len(docs), "sentences": len(sents),
                     **{h: sum(s.split == h for s in sents) for h in HALVES},
                     **{f"{h}_documents": len({s.url for s in sents if s.split == h}) for h in HALVES}}
    return out
