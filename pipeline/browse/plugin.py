"""Datasette plugin (registered through the ``datasette`` entry point).

- SQL functions for Chinese-capable search (``ce_fts_query``, and Datasette's
  own ``escape_fts`` so every table's search box finds Chinese words of any
  length) and highlighting;
- cells: a player in every row that has a recording and a time span, playing
  the whole sentence; the call, the category in both languages with its rules
  as short labels, and the review buttons (``cells``).  A finding's rules are
  the ones the report shows for its call: the judging jurisdiction's, verified
  (``lookup``, resolved once per recording);
- why each finding was flagged (issue 13): a short badge under its number in every
  list, the full explanation in both languages in its tooltip and on its page
  (``pipeline/flagged.py`` words the stored method, pattern, score and run's detection);
- the finding page and the pages' words (``extra_template_vars``, templates);
- the plugin's routes (``routes``), every one behind ``auth.guarded``;
- an ASGI guard that refuses every write but a review verdict (``auth``).

All transcript text is untrusted: it is only ever emitted through Markupsafe's
escaping, and audio routes accept recording ids (hex sha256), never paths.
"""

from __future__ import annotations

from urllib.parse import quote

from datasette import hookimpl
from markupsafe import Markup, escape

from ..calls.jurisdiction import written_language
from ..calls.numbers import canonical
from ..flagged import Why, meaning_ran
from ..store import verdict_rows
from ..textnorm import fold, search_index_text, search_query
from . import auth, cells, door, export, labels, lookup, serve
from .metadata import BASE
from .recording import recording_context
from .review import form_token
from .routes import ROUTES

MARK_OPEN, MARK_CLOSE = "\x01", "\x02"
# Tables whose category column gets its two-language name.
_CATEGORY_TABLES = {None, "findings", "message_findings", "pattern_findings", "finding_reviews"}


# ---------------------------------------------------------------- SQL functions
def highlight(text: str | None, query: str | None) -> str | None:
    """Wrap each occurrence of the query's terms in marker characters (rendered as <mark>)."""
    if not text or not query:
        return text
    folded = fold(text)
    if len(folded) != len(text):
        folded = text.lower()
    spans: list[tuple[int, int]] = []
    for term in fold(query).split():
        term = term.strip('"')
        start = 0
        while term and (i := folded.find(term, start)) >= 0:
            spans.append((i, i + len(term)))
            start = i + len(term)
    if not spans:
        return text
    out, pos = [], 0
    for a, b in sorted(spans):
        if a < pos:
            continue
        out += [text[pos:a], MARK_OPEN, text[a:b], MARK_CLOSE]
        pos = b
    out.append(text[pos:])
    return "".join(out)


@hookimpl(trylast=True)
def prepare_connection(conn, database, datasette):
    export.register(conn, export.database_path(datasette, database))
    conn.create_function("ce_fts_query", 1, lambda q: search_query(q or ""), deterministic=True)
    conn.create_function("ce_index_text", 1, lambda t: search_index_text(t or ""), deterministic=True)
    conn.create_function("ce_highlight", 2, highlight, deterministic=True)
    # One number however written (issue 23): a number typed as 13812345678 finds the calls
    # stored as +8613812345678, and a database written before schema 6 still matches.
    conn.create_function("ce_number", 1, lambda n: canonical(n) or (n or "").strip(),
                         deterministic=True)
    # A table's search box sends what was typed through escape_fts().  Our indexes hold
    # one token per Chinese character (textnorm.search_index_text), so the same query
    # builder as the search page makes "老赖" find 老赖 in segments and messages, and the
    # page shows back what was typed (no rewritten ""老 赖"").  Registered last, so it
    # replaces Datasette's own (which only quotes terms: inert operators either way).
    conn.create_function("escape_fts", 1, lambda q: search_query(q or ""), deterministic=True)


# ---------------------------------------------------------------- cells
def _plain(value):
    return value.get("value") if isinstance(value, dict) else value


def _get(row, key, default=None):
    try:
        return _plain(row[key])
    except (KeyError, IndexError):
        return default


