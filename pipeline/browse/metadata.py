"""Human titles, descriptions, facets and canned queries for the evidence database.

Canned queries are the pages a borrower or caseworker actually uses, so each
one answers a plain question ("every time they threatened to call my mother",
"which numbers called at night") without SQL.  Thresholds (night hours, daily
call caps) come from ``pipeline/data/call_rules.yaml``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

REVIEW = "Possible violations for human review — not legal conclusions. 疑似违规，仅供人工核查。"
BASE = "/-/call-evidence"

# A finding's or segment's recording, shown with the call's number and time.
_CALL_COLS = "r.call_time, r.phone_number, r.file_name"


def call_rules(jurisdiction: str | None = None) -> dict:
    path = Path(str(resources.files("pipeline") / "data" / "call_rules.yaml"))
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    j = jurisdiction or doc.get("default_jurisdiction", "CN")
    return {"jurisdiction": j, **doc["jurisdictions"][j]}


def _hour(hhmm: str) -> int:
    return int(hhmm.split(":")[0])


# The columns of every findings list: what a row shows, then what its cells need
# (the sentence's span, the call's number...), kept for JSON and CSV and hidden on the page.
# ``start``/``end`` are the sentence's (one sentence has one time everywhere);
# ``words_start``/``words_end`` are the matched words'.  ``jurisdiction``, ``citations`` (its
# verified ones, as labels), ``verdict``, ``review_note``, ``reviewer`` and ``reviewed_at``
# are for the CSV and JSON (pipeline/browse/export.py): the page's story, with the review.
_FINDING_COLS = """f.id as finding_id, r.call_time, f.category, f.quote,
  coalesce(s.start, f.start) as start, coalesce(f.review_status, 'unreviewed') as review_status,
  f.severity, ce_law(f.recording_id) as jurisdiction,
  ce_cited(f.citations, f.recording_id) as citations, ce_review(f.id, 'verdict') as verdict,
  ce_review(f.id, 'note') as review_note, ce_review(f.id, 'reviewer') as reviewer,
  ce_review(f.id, 'reviewed_at') as reviewed_at, r.phone_number, r.file_name,
  f.citations as citations_stored, f.matched_text, f.speaker,
  coalesce(s."end", f."end") as "end", f.start as words_start, f."end" as words_end,
  f.confidence, f.rule_id, f.segment_id, f.recording_id, {why}"""
# Why each finding was flagged (schema 5): the row's badge and its tooltip need these; a
# database made before schema 5 and not opened by this version since has no such columns.
_WHY_COLS = "f.method, f.score, f.note, f.run_id"
_NO_WHY_COLS = "null as method, null as score, f.note, null as run_id"
# Schema 6: a listen suggestion says so in every list that shows one (the to-review queue).
_TIER_COL = ("case when f.tier = 'listen' then 'worth a listen / 值得复听' "
             "else 'finding / 疑似违规' end as tier")
# A recording superseded by a longer copy of the same call is left out of every list.
_FINDING_FROM = """from findings f join recordings r on r.id = f.recording_id and r.status != 'superseded'
left join segments s on s.id = f.segment_id"""
FINDING_SHOW = ["finding_id", "call_time", "category", "quote", "start", "review_status"]
_UNDATED_LAST = "r.call_time is null"
_NUMBER = "coalesce(trim(r.phone_number), '')"


def queries(rules: dict, tables: set[str] | frozenset = frozenset(), why: bool = True,
            tiers: bool = True) -> dict:
    """Canned queries; ``tables``: the database's tables (messages are searched when present);
    ``why``: the findings table has schema 5's columns (method, score); ``tiers``: it has
    schema 6's ``tier``.  Every list shows findings only, except the to-review queue, which
    also holds the listen suggestions (值得复听), after the findings, highest score first.

    ``ce_show`` (ours, ignored by Datasette) lists the columns a page shows; the
    others stay in JSON and CSV and feed the cells (a player needs the recording).
    """
    night = (f"(cast(strftime('%H', r.call_time) as integer) >= {_hour(rules['night_start'])} "
             f"or cast(strftime('%H', r.call_time) as integer) < {_hour(rules['night_end'])})")
    cap = int(rules.get("max_connected_per_day", 3))
    severity_rank = ("case f.severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 "
                     "when 'low' then 3 else 4 end")
    cols = _FINDING_COLS.format(why=_WHY_COLS if why else _NO_WHY_COLS)
    tiers = tiers and why  # a table with the tier has schema 5's columns too
    # a listen suggestion a reviewer confirmed is a finding from then on
    only = "(coalesce(f.tier, 'finding') = 'finding' or f.review_status = 'confirmed')" if tiers else "1"
    listen_last = ""
    if tiers:
        cols += ",\n  " + _TIER_COL
        # per sentence (to_review groups them): a sentence is a suggestion when all its rows are
        listen_last = ("min(f.tier = 'listen'), case when min(f.tier = 'listen') then -max(f.score)"
                       " end, ")
    messages = ""
    if {"messages", "messages_fts"} <= set(tables):
        messages = """
