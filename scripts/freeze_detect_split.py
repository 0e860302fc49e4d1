"""Freeze the train / dev / test split of the real labelled corpus (corpora/detect).

Run once, before any training or tuning; the test split is then the blind measure.
Rows are kept together by source document (one article or judgment never straddles two
splits), documents are visited in the order of a hash of their address, and each goes to
the split furthest below its share of abuse rows (then of all rows), per language, so
every split gets positives.  Rows whose note starts with "BORDERLINE" (a label the
gatherer was unsure of) go to train: a blind figure should not rest on doubtful labels.

    .venv/bin/python scripts/freeze_detect_split.py            # writes corpora/detect/split.json
    .venv/bin/python scripts/freeze_detect_split.py --check    # says whether it is still intact

Re-freezing replaces the blind split: do it only for a fresh one, and say so in
docs/detection.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.evaluation.corpora import (  # noqa: E402
    load_split,
    read_jsonl,
    real_corpus_dir,
    row_digest,
)

SHARES = {"test": 0.5, "dev": 0.25, "train": 0.25}
SALT = "call-evidence blind split 2026-11-29"


def _h(text: str) -> str:
    return hashlib.sha256(f"{SALT}|{text}".encode()).hexdigest()


def _excess(tally: dict, lang: str, split: str, pos: int, n: int) -> tuple[float, float]:
    """How far ``split`` would run over its share if this document went there."""
    a, rows = tally[(lang, split)]
    tot_a = sum(tally[(lang, x)][0] for x in SHARES) + pos
    tot_n = sum(tally[(lang, x)][1] for x in SHARES) + n
    return ((a + pos) / max(tot_a, 1) - SHARES[split] if pos else 0.0,
            (rows + n) / max(tot_n, 1) - SHARES[split])


def freeze(previous: dict | None = None) -> dict:
    """Assign every row; with ``previous``, rows already assigned keep their split and new
    rows of a document already placed join that document's split."""
    rows = [d for p in sorted(real_corpus_dir().glob("real_*.jsonl")) for d in read_jsonl(p)]
    docs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    assigned: dict[str, str] = dict((previous or {}).get("rows", {}))
    placed = {(d["language"], d["source"]["url"]): assigned[d["id"]] for d in rows if d["id"] in assigned}
    tally = {(lang, s): [0, 0] for lang in {d["language"] for d in rows} for s in SHARES}  # abuse, all
    for d in rows:
        if d["id"] in assigned:
            tally[(d["language"], assigned[d["id"]])][0] += d["label"] == "abuse"
            tally[(d["language"], assigned[d["id"]])][1] += 1
        elif str(d.get("note") or "").upper().startswith("BORDERLINE"):
            assigned[d["id"]] = "train"
        elif (d["language"], d["source"]["url"]) in placed:
            assigned[d["id"]] = placed[(d["language"], d["source"]["url"])]
        else:
            docs[(d["language"], d["source"]["url"])].append(d)
    for (lang, _url), members in sorted(docs.items(), key=lambda kv: _h(kv[0][0] + kv[0][1])):
        pos = sum(m["label"] == "abuse" for m in members)
        split = min(SHARES, key=lambda s: (_excess(tally, lang, s, pos, len(members)), s))
        tally[(lang, split)][0] += pos
        tally[(lang, split)][1] += len(members)
        for m in members:
            assigned[m["id"]] = split
    by_id = {d["id"]: d for d in rows}
    digests = {i: row_digest(by_id[i]) for i, s in sorted(assigned.items()) if s == "test"}
    counts = defaultdict(lambda: defaultdict(int))
    for i, s in assigned.items():
        d = by_id[i]
        counts[f"{d['language']}/{s}"][d["label"]] += 1
    history = list((previous or {}).get("history", []))
    history.append({"on": date.today().isoformat(), "rows": len(assigned),
                    "new": len(assigned) - len((previous or {}).get("rows", {}))})
    return {
        "frozen_on": (previous or {}).get("frozen_on", date.today().isoformat()),
        "history": history,
        "method": "scripts/freeze_detect_split.py: by source document, stratified on abuse rows, "
                  f"shares {SHARES}, BORDERLINE rows in train",
        "counts": {k: dict(v) for k, v in sorted(counts.items())},
        "test_sha256": hashlib.sha256("".join(digests.values()).encode()).hexdigest(),
        "rows": dict(sorted(assigned.items())),
        "digests": digests,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="verify the frozen test rows, write nothing")
    ap.add_argument("--add", action="store_true",
                    help="assign rows added since the freeze (before anything is tuned on them); "
                         "rows already assigned keep their split")
    args = ap.parse_args()
    path = real_corpus_dir() / "split.json"
    if args.check:
        split = load_split()
        rows = {d["id"]: d for p in sorted(real_corpus_dir().glob("real_*.jsonl")) for d in read_jsonl(p)}
        bad = [i for i, dg in split.get("digests", {}).items()
               if i not in rows or row_digest(rows[i]) != dg]
        unassigned = [i for i in rows if i not in split.get("rows", {})]
        print(f"frozen {split.get('frozen_on')}: {len(split.get('digests', {}))} test rows, "
              f"{len(bad)} changed or missing, {len(unassigned)} rows not in the split (train)")
        return 1 if bad else 0
    if path.exists() and not args.add:
        print(f"{path} exists: a frozen split is replaced only on purpose; delete it first "
              "(or --add rows that are new)", file=sys.stderr)
        return 2
    split = freeze(load_split() if args.add else None)
    path.write_text(json.dumps(split, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(split["counts"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
