"""``call-evidence report`` as a caseworker runs it: one package per counterparty.

With no ``--number`` (and no ``--all-in-one``) the calls and messages in scope are split
into counterparties (``groups``), each under one jurisdiction, and each gets its own
package; with two or more, the packages go into one folder with an index
(``INDEX.html``, ``index.json``) that lists them.  The folder is written whole or not
at all (``staging``), as a single package is.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import staging
from .build import ReportOptions, ReportResult, build_report, open_database
from .data import ReportError, Scope, load
from .groups import counterparties, lender_labels

INDEX_HTML = "INDEX.html"
INDEX_JSON = "index.json"


@dataclass
class BatchResult:
    packages: list[ReportResult] = field(default_factory=list)
    folder: Path | None = None  # the folder holding several packages and the index
    index: Path | None = None
    warnings: list[str] = field(default_factory=list)


def build_reports(db_path: Path, out_dir: Path, scope: Scope, options: ReportOptions | None = None,
                  log: Callable[[str], None] = lambda m: None) -> BatchResult:
    """One package per counterparty in ``scope`` (one only, for ``--number`` or
    ``--all-in-one``); several go into one folder with an index."""
    options = options or ReportOptions()
    if options.all_in_one or scope.numbers or scope.unnumbered:
        return BatchResult([build_report(db_path, out_dir, scope, options, log)])
    store = open_database(db_path)
    try:
        data = load(store, scope, options.jurisdiction)
    finally:
        store.close()
    groups = counterparties(data, lender_labels(db_path))
    warnings = []
    if scope.name and len(groups) > 1:
        warnings.append(f"--name {scope.name!r} was not used: the calls in scope come from "
                        f"{len(groups)} counterparties (name each in numbers.yaml, or give --number)")
    if len(groups) == 1:
        one = build_report(db_path, out_dir, groups[0].scope(scope, scope.name), options, log)
        return BatchResult([one], warnings=warnings)
    log(f"report: {len(groups)} counterparties, one package each")
    name = f"evidence_{datetime.now():%Y%m%d-%H%M%S}"
    with staging.staged(Path(out_dir), name) as stage:
        stage.work.mkdir()
        results = [build_report(db_path, stage.work, g.scope(scope), options, log) for g in groups]
        rows = [_row(g, r) for g, r in zip(groups, results, strict=True)]
        (stage.work / INDEX_JSON).write_text(json.dumps(
            {"format": "call-evidence package index 1", "created_at": _now(),
             "scope": scope.describe(), "packages": rows}, ensure_ascii=False, indent=2) + "\n",
            encoding="utf-8")
        (stage.work / INDEX_HTML).write_text(_index_html(rows), encoding="utf-8")
        final = stage.commit()
    for r in results:  # the packages moved with their folder
        r.folder = final / r.folder.name
        r.zip_path = final / r.zip_path.name if r.zip_path else None
        r.html = [r.folder / p.name for p in r.html]
        r.pdf = [r.folder / p.name for p in r.pdf]
    return BatchResult(results, final, final / INDEX_HTML, warnings)


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _row(g, r: ReportResult) -> dict:
    m = r.manifest
    return {"counterparty": g.title(), "label": g.label, "numbers": g.numbers,
            "jurisdiction": g.jurisdiction, "folder": r.folder.name,
            "zip": r.zip_path.name if r.zip_path else None, "reports": [p.name for p in r.html],
            "recordings": r.recordings, "findings": r.findings,
            "messages": len(m.get("messages", [])),
            "period": m.get("report_settings", {}).get("period")}


def _link(folder: str, name: str) -> str:
    what = {"report-zh.html": "中文", "report-en.html": "English"}.get(name, name)
    return f'<a href="{html.escape(folder)}/{html.escape(name)}">{what}</a>'


def _index_html(rows: list[dict]) -> str:
    """A plain page (no script, no font needed) listing the packages, in both languages."""
    e = html.escape
    body = "\n".join(
        f"<tr><td>{e(r['counterparty'])}</td><td>{e(', '.join(r['numbers']) or '—')}</td>"
        f"<td>{e(r['jurisdiction'])}</td><td>{e(' – '.join(r['period'] or []) or '—')}</td>"
        f"<td>{r['recordings']}</td><td>{r['messages']}</td><td>{r['findings']}</td>"
        f"<td>{' · '.join(_link(r['folder'], name) for name in r['reports'])}<br>{e(r['folder'])}"
        f"{'<br>' + e(r['zip']) if r['zip'] else ''}</td></tr>" for r in rows)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>证据包目录 / Evidence packages</title>
<style>body{{font-family:sans-serif;margin:24px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}}</style></head>
<body><h1>证据包目录 / Evidence packages</h1>
<p>每个对方（贷款机构、催收方或号码）一个证据包，每个证据包只按一个辖区的规则判断；投诉时请只提交与受理机构有关的那一个。<br>
One package per counterparty (lender, collector or number), each judged under one
jurisdiction's rules: send a complaint body only the package that concerns it.</p>
<table><thead><tr><th>对方 / Counterparty</th><th>号码 / Numbers</th><th>辖区 / Rules</th>
<th>时间范围 / Period</th><th>录音 / Recordings</th><th>消息 / Messages</th>
<th>发现项 / Findings</th><th>证据包 / Package</th></tr></thead>
{body}
</table></body></html>
"""


__all__ = ["BatchResult", "ReportError", "build_reports"]
