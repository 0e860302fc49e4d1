"""Datasette plugin (registered through the ``datasette`` entry point).

- SQL functions for Chinese-capable search (``ce_fts_query``) and highlighting;
- a player in every row that has a recording and a time span, playing exactly
  that moment from a clip cut once and served with HTTP range support
  (Datasette's own static serving has none, so browsers could not seek);
- links between findings, their context, recordings and phone numbers;
- the overview page a caseworker screenshots;
- the segments table's own search box made to work for Chinese too.

All transcript text is untrusted: it is only ever emitted through Markupsafe's
escaping, and audio routes accept recording ids (hex sha256), never paths.
"""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from .. import clips
from ..detect import load_rules
from ..textnorm import fold, search_index_text, search_query
from .metadata import BASE
from .overview import overview_context

MARK_OPEN, MARK_CLOSE = "\x01", "\x02"
_NUM = r"\d+(?:\.\d+)?"
_SHA = r"[0-9a-f]{64}"


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


@hookimpl
def prepare_connection(conn):
    conn.create_function("ce_fts_query", 1, lambda q: search_query(q or ""), deterministic=True)
    conn.create_function("ce_index_text", 1, lambda t: search_index_text(t or ""), deterministic=True)
    conn.create_function("ce_highlight", 2, highlight, deterministic=True)


