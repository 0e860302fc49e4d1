#!/usr/bin/env python3
"""Build synthetic_train.jsonl from the hand-written batch files in src/.

Why a builder: the lines were written by hand in a compact batch format (a header
sets speaker / register / region / kind / default note for the lines under it), so
that writing ~2,500 lines stays readable and every label sits next to its text.
This script expands the batches, assigns ids in file order, and refuses to write
the output if any labelling convention of tests/data/README.md is broken.

Batch format (src/zh_NN.txt, src/en_NN.txt; '#' starts a comment line):

    @ <speaker> <register> <region> <kind> [default note ...]
    <cats>|<text>[|<note>]

speaker: c collector, b borrower, t third_party, n narrator
kind:    P positive, H hard_negative, N neutral (a line with categories is always
         positive; a line without categories under a P header is an error)
cats:    i insult, h threat_harm, f false_legal, l legal_claim, t third_party,
         v visit_shaming, m money_demand, s stop_request, '~' = asr_noise, '-' = none
"""
from __future__ import annotations

import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CODES = {"i": "insult", "h": "threat_harm", "f": "false_legal", "l": "legal_claim",
         "t": "third_party", "v": "visit_shaming", "m": "money_demand", "s": "stop_request"}
ORDER = list(CODES.values())
SPEAKERS = {"c": "collector", "b": "borrower", "t": "third_party", "n": "narrator"}
KINDS = {"P": "positive", "H": "hard_negative", "N": "neutral"}
REGISTERS = {"call", "voicemail", "sms", "chat", "letter", "poster", "social_post",
             "news", "judgment", "complaint", "conversation"}
REGIONS = {"CN", "TW", "HK", "US", "UK", "NG", "KE", "IN", "PH", "ZA", "other"}
ZH_REGIONS = {"CN", "TW", "HK", "other"}

# Characters that exist only in simplified script (their traditional forms differ).
SIMPLIFIED_ONLY = set("们这说还钱会对时让给话门间发过没为个样么车东两爱听长问应开关见难电报联该实网络贷账债"
                      "记认讲请谁诉买卖号单头亲边经现岁钟馆饭气乡约组织协产业务转账银帮绝结给")
# Characters that exist only in traditional script.
TRADITIONAL_ONLY = set("們這說還錢會對時讓給話門間發過沒為個樣麼車東兩愛聽長問應開關見難電報聯該實網絡貸賬債"
                       "記認講請誰訴買賣號單頭親邊經現歲鐘館飯氣鄉約組織協產業務轉帳銀幫絕結")
CANTONESE_MARKERS = set("唔咗嘅佢冇係啲嚟喺咁乜嘢畀俾哋嗰咩㗎嘞喎啱嚇")


def parse_file(path: str) -> list[dict]:
    rows: list[dict] = []
    header = None
    lang = "zh" if os.path.basename(path).startswith("zh") else "en"
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.rstrip("\n").strip()
        if not line or line.startswith("#"):
            continue
        where = f"{os.path.basename(path)}:{n}"
        if line.startswith("@"):
            parts = line[1:].split(None, 4)
            if len(parts) < 4:
                sys.exit(f"{where}: bad header {line!r}")
            spk, reg, region, kind = parts[:4]
            note = parts[4] if len(parts) > 4 else ""
            if spk not in SPEAKERS or reg not in REGISTERS or region not in REGIONS or kind not in KINDS:
                sys.exit(f"{where}: bad header values {line!r}")
            header = (SPEAKERS[spk], reg, region, kind, note)
            continue
        if header is None:
            sys.exit(f"{where}: line before any header")
        fields = line.split("|")
        if len(fields) not in (2, 3):
            sys.exit(f"{where}: expected cats|text[|note]: {line!r}")
        cats_s, text = fields[0].strip(), fields[1].strip()
        note = fields[2].strip() if len(fields) == 3 else header[4]
        asr = "~" in cats_s
        cats_s = cats_s.replace("~", "").replace("-", "")
        bad = [c for c in cats_s if c not in CODES]
        if bad or not text:
            sys.exit(f"{where}: bad categories {bad} or empty text")
        cats = [c for c in ORDER if any(CODES[x] == c for x in cats_s)]
        speaker, reg, region, hkind, _ = header
        if cats:
            kind = "positive"
        elif hkind == "P":
            sys.exit(f"{where}: positive header but no categories: {text!r}")
        else:
            kind = KINDS[hkind]
        if not note:
            note = f"synthetic {reg} ({region})" + (f"; {'+'.join(cats)}" if cats else "")
        rows.append({"text": text, "language": lang, "speaker": speaker, "categories": cats,
                     "kind": kind, "asr_noise": asr, "note": note, "register": reg,
                     "region": region, "_where": where})
    return rows


def check(rows: list[dict], known: set[str]) -> list[str]:
    errs = []
    seen: dict[str, str] = {}
    for r in rows:
        w, t, cats, spk = r["_where"], r["text"], r["categories"], r["speaker"]
        if t in seen:
            errs.append(f"{w}: exact duplicate of {seen[t]}: {t}")
        seen[t] = w
        if t in known:
            errs.append(f"{w}: text also in tests/data: {t}")
        if "stop_request" in cats and spk == "collector":
            errs.append(f"{w}: stop_request with collector speaker")
        if spk != "collector" and any(c != "stop_request" for c in cats):
            errs.append(f"{w}: non-collector line with abuse/legal category {cats}")
        if spk == "narrator" and cats:
            errs.append(f"{w}: narrator line with categories")
        if r["language"] == "zh":
            if r["region"] not in ZH_REGIONS:
                errs.append(f"{w}: zh line with region {r['region']}")
            if r["region"] in ("TW", "HK"):
                s = [ch for ch in t if ch in SIMPLIFIED_ONLY]
                if s:
                    errs.append(f"{w}: simplified chars {''.join(s)} in {r['region']} line")
            elif r["region"] == "CN" and not r["asr_noise"]:
                s = [ch for ch in t if ch in TRADITIONAL_ONLY]
                if s:
                    errs.append(f"{w}: traditional chars {''.join(s)} in CN line without asr_noise")
        elif r["region"] in ("CN", "TW", "HK"):
            errs.append(f"{w}: en line with region {r['region']}")
    return errs


def main() -> None:
    files = sorted(glob.glob(os.path.join(HERE, "src", "zh_*.txt"))) + \
        sorted(glob.glob(os.path.join(HERE, "src", "en_*.txt")))
    rows = [r for f in files for r in parse_file(f)]
    known: set[str] = set()
    for p in glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "*.jsonl")):
        for line in open(p, encoding="utf-8"):
            if line.strip():
                known.add(json.loads(line)["text"].strip())
    errs = check(rows, known)
    if errs:
        print("\n".join(errs[:200]))
        sys.exit(f"{len(errs)} problems; nothing written")
    counters = {"zh": 0, "en": 0}
    out = os.path.join(HERE, "synthetic_train.jsonl")
    with open(out, "w", encoding="utf-8") as fh:
        for r in rows:
            counters[r["language"]] += 1
            prefix = "szh" if r["language"] == "zh" else "sen"
            rec = {"id": f"{prefix}-{counters[r['language']]:04d}"}
            rec.update({k: v for k, v in r.items() if k != "_where"})
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {out} (zh {counters['zh']}, en {counters['en']})")


if __name__ == "__main__":
    main()