union all
select 'message', ce_highlight(m.text, :q), null, m.sent_at, m.phone_number, m.source, null, null,
  null, null, null
from messages_fts join messages m on m.id = messages_fts.rowid
where messages_fts match ce_fts_query(:q)"""
    return {
        "findings_newest": {
            "title": "All findings, newest first / 全部疑似违规（最新在前）",
            "description": REVIEW + " Calls with no date come last. / 无日期的通话排在最后。",
            "sql": f"""select {cols}
{_FINDING_FROM}
where {only}
order by {_UNDATED_LAST}, coalesce(r.call_time, r.mtime) desc, f.recording_id, start, f.id
limit 1000""",
            "ce_show": FINDING_SHOW,
        },
        "to_review": {
            "title": "To review / 待核查",
            "description": "Findings nobody has confirmed or dismissed yet, the most serious first, "
                           "one row per sentence (its other rules listed with it; one verdict "
                           "covers them all); then the sentences worth a listen (not findings: the "
                           "meaning check ranks them as possibly abusive, below the bar; confirm one "
                           "to put it in the report), highest score first. / 然后是“值得复听”的句子"
                           "（不是疑似违规，确认后才进入报告）。 "
                           "Listen, then Confirm / 确认 or Dismiss / 排除 (“These are my own words / "
                           "这是我说的” when it was you speaking). Dismissed findings are left out of "
                           "reports; verdicts survive re-runs. / 尚未核查的疑似违规，最严重的在前；"
                           "每句一行，同一句的多条规则一并核查。",
            # One sentence is one item however many rules hit it (issue 24): the row is its
            # most serious finding (SQLite takes bare columns from the min() row), its
            # categories listed together; a verdict on it covers every finding of the sentence.
            "sql": f"""select {cols}, group_concat(distinct f.category) as categories,
  group_concat(f.id) as finding_ids, min({severity_rank} * 1000000000 + f.id) as ce_rank
{_FINDING_FROM}
where coalesce(f.review_status, 'unreviewed') = 'unreviewed'
group by f.recording_id, coalesce(f.segment_id, -f.id)
order by {listen_last}min({severity_rank}), coalesce(f.confidence, 1) desc, {_UNDATED_LAST},
  r.call_time, start
limit 1000""",
            "ce_show": FINDING_SHOW + (["tier"] if tiers else []),
        },
        "findings_by_category": {
            "title": "Findings by category and severity / 按类别和严重程度",
            "description": "Choose a category or a severity, or leave “all” to see every finding. "
                           "/ 选择类别或严重程度，或选“全部”。",
            "sql": f"""select {cols}
{_FINDING_FROM}
where (:category = '' or f.category = :category)
  and (:severity = '' or f.severity = :severity) and {only}
