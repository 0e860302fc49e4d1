#!/usr/bin/env python3
"""Count synthetic_train.jsonl by language x kind x category x region x register.

Run: python3 count.py [path]   (default: synthetic_train.jsonl next to this script)
Also re-checks JSON validity, unique ids, no exact duplicate texts, the category /
speaker conventions of tests/data/README.md, and counts Traditional-script and
written-Cantonese lines (by character markers).
"""
import collections as C
import json
import os
import sys

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthetic_train.jsonl")
rows = []
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    try:
        rows.append(json.loads(line))
    except json.JSONDecodeError as e:
        sys.exit(f"line {n}: invalid JSON: {e}")
CATS = ["insult", "threat_harm", "false_legal", "legal_claim", "third_party",
        "visit_shaming", "money_demand", "stop_request"]
FIELDS = {"id", "text", "language", "speaker", "categories", "kind", "asr_noise", "note", "register", "region"}
ids = C.Counter(r["id"] for r in rows)
texts = C.Counter(r["text"] for r in rows)
problems = [f"duplicate id {i}" for i, c in ids.items() if c > 1]
problems += [f"duplicate text {t}" for t, c in texts.items() if c > 1]
for r in rows:
    if set(r) != FIELDS:
        problems.append(f"{r['id']}: fields {sorted(set(r) ^ FIELDS)}")
    if any(c not in CATS for c in r["categories"]):
        problems.append(f"{r['id']}: unknown category")
    if (r["kind"] == "positive") != bool(r["categories"]):
        problems.append(f"{r['id']}: kind/categories disagree")
    if r["speaker"] != "collector" and any(c != "stop_request" for c in r["categories"]):
        problems.append(f"{r['id']}: non-collector with category")
    if r["speaker"] == "collector" and "stop_request" in r["categories"]:
        problems.append(f"{r['id']}: collector stop_request")

print(f"total {len(rows)}; " + ", ".join(f"{k} {v}" for k, v in sorted(C.Counter(r['language'] for r in rows).items())))
print("problems:", len(problems), *problems[:20], sep="\n  " if problems else " ")
for lang in ("zh", "en"):
    L = [r for r in rows if r["language"] == lang]
    if not L:
        continue
    print(f"\n=== {lang}: {len(L)} lines ===")
    k = C.Counter(r["kind"] for r in L)
    print("kind: " + ", ".join(f"{x} {k[x]} ({100*k[x]/len(L):.1f}%)" for x in ("positive", "hard_negative", "neutral")))
    cc = C.Counter(c for r in L for c in r["categories"])
    print("categories (lines carrying): " + ", ".join(f"{c} {cc[c]}" for c in CATS))
    print("multi-category positives:", sum(len(r["categories"]) > 1 for r in L))
    print("speaker:", dict(C.Counter(r["speaker"] for r in L)))
    print("asr_noise:", sum(r["asr_noise"] for r in L), f"({100*sum(r['asr_noise'] for r in L)/len(L):.1f}%)")
    regs = sorted({r["region"] for r in L})
    print("region x kind:")
    for g in regs:
        kk = C.Counter(r["kind"] for r in L if r["region"] == g)
        print(f"  {g:6s} total {sum(kk.values()):4d}  pos {kk['positive']:4d}  hard_neg {kk['hard_negative']:4d}  neutral {kk['neutral']:4d}")
    print("register x kind:")
    for g in sorted({r["register"] for r in L}):
        kk = C.Counter(r["kind"] for r in L if r["register"] == g)
        print(f"  {g:13s} total {sum(kk.values()):4d}  pos {kk['positive']:4d}  hard_neg {kk['hard_negative']:4d}  neutral {kk['neutral']:4d}")
    print("category x region (positives):")
    print("  " + " " * 14 + "".join(f"{g:>6s}" for g in regs))
    for c in CATS:
        print(f"  {c:14s}" + "".join(f"{sum(1 for r in L if r['region']==g and c in r['categories']):6d}" for g in regs))
    if lang == "zh":
        trad = [r for r in L if r["region"] in ("TW", "HK")]
        canto = [r for r in trad if any(ch in "唔咗嘅佢冇係啲嚟喺咁乜嘢畀俾哋嗰咩㗎嘞喎啱" for ch in r["text"])]
        print(f"Traditional-script lines (TW/HK): {len(trad)}; with written-Cantonese markers: {len(canto)}")
