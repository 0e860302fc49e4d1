"""Append a gathering round's rows to the real corpus (corpora/detect/real_{zh,en}.jsonl).

Gatherers write rows in the corpus schema (corpora/README.md) to files outside the
repository; this gives them ids and appends them, dropping what would make the blind
split leak or lie:

- a row whose text is already in the corpus;
- a row that near-duplicates a **test** row (character-trigram Jaccard above
  ``--near``, default 0.3): the same message reported by another outlet would otherwise
  train on what the test judges;
- every row of a source address given with ``--same-event-as-test`` (another outlet's
  report of an event a test document covers) or of a host given with ``--drop-host``
  (pages that read as machine-written or garbled).

Then run ``scripts/freeze_detect_split.py --add`` (before training on anything new) and
``scripts/sources_table.py``.  The third and fourth rounds of 2026-11-29 were added so:

    python scripts/add_real_rows.py --round 3 STAGED/*.jsonl \
        --same-event-as-test https://udn.com/news/story/7320/9296746
    python scripts/add_real_rows.py --round 4 STAGED/*.jsonl \
        --drop-host juduo.cc --drop-host www.coopersfurniturerepair.com --drop-host guanxian.org
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.evaluation.corpora import load_split, read_jsonl, real_corpus_dir  # noqa: E402

KEYS = ["text", "language", "script", "region", "variety", "label", "categories", "kind",
        "neg_type", "speaker", "medium", "source", "note"]


def trigrams(text: str) -> set[str]:
    t = re.sub(r"\W+", "", text.lower())
    return {t[i:i + 3] for i in range(max(1, len(t) - 2))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="staged JSONL files of one round")
    ap.add_argument("--round", required=True, type=int, help="round number, for the ids (rzh3-…)")
    ap.add_argument("--near", type=float, default=0.3, help="trigram overlap that counts as a copy")
    ap.add_argument("--same-event-as-test", action="append", default=[], metavar="URL")
    ap.add_argument("--drop-host", action="append", default=[], metavar="HOST")
    args = ap.parse_args()

    split = load_split().get("rows", {})
    corpus = {lang: real_corpus_dir() / f"real_{lang}.jsonl" for lang in ("zh", "en")}
    old = [d for path in corpus.values() for d in read_jsonl(path)]
    test = [trigrams(d["text"]) for d in old if split.get(d["id"]) == "test"]
    seen = {d["text"].strip() for d in old}
    taken = {lang: sum(d["id"].startswith(f"r{lang}{args.round}-") for d in old) for lang in corpus}
    added: dict[str, list[dict]] = {lang: [] for lang in corpus}
    dropped = 0
    for path in args.files:
        for row in read_jsonl(path):
            url = row["source"]["url"]
            g = trigrams(row["text"])
            near = max((len(g & t) / max(1, len(g | t)) for t in test), default=0.0)
            if (urlsplit(url).hostname in args.drop_host or url in args.same_event_as_test
                    or near > args.near or row["text"].strip() in seen):
                dropped += 1
                continue
            seen.add(row["text"].strip())
            lang = row["language"]
            n = taken[lang] + len(added[lang]) + 1
            added[lang].append({"id": f"r{lang}{args.round}-{n:04d}",
                                **{k: row[k] for k in KEYS if k in row}})
    for lang, rows in added.items():
        with corpus[lang].open("a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print({lang: f"{len(rows)} rows, {sum(r['label'] == 'abuse' for r in rows)} abuse"
           for lang, rows in added.items()}, f"dropped {dropped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