order by {severity_rank}, {_UNDATED_LAST}, r.call_time, start
limit 2000""",
            "ce_show": FINDING_SHOW,
        },
        "findings_for_number": {
            "title": "Findings for one phone number / 某号码的全部疑似违规",
            "description": "Leave the number empty for recordings whose number is unknown. "
                           "/ 号码留空：号码未知的录音。",
            "sql": f"""select {cols}
{_FINDING_FROM}
where ce_number({_NUMBER}) = ce_number(:phone_number) and {only}
order by {_UNDATED_LAST}, r.call_time, start""",
            "ce_show": FINDING_SHOW,
        },
        "timeline": {
            "title": "Timeline for one phone number / 号码时间线",
            "description": f"Calls per day, calls at night ({rules['night_start']}–{rules['night_end']}) "
                           "and findings, for one number (leave empty for all numbers). "
                           "/ 每日来电、夜间来电和疑似违规（号码留空则为全部号码）。",
            "sql": f"""select date(r.call_time) as day, count(distinct r.id) as calls,
  count(distinct case when {night} then r.id end) as night_calls,
  count(f.id) as findings,
  group_concat(distinct f.category) as categories
from recordings r left join findings f on f.recording_id = r.id and {only}
where r.status = 'done' and r.call_time is not null
  and (:phone_number = '' or ce_number(r.phone_number) = ce_number(:phone_number))
group by day order by day""",
        },
        "night_calls": {
            "title": f"Calls at night ({rules['night_start']}–{rules['night_end']}) / 夜间来电",
            "description": f"Calls whose start time (from the file name, local time) falls in the "
                           f"{rules['jurisdiction']} no-collection window. " + REVIEW,
            "sql": f"""select r.call_time, r.phone_number, r.duration, r.n_findings, r.file_name,
  r.id as recording_id
from recordings r
where r.status = 'done' and r.call_time is not null and {night}
order by r.call_time""",
            "ce_show": ["call_time", "phone_number", "duration", "n_findings", "file_name"],
        },
        "days_over_caps": {
            "title": f"Days over the call cap (more than {cap} calls) / 超过每日通话上限的日期",
            "description": "Recorded (connected) calls per day, per number and for all numbers "
                           "together (collectors rotate numbers). " + REVIEW,
            "sql": f"""select date(r.call_time) as day,
  coalesce(nullif(trim(r.phone_number), ''), '(number unknown / 号码未知)') as phone_number,
  count(*) as calls
from recordings r
where r.status = 'done' and r.call_time is not null
group by day, r.phone_number having count(*) > {cap}
union all
select date(r.call_time) as day, '(all numbers / 全部号码)', count(*)
from recordings r
where r.status = 'done' and r.call_time is not null
group by day having count(*) > {cap}
order by day""",
        },
        "worst_numbers": {
            "title": "Worst numbers first / 问题最多的号码",
            "description": "Recordings with no number are counted together as “number unknown / "
                           "号码未知”, listed last. / 号码未知的录音合并计算，排在最后。",
            "sql": f"""select {_NUMBER} as phone_number, count(distinct r.id) as calls,
  count(distinct case when {night} then r.id end) as night_calls,
  count(f.id) as findings,
  coalesce(sum(f.severity in ('critical', 'high')), 0) as serious_findings,
  group_concat(distinct f.category) as categories,
  min(r.call_time) as first_call, max(r.call_time) as last_call
from recordings r left join findings f on f.recording_id = r.id and {only}
where r.status = 'done'
group by {_NUMBER}
order by {_NUMBER} = '', serious_findings desc, findings desc, calls desc""",
        },
        "review_history": {
            "title": "Review history / 核查记录",
            "description": "Every verdict ever given, newest first: a Reset is an entry too, and "
                           "the newest entry of a finding is the one that counts. "
                           "/ 全部核查记录（最新在前）；重置也是一条记录，以最新一条为准。",
            "sql": """select ce_review_finding(v.id) as finding_id, v.reviewed_at,
  case when v.reason = 'own_words' then 'own_words' else v.status end as verdict, v.note,
  v.reviewed_by, v.category, v.quote, r.call_time, r.phone_number, r.file_name,
  v.recording_id, v.rule_id, v.id as review_id
