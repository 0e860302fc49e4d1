"""Write corpora/detect/SOURCES.md: one line per source document of the real corpus.

Generated from the rows' ``source`` fields and ``split.json``, so the table cannot drift
from the data; run it after adding rows (and after ``freeze_detect_split.py --add``).

    .venv/bin/python scripts/sources_table.py
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.evaluation.corpora import load_split, read_jsonl, real_corpus_dir  # noqa: E402

HEADER = """# Sources of the real labelled corpus

One line per source document: language, address, title, publisher, date, kind, rows taken
(abuse / not) and the split they are in. Generated from the rows' `source` fields
(`scripts/sources_table.py`); the rows themselves say how each was found. Text is quoted
verbatim in short extracts, for research and evidence-quality measurement, with
attribution; licence terms of press pages are generally not stated.

| lang | source | publisher | date | kind | abuse | not | split |
|---|---|---|---|---|---|---|---|
"""


def _cell(text: object, limit: int) -> str:
    return str(text or "").replace("|", "/").replace("\n", " ")[:limit]


def table() -> str:
    split = load_split().get("rows", {})
    docs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in sorted(real_corpus_dir().glob("real_*.jsonl")):
        for d in read_jsonl(path):
            docs[(d["language"], d["source"]["url"])].append(d)
    lines = []
    for (lang, url), rows in sorted(docs.items()):
        src = rows[0]["source"]
        abuse = sum(r["label"] == "abuse" for r in rows)
        splits = "/".join(sorted({split.get(r["id"], "train") for r in rows}))
        lines.append(f"| {lang} | [{_cell(src.get('title'), 90)}]({url}) | "
                     f"{_cell(src.get('publisher'), 60)} | {src.get('date') or 'n.d.'} | "
                     f"{src.get('kind')} | {abuse} | {len(rows) - abuse} | {splits} |")
    return HEADER + "\n".join(lines) + "\n"


def main() -> int:
    out = real_corpus_dir() / "SOURCES.md"
    out.write_text(table(), encoding="utf-8")
    print(f"{out}: {out.read_text(encoding='utf-8').count(chr(10)) - HEADER.count(chr(10))} documents")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
