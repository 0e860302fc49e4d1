"""The labelled text corpora for detection, and which split each row belongs to.

* ``corpora/detect/real_{zh,en}.jsonl``: real collectors' words and real hard negatives,
  each row with its source (``corpora/detect/README.md``).  ``split.json`` assigns every
  row to ``train``, ``dev`` or ``test``; it was frozen before any training or tuning and
  the ``test`` rows are the blind measure: nothing is tuned on them.
* ``tests/data/detect_corpus.jsonl`` and ``detect_heldout.jsonl``: synthetic lines
  written for the rules.  They may train; they never judge the meaning layer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

ABUSE_CATEGORIES = ("insult", "threat_harm", "false_legal", "third_party", "visit_shaming",
                    "money_demand")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def real_corpus_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "corpora" / "detect"


def synthetic_files(root: Path | None = None) -> list[Path]:
    base = root or repo_root()
    return [base / "tests" / "data" / "detect_corpus.jsonl", base / "tests" / "data" / "detect_heldout.jsonl",
            *sorted((base / "corpora" / "synthetic").glob("*.jsonl"))]


@dataclass
class Row:
    id: str
    text: str
    language: str
    categories: set[str]
    origin: str  # "real" or "synthetic"
    split: str = "train"  # train / dev / test (real rows); synthetic rows always train
    extra: dict = field(default_factory=dict)

    @property
    def abuse(self) -> bool:
        return bool(self.categories & set(ABUSE_CATEGORIES))


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON: {e}") from e
    return rows


def row_digest(d: dict) -> str:
    """What a frozen split pins for each row: its id, text and labels."""
    key = json.dumps([d["id"], d["text"], sorted(d.get("categories") or []), d.get("label")],
                     ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load_split(root: Path | None = None) -> dict:
    path = real_corpus_dir(root) / "split.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"rows": {}}


def real_rows(root: Path | None = None, check: bool = True) -> list[Row]:
    """Every real labelled row with its frozen split.

    ``check`` refuses a corpus whose test rows changed since the split was frozen: the blind
    figure means something only while those rows are exactly the ones frozen.
    """
    split = load_split(root)
    assigned, digests = split.get("rows", {}), split.get("digests", {})
    out = []
    for path in sorted(real_corpus_dir(root).glob("real_*.jsonl")):
        for d in read_jsonl(path):
            s = assigned.get(d["id"], "train")
            if check and s == "test" and digests.get(d["id"]) not in (None, row_digest(d)):
                raise ValueError(f"{path}: blind test row {d['id']} changed after the split was "
                                 "frozen; restore it, or freeze a fresh split and say so")
            cats = set(d.get("categories") or [])
            if d.get("label") == "not":
                cats -= set(ABUSE_CATEGORIES)
            out.append(Row(d["id"], d["text"], d["language"], cats, "real", s, d))
    return out


def synthetic_rows(root: Path | None = None) -> list[Row]:
    out = []
    for path in synthetic_files(root):
        if path.exists():
            out += [Row(d["id"], d["text"], d["language"], set(d.get("categories") or []),
                        "synthetic", "train", d) for d in read_jsonl(path)]
    return out
