"""Human titles, descriptions and canned queries for the evidence database."""

from __future__ import annotations

REVIEW = "Possible violations for human review — not legal conclusions."

FINDINGS_NEWEST = """
select f.id, r.call_time, r.phone_number, f.category, f.severity, f.rule_id,
       f.matched_text, f.quote, f.start, f."end", f.confidence, f.speaker,
       r.file_name, f.recording_id
from findings f join recordings r on r.id = f.recording_id
order by coalesce(r.call_time, r.mtime) desc, f.start
limit 1000
"""

FINDINGS_FOR_NUMBER = """
select r.call_time, f.category, f.severity, f.matched_text, f.quote, f.start, f."end",
       f.rule_id, r.file_name, f.recording_id
from findings f join recordings r on r.id = f.recording_id
where r.phone_number = :phone_number
order by r.call_time, f.start
"""

SEARCH = """
select s.id as segment_id, r.call_time, r.phone_number, s.start, s."end", s.speaker,
       s.text, r.file_name, s.recording_id
from segments_fts
join segments s on s.id = segments_fts.rowid
join recordings r on r.id = s.recording_id
where segments_fts match ce_fts_query(:q)
order by r.call_time desc, s.start
limit 500
"""


def metadata(db_name: str) -> dict:
    return {
        "title": "Call evidence index / 通话证据索引",
        "description": "Recordings, transcripts and findings. " + REVIEW,
        "databases": {
            db_name: {
                "tables": {
                    "recordings": {
                        "title": "Recordings / 录音",
                        "description": "One row per original recording (by sha256). Originals "
                                       "are never modified.",
                        "sort_desc": "call_time",
                        "facets": ["status", "phone_number", "language"],
                    },
                    "segments": {
                        "title": "Transcript segments / 转写片段",
                        "description": "Timestamped transcript; search finds Chinese words of "
                                       "any length and English words.",
                        "sort": "id",
                        "fts_table": "segments_fts",
                        "fts_pk": "id",
                    },
                    "findings": {
                        "title": "Findings / 疑似违规",
                        "description": REVIEW,
                        "sort_desc": "id",
                        "facets": ["category", "severity", "rule_id"],
                    },
                    "words": {"title": "Words / 词", "hidden": True},
                    "recording_files": {"title": "File paths / 文件路径"},
                    "runs": {"title": "Runs / 处理记录",
                             "description": "Tool and model versions and settings per run."},
                },
                "queries": {
                    "findings_newest": {"title": "All findings, newest first / 全部疑似违规",
                                        "description": REVIEW, "sql": FINDINGS_NEWEST.strip()},
                    "findings_for_number": {"title": "Findings for one phone number / 按号码",
                                            "sql": FINDINGS_FOR_NUMBER.strip()},
                    "search": {"title": "Search transcripts / 搜索转写",
                               "description": "Type a word in Chinese or English (e.g. 上门, 老赖, "
                                              "employer).",
                               "sql": SEARCH.strip()},
                },
            }
        },
    }
