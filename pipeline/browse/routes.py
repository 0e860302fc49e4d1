"""The plugin's own pages: sentence clips, whole calls, the overview and the review POST.

Audio routes accept recording ids (hex sha256), never paths, and serve bytes
with HTTP range support (Datasette's static serving has none, so browsers
could not seek).  ``ROUTES`` is the single list; ``plugin.register_routes``
hands it to Datasette with every handler behind ``auth.guarded``.
"""

from __future__ import annotations

import asyncio
import re

from datasette.utils.asgi import Response

from .. import clips
from .metadata import BASE
from .overview import overview_context
from .review import review_route

_NUM = r"\d+(?:\.\d+)?"
_SHA = r"[0-9a-f]{64}"


def ranged(request, data: bytes, content_type: str, sha256: str | None = None) -> Response:
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


async def _serve_cut(request, cut) -> Response:
    """Cut (or find) a clip and serve it; a clip evicted from the cache meanwhile is cut again."""
    for attempt in range(2):
        try:
            path = await asyncio.to_thread(cut)
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            if attempt:
                raise
            continue
        except clips.ClipError as e:
            return Response.text(str(e), status=404 if "no longer" in str(e) else 400)
        return ranged(request, data, "audio/mpeg", clips.clip_sha256(path))
    raise AssertionError("unreachable")


async def clip_route(datasette, request) -> Response:
    rid = request.url_vars["rid"]
    start, end = float(request.url_vars["start"]), float(request.url_vars["end"])
    rec = await _recording(datasette, rid)
    if rec is None:
        return _not_found("unknown recording")
    if rec["duration"]:
        end = min(end, float(rec["duration"]) + 0.5)
    return await _serve_cut(request, lambda: clips.cut(rid, start, end, rec["path"],
                                                       normalised=rec["normalised"]))


async def audio_route(datasette, request) -> Response:
    rid = request.url_vars["rid"]
    rec = await _recording(datasette, rid)
    if rec is None:
        return _not_found("unknown recording")
    return await _serve_cut(request, lambda: clips.whole(rid, rec["path"],
                                                         normalised=rec["normalised"]))


async def overview_route(datasette, request) -> Response:
    name = request.url_vars["db"]
    if name not in datasette.databases:
        return _not_found("unknown database")
    context = await overview_context(datasette.get_database(name), name)
    html = await datasette.render_template("ce_overview.html", context, request=request)
    return Response.html(html)


ROUTES = [
    (rf"^{BASE}/clip/(?P<rid>{_SHA})/(?P<start>{_NUM})-(?P<end>{_NUM})\.mp3$", clip_route),
    (rf"^{BASE}/audio/(?P<rid>{_SHA})\.mp3$", audio_route),
    (rf"^{BASE}/overview/(?P<db>[^/]+)$", overview_route),
    (rf"^{BASE}/review/(?P<db>[^/]+)$", review_route),
]
