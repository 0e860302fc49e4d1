"""A recording's own page: the call as a person reads it, in both languages (issue 24).

Datasette's row page titled a call with its 64-character sha256 and cut its columns
off.  This page says which file, which number (and contact and direction, where the
database knows them: ``recordings.direction``/``contact`` are newer columns, read only
when present, else "—"), when (the recorder's local time, as the file name gives it),
how long, a player for the whole call and the call's findings, each with its sentence
and its place in the call.  The hash, path and engines stay for experts.
"""

from __future__ import annotations

from markupsafe import Markup

from . import cells, labels
from .export import local_time

OPTIONAL_COLUMNS = ("direction", "contact")
DIRECTIONS = {"incoming": "Incoming / 来电", "in": "Incoming / 来电",
              "outgoing": "Outgoing / 去电", "out": "Outgoing / 去电",
              "missed": "Missed / 未接", "rejected": "Rejected / 拒接",
              "unknown": "Unknown: the file name does not say / 未知：文件名未说明"}
DASH = "—"


def duration_text(seconds) -> str:
    if seconds is None:
        return DASH
    m, s = divmod(int(round(float(seconds))), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


async def recording_context(datasette, db_name: str, rid: str) -> dict | None:
    db = datasette.get_database(db_name)
    columns = set(await db.table_columns("recordings"))
    row = (await db.execute("select * from recordings where id = ?", [rid])).first()
    if row is None:
        return None
    r = dict(row)
    findings = [dict(f) for f in await db.execute(
        "select f.id, f.category, f.severity, f.quote, f.matched_text, f.rule_id,"
        " coalesce(f.review_status, 'unreviewed') as status, f.start as w_start,"
        ' f."end" as w_end, s.start as s_start, s."end" as s_end from findings f'
        " left join segments s on s.id = f.segment_id where f.recording_id = ?"
        " order by coalesce(s.start, f.start), f.id", [rid])]
    items = []
    for f in findings:
        start = f["s_start"] if f["s_start"] is not None else f["w_start"]
        end = f["s_end"] if f["s_end"] is not None else f["w_end"]
        words = (f["w_start"], f["w_end"]) if f["w_start"] is not None else None
        items.append({
            "id": f["id"], "anchor": f"t{int(start or 0)}",
            "category": cells.category_html(f["category"], f["severity"]),
            "quote": cells.quote_html(f["quote"] or "", f["matched_text"]),
            "player": cells.player(rid, float(start), float(end), words)
            if start is not None and end is not None else None,
            "status": f["status"], "status_label": labels.status(f["status"]),
            "rule_id": f["rule_id"]})
    direction = r.get("direction") if "direction" in columns else None
    contact = r.get("contact") if "contact" in columns else None
    number = r.get("phone_number")
    return {
        "rid": rid, "r": r,
        "title_time": cells.when(r.get("call_time")),
        "file_name": r.get("file_name") or DASH,
        "number": cells.number_html(db_name, number),
        "contact": contact or DASH,
        "direction": DIRECTIONS.get(str(direction or "").strip().lower(), direction or DASH),
        "duration": duration_text(r.get("duration")),
        "player": cells.whole_call_player(rid, float(r["duration"]))
        if r.get("duration") and r.get("status") == "done" else None,
        "status": r.get("status"), "error": r.get("error"),
        "processed_at": local_time(r.get("processed_at")),
        "findings": items,
        "language": r.get("language") or DASH,
        "no_findings": Markup("No findings in this call. / 本通话没有疑似违规。"),
    }