# ---------------------------------------------------------------- cells
def _fmt_time(seconds: float) -> str:
    m, s = divmod(float(seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


def player_html(recording_id: str, start: float, end: float) -> Markup:
    a, b = clips.padded(start, end)
    src = f"{BASE}/clip/{recording_id}/{a:.2f}-{b:.2f}.mp3"
    return Markup(
        '<span class="ce-player"><audio controls preload="none" src="{src}" data-start="{a}" '
        'data-end="{b}" title="plays {a:.1f}s–{b:.1f}s"></audio> <span class="ce-time">{t}</span></span>'
    ).format(src=src, a=a, b=b, t=f"{_fmt_time(start)}–{_fmt_time(end)}")


def _plain(value):
    return value.get("value") if isinstance(value, dict) else value


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    keys = list(row.keys()) if hasattr(row, "keys") else []
    value = _plain(value)
    if column == "start" and value is not None and "end" in keys and (
            "recording_id" in keys or table == "segments"):
        rid = _plain(row["recording_id"])
        end = _plain(row["end"])
        if isinstance(rid, str) and re.fullmatch(_SHA, rid) and end is not None:
            return player_html(rid, float(value), float(end))
    if column == "snippet" and isinstance(value, str):
        return Markup(str(escape(value)).replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>"))
    if column == "duration" and table == "recordings" and "id" in keys and value is not None:
        rid = _plain(row["id"])
        if isinstance(rid, str) and re.fullmatch(_SHA, rid):  # the whole call, to listen through
            return Markup('<span class="ce-player"><audio controls preload="none" '
                          'src="{base}/audio/{rid}.mp3" title="the whole call"></audio> '
                          '<span class="ce-time">{t}</span></span>').format(
                base=BASE, rid=rid, t=_fmt_time(float(value)))
    if value in (None, ""):
        return None
    db = quote(database or "")
    if column == "phone_number" and table != "findings":
        return Markup('<a href="/{db}/findings_for_number?phone_number={q}">{v}</a>').format(
            db=db, q=quote(str(value)), v=value)
    if column == "segment_id" and table != "segments":
        return Markup('<a href="/{db}/segment_context?segment_id={v}">{v} (context)</a>').format(
            db=db, v=int(value))
    if column == "finding_id":
        return Markup('<a href="/{db}/findings/{v}">{v}</a>').format(db=db, v=int(value))
    if column == "category" and table in (None, "findings"):
        label = category_labels().get(str(value))
        if label:
            return Markup('{v} <small class="ce-label">{zh} / {en}</small>').format(
                v=value, zh=label.get("zh", ""), en=label.get("en", ""))
    if column == "recording_id" and table != "recordings" and re.fullmatch(_SHA, str(value)):
        return Markup('<a href="/{db}/recordings/{v}" title="{v}">{s}…</a>').format(
            db=db, v=value, s=str(value)[:10])
    return None


@lru_cache(maxsize=1)
def category_labels() -> dict[str, dict]:
    return load_rules().categories


# ---------------------------------------------------------------- audio routes
def _ranged(request, data: bytes, content_type: str, sha256: str | None = None) -> Response:
    """Serve bytes with HTTP range support so browsers can seek."""
    headers = {"accept-ranges": "bytes", "cache-control": "private, max-age=3600"}
    if sha256:
        headers["x-content-sha256"] = sha256
    total = len(data)
    rng = request.headers.get("range", "")
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
    if not m or (not m.group(1) and not m.group(2)):
        headers["content-length"] = str(total)
        return Response(data, status=200, headers=headers, content_type=content_type)
    if m.group(1):
        first = int(m.group(1))
        last = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
    else:  # suffix range: the last N bytes
        first, last = max(0, total - int(m.group(2))), total - 1
    if first >= total or first > last:
        headers["content-range"] = f"bytes */{total}"
        return Response(b"", status=416, headers=headers, content_type=content_type)
    headers["content-range"] = f"bytes {first}-{last}/{total}"
    headers["content-length"] = str(last - first + 1)
    return Response(data[first:last + 1], status=206, headers=headers, content_type=content_type)


async def _recording(datasette, rid: str) -> dict | None:
    """The recording's original path, duration and registered normalised audio (if any)."""
    for db in datasette.databases.values():
        tables = [] if db.is_memory else await db.table_names()
        if "recordings" not in tables:
            continue
        normalised = ("(select d.path from derived_files d where d.recording_id = r.id"
                      " and d.kind = 'normalised audio' and d.path like '%' || r.id || '.wav'"
                      " limit 1)") if "derived_files" in tables else "null"
        rows = await db.execute(f"select r.id, r.path, r.duration, {normalised} as normalised"
                                " from recordings r where r.id = ?", [rid])
        row = rows.first()
        if row:
            return dict(row)
    return None


def _not_found(msg: str = "not found") -> Response:
    return Response.text(msg, status=404)


async def clip_route(datasette, request):
    rid = request.url_vars["rid"]
    start, end = float(request.url_vars["start"]), float(request.url_vars["end"])
    rec = await _recording(datasette, rid)
    if rec is None:
        return _not_found("unknown recording")
    if rec["duration"]:
        end = min(end, float(rec["duration"]) + 0.5)
    try:
        path = await asyncio.to_thread(clips.cut, rid, start, end, rec["path"],
                                       normalised=rec["normalised"])
    except clips.ClipError as e:
        return Response.text(str(e), status=404 if "no longer" in str(e) else 400)
    data = await asyncio.to_thread(path.read_bytes)
    return _ranged(request, data, "audio/mpeg", clips.clip_sha256(path))


async def audio_route(datasette, request):
    rid = request.url_vars["rid"]
    rec = await _recording(datasette, rid)
    if rec is None:
        return _not_found("unknown recording")
    try:
        path = await asyncio.to_thread(clips.whole, rid, rec["path"],
                                       normalised=rec["normalised"])
    except clips.ClipError as e:
        return Response.text(str(e), status=404)
    data = await asyncio.to_thread(path.read_bytes)
    return _ranged(request, data, "audio/mpeg", clips.clip_sha256(path))


async def overview_route(datasette, request):
    name = request.url_vars["db"]
    if name not in datasette.databases:
        return _not_found("unknown database")
    context = await overview_context(datasette.get_database(name), name)
    html = await datasette.render_template("ce_overview.html", context, request=request)
    return Response.html(html)


# Internal columns (the per-character search index) stay out of sight on every page.
HIDDEN_COLUMNS_CSS = "\n".join(
    f".col-{c} {{ display: none; }}" for c in ("text_index",)
) + """
.ce-player audio { height: 2em; vertical-align: middle; }
td.col-quote, td.col-snippet, td.col-text, td.col-detail { min-width: 16em; }
td.col-recording_id, td.col-rule_id { word-break: break-all; }
"""


async def css_route(request):
    return Response(HIDDEN_COLUMNS_CSS, content_type="text/css; charset=utf-8",
                    headers={"cache-control": "max-age=3600"})


@hookimpl
def extra_css_urls():
    return [f"{BASE}/ce.css"]


@hookimpl
def register_routes():
    return [
        (rf"^{BASE}/ce\.css$", css_route),
        (rf"^{BASE}/clip/(?P<rid>{_SHA})/(?P<start>{_NUM})-(?P<end>{_NUM})\.mp3$", clip_route),
        (rf"^{BASE}/audio/(?P<rid>{_SHA})\.mp3$", audio_route),
        (rf"^{BASE}/overview/(?P<db>[^/]+)$", overview_route),
    ]


# ---------------------------------------------------------------- table search box
def rewrite_search(path: str, query_string: bytes) -> bytes:
    """Make the segments table's own search box find Chinese words of any length.

    The index holds one token per Chinese character; Datasette would search
    for the whole typed word as one token and miss, so the query is turned
    into a phrase over characters and passed in raw mode.
    """
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if last.split(".")[0] != "segments":
        return query_string
    pairs = parse_qsl(query_string.decode("latin-1" if not query_string else "utf-8"),
                      keep_blank_values=True)
    if not any(k == "_search" and v.strip() for k, v in pairs) or any(k == "_searchmode" for k, _ in pairs):
        return query_string
    new = [(k, search_query(v) if k == "_search" else v) for k, v in pairs] + [("_searchmode", "raw")]
    return urlencode(new).encode()


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def inner(scope, receive, send):
            if scope.get("type") == "http" and scope.get("query_string"):
                qs = rewrite_search(scope.get("path", ""), scope["query_string"])
                if qs is not scope["query_string"]:
                    scope = dict(scope, query_string=qs)
            await app(scope, receive, send)

        return inner

    return wrap
