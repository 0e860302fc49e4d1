"""The overview page: what was found (in calls, messages and call patterns), calls per
day, the numbers, and how many findings still wait for a person's review.

Built from plain SQL and rendered with an inline SVG chart so the page makes
no outbound requests (no CDN scripts) and prints or screenshots as it looks.
Categories carry their Chinese and English names; a recording or message with
no number is counted under "number unknown / 号码未知" and listed last, never
as the worst number.  The last run's detection line says whether the meaning layer ran;
when it did not, a notice says so above everything else (its findings were not checked
for meaning, and none was found by meaning).
"""

from __future__ import annotations

from markupsafe import Markup, escape

from ..flagged import meaning_ran
from . import labels
from .metadata import call_rules

_UNKNOWN = "''"  # the group key of "no number"


def _hour_sql(rules: dict) -> str:
    start, end = int(rules["night_start"][:2]), int(rules["night_end"][:2])
    h = "cast(strftime('%H', call_time) as integer)"
    return f"({h} >= {start} or {h} < {end})"


async def overview_context(db, name: str) -> dict:
    rules = call_rules()
    night = _hour_sql(rules)
    tables = set(await db.table_names())

    async def rows(sql: str, params=None):
        return [dict(r) for r in (await db.execute(sql, params or []))]

    totals = (await rows(
        "select count(*) as recordings, sum(status = 'done') as done, sum(status = 'failed') as failed,"
        " round(sum(coalesce(duration, 0)) / 60.0, 1) as minutes,"
        " count(distinct nullif(trim(phone_number), '')) as numbers,"
        " sum(status = 'done' and coalesce(trim(phone_number), '') = '') as no_number"
        " from recordings"))[0]
    # Listen suggestions (schema 6) are counted apart, never as findings; one a reviewer
    # confirmed is a finding from then on.
    # A recording superseded by a longer copy of the same call (schema 6) counts no more.
    only = " where recording_id not in (select id from recordings where status = 'superseded')"
    totals["listen"] = 0
    if "tier" in await db.table_columns("findings"):
        totals["listen"] = (await rows(
            "select count(*) as n from findings" + only + " and tier = 'listen'"
            " and coalesce(review_status, 'unreviewed') = 'unreviewed'"))[0]["n"]
        only += " and (coalesce(tier, 'finding') = 'finding' or review_status = 'confirmed')"
    totals["findings"] = (await rows("select count(*) as n from findings" + only))[0]["n"]
    totals["unreviewed"] = (await rows(
        "select count(*) as n from findings" + only + " and coalesce(review_status, 'unreviewed')"
        " = 'unreviewed'"))[0]["n"]
    totals["by_meaning"] = 0  # findings no rule made (schema 5)
    if "method" in await db.table_columns("findings"):
        totals["by_meaning"] = (await rows(
            "select count(*) as n from findings" + only + " and method = 'meaning'"))[0]["n"]
    totals["messages"] = totals["message_findings"] = totals["patterns"] = 0
    totals["messages_unreviewed"] = 0
    parts = ["select category, 'calls' as source, severity from findings" + only]
    m_only = " where 1"
    if "message_findings" in tables:
        if "tier" in await db.table_columns("message_findings"):
            m_only = " where (coalesce(tier, 'finding') = 'finding' or review_status = 'confirmed')"
            totals["listen"] += (await rows(
                "select count(*) as n from message_findings where tier = 'listen'"))[0]["n"]
        parts.append("select category, 'messages', severity from message_findings" + m_only)
        totals["message_findings"] = (await rows("select count(*) as n from message_findings"
                                                 + m_only))[0]["n"]
        totals["messages_unreviewed"] = (await rows(
            "select count(*) as n from message_findings" + m_only
            + " and coalesce(review_status, 'unreviewed') = 'unreviewed'"))[0]["n"]
    if "messages" in tables:
        totals["messages"] = (await rows("select count(*) as n from messages"))[0]["n"]
    if "pattern_findings" in tables:
        parts.append("select category, 'patterns', severity from pattern_findings")
        totals["patterns"] = (await rows("select count(*) as n from pattern_findings"))[0]["n"]
    categories = await rows(
        "select category, sum(source = 'calls') as calls, sum(source = 'messages') as messages,"
        " sum(source = 'patterns') as patterns, count(*) as n,"
        " sum(severity in ('critical', 'high')) as serious"
        f" from ({' union all '.join(parts)}) group by category order by n desc, category")
    for c in categories:
        c["label"] = labels.category(c["category"])
    per_day = await rows(
        f"select date(call_time) as day, count(*) as calls, sum({night}) as night,"
        " (select count(*) from findings f join recordings r2 on r2.id = f.recording_id"
        "   where date(r2.call_time) = date(recordings.call_time)"
        + " and " + only.removeprefix(" where ")  # tier, review_status: only findings has them
        + ") as findings"
        " from recordings where status = 'done' and call_time is not null"
        " group by day order by day")
    detection = await _last_detection(db, rows, tables)
    return {"db": name, "totals": totals, "categories": categories, "per_day": per_day,
            "detection": detection, "detection_label": labels.detection(detection),
            "detection_off": meaning_ran(detection) is False,
            "detection_notice": labels.detection_off_notice(),
            "top": await _top_numbers(rows, "message_findings" in tables, only, m_only),
            "chart": calls_chart(per_day, rules), "rules": rules,
            "ce": labels.template_labels()}