def _float(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    keys = set(row.keys()) if hasattr(row, "keys") else set()
    value = _plain(value)
    db = database or ""
    finding_row = table == "findings" or (table is None and "finding_id" in keys)
    if table == "findings" and column in ("start", "recording_id"):
        return _findings_table_cell(row, value, column, db, datasette)
    if column == "start" and value is not None and "end" in keys and (
            "recording_id" in keys or table == "segments"):
        rid, end = _get(row, "recording_id"), _float(_get(row, "end"))
        if cells.is_sha(rid) and end is not None:
            words = (_float(_get(row, "words_start")), _float(_get(row, "words_end"))) \
                if "words_start" in keys else None
            return cells.player(rid, float(value), end, words)
    if column == "snippet" and isinstance(value, str):
        text = Markup(str(escape(value)).replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>"))
        return _search_hit_link(row, keys, db, text)
    if column == "kind" and table is None and "snippet" in keys:
        return Markup("{v}").format(v=labels.word(str(value)))
    if column == "duration" and table == "recordings" and "id" in keys and value is not None:
        rid = _get(row, "id")
        if cells.is_sha(rid):  # the whole call, to listen through
            return cells.whole_call_player(rid, float(value))
    if column == "review_status" and table == "message_findings" and "id" in keys:
        key = f"m{int(_get(row, 'id'))}"  # a text message's finding, reviewed like a call's
        return cells.review_html(key, value, form_token(datasette, key, value))
    if column == "review_status" and finding_row:
        fid = _get(row, "finding_id" if table is None else "id")
        if fid is not None:
            return cells.review_html(int(fid), value, form_token(datasette, int(fid), value))
    if column == "call_time" and table is None and "finding_id" in keys:
        return cells.call_html(db, _get(row, "recording_id"), value, _get(row, "phone_number"),
                               _get(row, "file_name"))
    if column == "phone_number" and table != "findings":
        return cells.number_html(db, value)
    if column in ("reviewed_at", "processed_at", "started_at", "finished_at", "imported_at"):
        return Markup("{v}").format(v=export.local_time(value) or "—")  # stored in UTC
    if column == "verdict" and table is None and "review_id" in keys and value:
        return Markup("{v}").format(v=labels.button("own_words") if value == "own_words"
                                    else labels.status(str(value)))
    if column in ("call_time", "first_call", "last_call", "sent_at") and table is None:
        return Markup("{v}").format(v=cells.when(value))
    if column == "method" and "rule_id" in keys and (finding_row or table == "message_findings"):
        return _why_cell(row, db, datasette)
    if value in (None, ""):
        return None
    if column == "finding_id":
        link = Markup('<a href="/{db}/findings/{v}">#{v}</a>').format(db=quote(db), v=int(value))
        if "method" in keys and "rule_id" in keys:  # a findings list: why, in a short marker
            return _why_cell(row, db, datasette, link + Markup("<br>"))
        return link
    if column == "category" and table in _CATEGORY_TABLES:
        if finding_row:
            return _finding_category_cell(row, str(value), db, datasette)
        return cells.category_html(str(value))
    if column == "severity" and table in _CATEGORY_TABLES:
        return Markup("{v}").format(v=labels.severity(str(value)))
    if column == "citations":
        return _citations_cell(row, value, table, db, datasette)
    if column == "reviewed_by":
        return Markup("{v}").format(v=labels.reviewer(str(value)))
    if column == "quote" and (finding_row or table == "message_findings"):
        return cells.quote_html(str(value), _get(row, "matched_text"), _get(row, "speaker"))
    if column == "segment_id" and table != "segments":
        return Markup('<a href="/{db}/segment_context?segment_id={v}">{v} (context / 上下文)</a>'
                      ).format(db=quote(db), v=int(value))
    if column == "recording_id" and table != "recordings" and cells.is_sha(str(value)):
        return Markup('<a href="/{db}/recordings/{v}" title="{v}">{s}…</a>').format(
            db=quote(db), v=value, s=str(value)[:10])
    return None


def _search_hit_link(row, keys: set, db: str, text: Markup) -> Markup:
    """A search hit, linked to where it is: its finding, else the moment in the call (the
    sentence in its context, with players), else the recording."""
    finding, segment = _get(row, "hit_finding"), _get(row, "segment_id")
    if "hit_finding" not in keys:
        return text
    if finding is not None:
        href = Markup("/{db}/findings/{f}").format(db=quote(db), f=int(finding))
        title = labels.word("open_finding")
    elif segment is not None:
        href = Markup("/{db}/segment_context?segment_id={s}").format(db=quote(db), s=int(segment))
        title = labels.word("open_moment")
    elif cells.is_sha(_get(row, "recording_id")):
        href = Markup("/{db}/recordings/{r}").format(db=quote(db), r=_get(row, "recording_id"))
        title = labels.word("open_call")
    else:
        return text
    return Markup('<a class="ce-hit" href="{h}" title="{t}">{x}</a>').format(h=href, t=title, x=text)


def _why(row, detection: str | None = None) -> Why:
    return Why(_get(row, "method"), str(_get(row, "rule_id") or ""), _get(row, "matched_text"),
               _get(row, "pattern"), _float(_get(row, "score")), _get(row, "note"),
               meaning_ran(detection))


async def _why_cell(row, db: str, datasette, before: Markup | None = None) -> Markup:
    """A list row's marker of why it was flagged (and ``before`` it, the row's link)."""
    detection = await lookup.run_detection(datasette, db, _get(row, "run_id"))
    return (before or Markup("")) + cells.why_html(_why(row, detection),
                                                   str(_get(row, "category") or ""))


async def _row_law(row, table: str | None, db: str, datasette) -> lookup.CallLaw | None:
    """The law of the call (or message) a row is about, as the report decides it; None for
    a row that cannot be placed (SQL typed by hand): its stored value is shown as it is."""
    keys = set(row.keys()) if hasattr(row, "keys") else set()
    if table == "pattern_findings" and "jurisdiction" in keys:  # judged when it was found
        return lookup.CallLaw(_get(row, "jurisdiction"), "", _get(row, "window_start"))
    if table == "message_findings":
        return await lookup.call_law(datasette, db, _get(row, "phone_number"), _get(row, "sent_at"),
                                     written_language(_get(row, "quote")))
    rid = _get(row, "recording_id")
    if cells.is_sha(rid):
        return await lookup.recording_law(datasette, db, rid)
    return None


async def _citations_cell(row, value, table, db, datasette):
    value = _get(row, "citations_stored", value)  # a canned query's citations are labels
    law = await _row_law(row, table, db, datasette)
    if law is None:
        return None
    # never falsy: an empty cell would let Datasette print the stored JSON instead
    return cells.citations_html(law.shown(value), law.jurisdiction) or Markup("—")


async def _finding_category_cell(row, value: str, db: str, datasette):
    law = await _row_law(row, None, db, datasette)
    # a canned query's ``citations`` is already the labels for export; the stored JSON is
    # ``citations_stored`` there (export.py), ``citations`` in the findings table
    shown = law.shown(_get(row, "citations_stored", _get(row, "citations"))) \
        if law is not None else None
    out = cells.category_html(value, _get(row, "severity"), shown,
                              law.jurisdiction if law is not None else None)
    others = [c for c in str(_get(row, "categories") or "").split(",") if c and c != value]
    if others:  # one sentence, several rules: one review item with its categories together
        out += Markup('<span class="ce-also">+ ') + Markup(" · ").join(
            cells.category_html(c) for c in others) + Markup("</span>")
    return out


async def _findings_table_cell(row, value, column, db, datasette):
    rid = _get(row, "recording_id")
    if not cells.is_sha(rid):
        return None
    if column == "recording_id":
        rec = await lookup.recording(datasette, db, rid)
        return cells.call_html(db, rid, rec.get("call_time"), rec.get("phone_number"),
                               rec.get("file_name"), rec.get("contact"), rec.get("direction"))
    start, end = _float(value), _float(_get(row, "end"))
    if start is None or end is None:
        return None
    sentence = (await lookup.sentences(datasette, db, rid)).get(_get(row, "segment_id"))
    if sentence and sentence[0] is not None and sentence[1] is not None:
        return cells.player(rid, float(sentence[0]), float(sentence[1]), (start, end))
    return cells.player(rid, start, end)


# ---------------------------------------------------------------- pages
async def finding_context(datasette, db_name: str, finding_id: int) -> dict | None:
    """Everything the finding page shows: the sentence, the call, whose rules judged it and
    the citations the report shows for it, the verdict."""
    db = datasette.get_database(db_name)
    row = (await db.execute(
        "select f.*, s.start as s_start, s.\"end\" as s_end, s.text as sentence,"
        " r.call_time, r.phone_number, r.file_name from findings f"
        " join recordings r on r.id = f.recording_id left join segments s on s.id = f.segment_id"
        " where f.id = ?", [finding_id])).first()
    if row is None:
        return None
    f = dict(row)
    rid, status = f["recording_id"], f.get("review_status") or "unreviewed"
    reviews = [dict(r) for r in await db.execute(
        "select * from finding_reviews where recording_id = ? order by reviewed_at desc, id desc",
        [rid])]
    siblings = [tuple(r) for r in await db.execute(
        "select id, rule_id, category, start from findings where recording_id = ?", [rid])]
    verdict = verdict_rows(reviews, siblings).get(finding_id) if status != "unreviewed" else None
    history = [{**r, "when": export.local_time(r.get("reviewed_at")),
                "label": labels.button("own_words") if r.get("reason") == "own_words"
                else labels.status(r.get("status")), "who": labels.reviewer(r.get("reviewed_by")),
                "note": export.own_note(r.get("note"), r.get("reason"))}
               for r in reviews if r["rule_id"] == f["rule_id"] and abs(
                   (r["start"] if r["start"] is not None else -1)
                   - (f["start"] if f["start"] is not None else -1)) < 0.01]
    same_sentence = [r[0] for r in await db.execute(
        "select id from findings where recording_id = ? and segment_id = ? and id != ?"
        " and coalesce(review_status, 'unreviewed') = ? order by id",
        [rid, f["segment_id"], finding_id, status])] if f["segment_id"] is not None else []
    s_start, s_end = f["s_start"], f["s_end"]
    if s_start is None or s_end is None:
        s_start, s_end = f["start"], f["end"]
    words = (f["start"], f["end"]) if f["start"] is not None and f["end"] is not None else None
    law = await lookup.recording_law(datasette, db_name, rid)
    rec = await lookup.recording(datasette, db_name, rid)
    detection = await lookup.run_detection(datasette, db_name, f.get("run_id"))
    why = _why(f, detection)
    why_en, why_zh = labels.why(why, f["category"], plain=True)
    full_en, full_zh = labels.why(why, f["category"], pattern="short")
    pattern = f.get("pattern")
    return {
        "id": finding_id, "f": f, "status": status, "verdict": verdict,
        "status_label": labels.status(status),
        "category": cells.category_html(f["category"], f["severity"]),
        "citations": cells.citations_html(law.shown(f["citations"]), law.jurisdiction),
        "jurisdiction": law.jurisdiction,
        "judged": labels.judged(law.jurisdiction, law.reason, law.error),
        "no_citation": labels.law_none(),
        "reviewer": labels.reviewer(verdict.get("reviewed_by")) if verdict else None,
        "reviewed_at": export.local_time(verdict.get("reviewed_at")) if verdict else None,
        "history": history, "same_sentence": same_sentence,
        "call": cells.call_html(db_name, rid, f["call_time"], f["phone_number"], f["file_name"],
                                rec.get("contact"), rec.get("direction")),
        "sentence": cells.quote_html(f["sentence"], f["matched_text"]) if f["sentence"] else None,
        "quote": cells.quote_html(f["quote"] or "", f["matched_text"]),
        "player": cells.player(rid, s_start, s_end, words) if s_start is not None else None,
        "sentence_span": cells.span(s_start, s_end) if s_start is not None else None,
        "words_span": cells.span(*words) if words else None,
        "confidence": "—" if f["confidence"] is None else f"{float(f['confidence']):.2f}",
        "why": why, "why_en": why_en, "why_zh": why_zh, "why_full": (full_en, full_zh),
        "why_badge": cells.why_html(why, f["category"]),
        "pattern": pattern,
        "pattern_help": labels.pattern_help() if pattern and ("{" in pattern or "~" in pattern)
        else None,
        "score": why.score_text() or "—",
        "detection": detection, "detection_label": labels.detection(detection),
        "token": form_token(datasette, finding_id, status),
        "actions": [a for a in cells.ACTIONS if a != status
                    and not (a == "own_words" and status == "dismissed")],
    }


@hookimpl
def extra_template_vars(template, database, table, columns, view_name, request, datasette):
    async def inner():
        out = {"ce": labels.template_labels(), "ce_form_id": cells.REVIEW_FORM_ID,
               "ce_lock": cells.LOCK,
               "ce_base": BASE, "ce_finding": None, "ce_recording": None}
        if view_name == "row" and table == "findings" and request is not None:
            pks = request.url_vars.get("pks", "")
            if str(pks).isdigit():
                out["ce_finding"] = await finding_context(datasette, database, int(pks))
        if view_name == "row" and table == "recordings" and request is not None:
            pks = str(request.url_vars.get("pks", ""))
            if cells.is_sha(pks):
                out["ce_recording"] = await recording_context(datasette, database, pks)
        return out

    return inner


@hookimpl
def extra_css_urls(datasette):
    return [datasette.urls.static_plugins("call-evidence", "ce.css")]


@hookimpl
def startup(datasette):
    # this server's private metadata (serve.py) has been read: nothing of it stays on disk
    serve.remove_private_metadata()


@hookimpl
def register_routes():
    # Every route is behind the viewing check: under --password, nothing of the
    # plugin's answers anyone who has not logged in (tests/test_browse.py proves
    # it for each route listed here, so a new one cannot slip through).
    return [(pattern, auth.guarded(handler)) for pattern, handler in ROUTES]


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def inner(scope, receive, send):
            if scope.get("type") != "http":
                await app(scope, receive, send)
                return
            if auth.refuses_write(scope):
                await auth.send_read_only(send)
                return
            if scope.get("method") == "POST":
                send = auth.friendly_csrf(send)
            elif export.is_csv(scope):
                send = export.csv_download(scope, send)
            else:
                send = auth.drawn_lock(send)
            await door.door(datasette, app, scope, receive, send)

        return inner

    return wrap