from finding_reviews v join recordings r on r.id = v.recording_id
order by v.reviewed_at desc, v.id desc
limit 2000""",
            "ce_show": ["finding_id", "reviewed_at", "verdict", "note", "reviewed_by", "category",
                        "quote", "call_time"],
        },
        "segment_context": {
            "title": "A moment in context / 上下文",
            "description": "The transcript around one sentence (four before, four after). "
                           "/ 该句前后各四句。",
            "sql": """select s.id as segment_id, s.idx, s.text, s.start, s.speaker, s."end",
  s.recording_id
from segments s join segments target on target.id = :segment_id
where s.recording_id = target.recording_id and s.idx between target.idx - 4 and target.idx + 4
order by s.idx""",
            "ce_show": ["idx", "text", "start", "speaker"],
        },
        "search": {
            "title": "Search everything / 全文搜索",
            "description": "Chinese or English, any length (上门, 老赖, employer). Searches "
                           "call transcripts, text messages, phone numbers and file names. "
                           "/ 搜索通话转写、短信、号码和文件名。",
            "sql": f"""select 'transcript' as kind, ce_highlight(s.text, :q) as snippet, s.start,
  {_CALL_COLS}, s.speaker, s."end", s.id as segment_id, s.recording_id,
  (select min(f.id) from findings f where f.segment_id = s.id) as hit_finding
from segments_fts join segments s on s.id = segments_fts.rowid
join recordings r on r.id = s.recording_id
where segments_fts match ce_fts_query(:q){messages}
union all
select 'recording', ce_highlight(r.file_name, :q), null, {_CALL_COLS}, null, null, null, r.id,
  null
from recordings r
where length(trim(:q)) > 0 and (r.phone_number like '%' || trim(:q) || '%'
  or r.file_name like '%' || trim(:q) || '%')
limit 500""",
            "ce_show": ["kind", "snippet", "start", "call_time", "phone_number", "file_name"],
        },
    }


def db_tables(path: Path) -> set[str]:
    """The tables of a database file, read without writing (the search covers messages if any)."""
    return set(db_columns(path))


def db_columns(path: Path) -> dict[str, set[str]]:
    """Each table of a database file with its columns, read without writing."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
            return {n: {r[1] for r in conn.execute(f"pragma table_info([{n}])")} for n in names}
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


PASSWORD_ENV = "CALL_EVIDENCE_PASSWORD_HASH"
ACCOUNT = "caseworker"