async def _last_detection(db, rows, tables: set[str]) -> str | None:
    """How the last run that detected did it (``runs.detection``); None before schema 5."""
    if "runs" not in tables or "detection" not in await db.table_columns("runs"):
        return None
    last = await rows("select detection from runs where detection is not null"
                      " order by id desc limit 1")
    return last[0]["detection"] if last else None


async def _top_numbers(rows, with_messages: bool, only: str = " where 1", m_only: str = " where 1"
                       ) -> list[dict]:
    """Numbers with the most findings (calls and messages); "number unknown" last, never first.
    ``only``/``m_only``: the where clause that keeps findings (not listen suggestions)."""
    messages = ("select coalesce(trim(phone_number), '') as number, 0 as recording, 0 as finding,"
                " 1 as message from message_findings" + m_only) if with_messages else ""
    sql = ("select coalesce(trim(r.phone_number), '') as number, r.id as recording,"
           " (select count(*) from findings f" + only + " and f.recording_id = r.id) as finding,"
           " 0 as message"
           " from recordings r where r.status = 'done'")
    if messages:
        sql += " union all " + messages
    top = await rows(
        "select number, count(distinct nullif(recording, 0)) as calls, sum(finding) as findings,"
        f" sum(message) as message_findings from ({sql}) group by number"
        f" order by number = {_UNKNOWN}, findings + message_findings desc, calls desc limit 10")
    for t in top:
        t["unknown"] = not t["number"]
    return top


def calls_chart(per_day: list[dict], rules: dict, width: int = 720, height: int = 220) -> Markup:
    """Calls per day as SVG bars; night calls in red; days with findings marked with a dot."""
    if not per_day:
        return Markup("<p>No dated calls yet (call times come from recorder file names). / "
                      "暂无带日期的通话（通话时间取自录音文件名）。</p>")
    cap = int(rules.get("max_connected_per_day", 3))
    top = max(max(d["calls"] for d in per_day), cap + 1)
    pad, bottom = 30, 40
    bw = max(4, min(40, (width - pad * 2) // len(per_day) - 4))
    scale = (height - bottom - 10) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'role="img" aria-label="calls per day" style="font: 11px sans-serif">']
    cap_y = height - bottom - cap * scale
    parts.append(f'<line x1="{pad}" x2="{width - pad}" y1="{cap_y:.1f}" y2="{cap_y:.1f}" '
                 'stroke="#999" stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{width - pad}" y="{cap_y - 3:.1f}" text-anchor="end" fill="#666">'
                 f'cap {cap}/day · 每日上限 {cap}</text>')
    for i, d in enumerate(per_day):
        x = pad + i * (bw + 4)
        h_all, h_night = d["calls"] * scale, (d["night"] or 0) * scale
        y = height - bottom
        parts.append(f'<rect x="{x}" y="{y - h_all:.1f}" width="{bw}" height="{h_all - h_night:.1f}" '
                     f'fill="#4a78b5"><title>{escape(d["day"])}: {d["calls"]} calls / 次来电'
                     '</title></rect>')
        if h_night:
            parts.append(f'<rect x="{x}" y="{y - h_night:.1f}" width="{bw}" height="{h_night:.1f}" '
                         f'fill="#c0392b"><title>{d["night"]} at night / 夜间</title></rect>')
        if d["findings"]:
            parts.append(f'<circle cx="{x + bw / 2}" cy="{y - h_all - 6:.1f}" r="4" fill="#e67e22">'
                         f'<title>{d["findings"]} findings / 疑似违规</title></circle>')
        parts.append(f'<text x="{x + bw / 2}" y="{height - bottom + 14}" text-anchor="middle" '
                     f'transform="rotate(30 {x + bw / 2} {height - bottom + 14})">'
                     f'{escape(d["day"][5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