def metadata(db_name: str, jurisdiction: str | None = None, password: bool = False,
             tables: set[str] | frozenset = frozenset(), why: bool = True, tiers: bool = True) -> dict:
    """Datasette metadata for ``db_name``.

    With ``password`` every page needs a login as ``caseworker`` (datasette-auth-
    passwords); the password hash is read from ``$CALL_EVIDENCE_PASSWORD_HASH``
    so it is never written to disk.  ``tables``: the database's tables
    (``db_tables``), so the search page covers text messages where there are some.
    ``why``: the findings table has schema 5's columns (``db_columns``); an older file
    browsed before this version opened it lists its findings without them.
    """
    rules = call_rules(jurisdiction)
    q = f"/{db_name}"
    links = " · ".join(
        f'<a href="{href}">{label}</a>' for href, label in [
            (f"{BASE}/overview/{db_name}", "Overview / 概览"),
            (f"{q}/search", "Search / 搜索"),
            (f"{q}/to_review", "To review / 待核查"),
            (f"{q}/findings_newest", "All findings / 全部疑似违规"),
            (f"{q}/review_history", "Review history / 核查记录"),
            (f"{q}/messages", "Messages / 短信"),
            (f"{q}/worst_numbers", "Worst numbers / 问题号码"),
            (f"{q}/night_calls", "Night calls / 夜间来电"),
            (f"{q}/days_over_caps", "Days over caps / 超限日期"),
        ])
    meta = {
        "title": "Call evidence index / 通话证据索引",
        "description_html": f"<p>{REVIEW}</p><p>{links}</p>",
        "databases": {
            db_name: {
                "description_html": f"<p>{links}</p>",
                "tables": {
                    "recordings": {
                        "title": "Recordings / 录音",
                        "description": "One row per original recording (by sha256). Originals are "
                                       "never modified; failed files keep their error.",
                        "sort_desc": "call_time",
                        "facets": ["status", "phone_number", "language"],
                        "label_column": "file_name",
                        "columns": {
                            "id": "sha256 of the original file / 原始文件哈希",
                            "call_time": "Call start, local time from the file name / 通话时间",
                            "phone_number": "Other party's number / 对方号码",
                            "duration": "Seconds / 时长（秒）",
                            "status": "done, failed or pending / 处理状态",
                        },
                    },
                    "segments": {
                        "title": "Transcript segments / 转写片段",
                        "description": "Timestamped transcript. Search finds Chinese words of any "
                                       "length and English words.",
                        "sort": "id",
                        "fts_table": "segments_fts",
                        "fts_pk": "id",
                        "label_column": "text",
                        "columns": {"start": "Seconds from the start of the call / 开始（秒）",
                                    "speaker": "Channel or party when known / 说话方"},
                    },
                    "findings": {
                        "title": "Findings / 疑似违规",
                        "description": REVIEW + " Confirm / 确认 or Dismiss / 排除 each one; "
                                       "dismissed findings are left out of reports.",
                        "sort_desc": "id",
                        "facets": ["category", "severity", "review_status"],
                    },
                    "pattern_findings": {
                        "title": "Call-pattern findings / 来电规律",
                        "description": "Night calls, daily caps, unanswered attempts, number "
                                       "rotation, Reg F 7-in-7 and calls after a stop request, from "
                                       "call times and the phone's call log. " + REVIEW,
                        "sort": "window_start",
                        "facets": ["category", "rule_id", "phone_number"],
                    },
                    "call_log": {"title": "Call log / 通话记录",
                                 "description": "Imported from the phone (call-evidence "
                                                "import-calls): attempts and connected calls.",
                                 "facets": ["phone_number", "connected"]},
                    "messages": {"title": "Messages / 短信", "fts_table": "messages_fts",
                                 "fts_pk": "id",
                                 "description": "SMS/chat text scanned with call-evidence scan-text. "
                                                "Search finds Chinese words of any length. "
                                                "/ 可搜索任意长度的中文词。"},
                    "message_findings": {"title": "Message findings / 短信疑似违规",
                                         "description": REVIEW,
                                         "facets": ["category", "severity"]},
                    "messages_fts": {"hidden": True},
                    "derived_files": {"title": "Derived files / 派生文件",
                                      "description": "Files made from recordings, with sha256 "
                                                     "(checked by call-evidence verify)."},
                    "words": {"title": "Words / 词", "hidden": True},
                    "segments_fts": {"hidden": True},
                    "recording_files": {"title": "File paths / 文件路径"},
                    "finding_reviews": {"title": "Review verdicts / 人工核查结论",
                                        "description": "Confirmed or dismissed by a person (in the "
                                                       "browser or with call-evidence review), with "
                                                       "notes, who and when; applied again to "
                                                       "findings rebuilt by a re-run.",
                                        "facets": ["status", "category"]},
                    "runs": {"title": "Runs / 处理记录",
                             "description": "Tool and model versions and settings per run."},
                },
                "queries": {k: {**v, "hide_sql": True}
                            for k, v in queries(rules, tables, why, tiers).items()},
            }
        },
    }
    if password:
        meta["allow"] = {"id": ACCOUNT}
        meta["plugins"] = {"datasette-auth-passwords": {
            f"{ACCOUNT}_password_hash": {"$env": PASSWORD_ENV}}}
    return meta


def metadata_for(db_path: Path, password: bool = False) -> dict:
    """The metadata for one database file (its tables decide what the search covers)."""
    columns = db_columns(db_path)
    return metadata(db_path.stem, password=password, tables=set(columns),
                    why="method" in columns.get("findings", {"method"}),
                    tiers="tier" in columns.get("findings", {"tier"}))
