"""The browser's one write: a person's verdict on a finding (issue 15).

``POST /-/call-evidence/review/<db>`` with ``verdict=<finding id>:<action>``
(``confirmed``, ``dismissed``, ``own_words`` or ``unreviewed``), an optional
note, Datasette's CSRF token and a signed single-use form token.  The verdict
goes through ``Store.set_review``, the code the command line uses, so both
agree and the verdict is applied again to findings rebuilt by a re-run.

Why each check:

- the route is ``guarded`` like every plugin route (under ``--password`` only
  the logged-in caseworker gets here), and the verdict records who and when;
- the CSRF token must be in the form *and* the cookie: asgi-csrf lets a POST
  without any cookie through (no session to ride on), but on a local index
  with no login there is no session either, so this route insists itself;
- the form token is signed with the server's secret, names the finding and the
  status the page showed, and is good once: a form sent twice, or a verdict on
  a finding someone has reviewed since, is refused and changes nothing;
- bodies and notes are bounded; notes are stored as text and only ever shown
  escaped.

Pages keep Datasette's read-only connection.  The write opens its own
connection for one short ``BEGIN IMMEDIATE`` transaction (WAL, busy timeout),
in a worker thread so pages keep answering, and retries if a running
``transcribe`` or ``watch`` holds the write lock longer than the timeout.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

from datasette.utils.asgi import Response
from itsdangerous import BadSignature
from markupsafe import Markup

from .. import message_reviews, reviewers
from ..store import REVIEW_NOTE_MAX, ReviewConflict, Store, StoreError, clean_note
from . import export, labels

TOKEN_NAMESPACE = "ce-review"
TOKEN_MAX_AGE_S = 12 * 3600
MAX_BODY_BYTES = 64 * 1024
WRITE_ATTEMPTS = 3
WRITE_BUSY_TIMEOUT_MS = 10_000
ACTIONS = {"confirmed": ("confirmed", None), "dismissed": ("dismissed", None),
           "own_words": ("dismissed", "own_words"), "unreviewed": ("unreviewed", None)}

# Form tokens already used (or being used) by this server process: nonce -> when.
# Tokens die with the process (the signing secret is per process), so memory is enough.
_used: dict[str, float] = {}


class Refused(Exception):
    """A request the route turns away; the message says why, and that nothing changed."""

    def __init__(self, status: int, message: str):
        if "Nothing was changed" not in message:
            message = message.rstrip(".") + ". Nothing was changed. / 未作任何更改。"
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Verdict:
    finding_id: int
    status: str
    reason: str | None
    note: str | None
    expect: str
    nonce: str
    message: bool = False  # a text-message finding (``m<id>`` in the form)

    @property
    def key(self) -> str:
        return f"m{self.finding_id}" if self.message else str(self.finding_id)


def form_token(datasette, finding_id: int | str, status: str | None) -> str:
    """A signed token for one review form: which finding (``m<id>`` for a message's), what
    status it showed, when."""
    key = finding_id if isinstance(finding_id, str) and finding_id.startswith("m") \
        else int(finding_id)
    return datasette.sign({"f": key, "s": status or "unreviewed",
                           "n": secrets.token_hex(8), "t": int(time.time())}, TOKEN_NAMESPACE)


def _read_token(datasette, token: str, finding_id: int | str) -> dict:
    try:
        data = datasette.unsign(token, TOKEN_NAMESPACE)
    except (BadSignature, TypeError, ValueError) as e:
        raise Refused(400, "This form was not made by this index (or the index was restarted): "
                           "reload the page and try again. Nothing was changed.") from e
    if not isinstance(data, dict) or data.get("f") != finding_id:
        raise Refused(400, "This form belongs to another finding. Nothing was changed.")
    if time.time() - float(data.get("t", 0)) > TOKEN_MAX_AGE_S:
        raise Refused(400, "This form is too old: reload the page and try again. "
                           "Nothing was changed.")
    return data


def parse_form(datasette, form: dict[str, str]) -> Verdict:
    """The verdict a form asks for, or ``Refused`` with what is wrong."""
    raw = form.get("verdict", "")
    key, _, action = raw.partition(":")
    message = key.startswith("m")
    fid_text = key[1:] if message else key
    if not fid_text.isdigit() or action not in ACTIONS:
        raise Refused(400, "The form did not say which finding and which verdict "
                           "(verdict=<finding id>:confirmed|dismissed|own_words|unreviewed).")
    fid = int(fid_text)
    key = f"m{fid}" if message else str(fid)
    status, reason = ACTIONS[action]
    note = form.get(f"note-{key}", form.get("note"))
    if note is not None and len(note) > REVIEW_NOTE_MAX:
        raise Refused(413, f"The note is {len(note):,} characters long; at most {REVIEW_NOTE_MAX:,} "
                           "are kept. Nothing was changed.")
    try:
        note = clean_note(note)
    except ValueError as e:
        raise Refused(400, str(e)) from e
    token = form.get(f"token-{key}", form.get("token", ""))
    data = _read_token(datasette, token, key if message else fid)
    return Verdict(fid, status, reason, note, str(data.get("s")), str(data.get("n")), message)


def _check_request(request, form: dict[str, str]) -> None:
    cookie = request.cookies.get("ds_csrftoken", "")
    sent = form.get("csrftoken", "")
    if not cookie or not sent or not secrets.compare_digest(cookie, sent):
        raise Refused(403, "The form's security token (CSRF) is missing or wrong: reload the "
                           "page and try again. Nothing was changed.")
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
        raise Refused(403, "This form was sent from another site. Nothing was changed.")


def sentence_ids(conn, finding_id: int, expect: str) -> list[int]:
    """The finding and the others of its sentence that showed the same status: one sentence
    is one review item however many rules hit it (issue 24), so one verdict covers them."""
    rows = conn.execute(
        "select f2.id from findings f join findings f2 on f2.recording_id = f.recording_id"
        " and f2.segment_id = f.segment_id where f.id = ?"
        " and coalesce(f2.review_status, 'unreviewed') = ?", [finding_id, expect]).fetchall()
    return sorted({finding_id, *(r[0] for r in rows)})


def _write(path: str, v: Verdict, who: str) -> list[int]:
    """One short transaction through ``Store.set_review``, retried while a writer holds the
    lock; the ids the verdict was given to."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            store = Store(path)
            try:
                store.conn.execute(f"PRAGMA busy_timeout={WRITE_BUSY_TIMEOUT_MS}")
                if v.message:
                    message_reviews.set_review(store, [v.finding_id], v.status, v.note,
                                               reviewed_by=who, reason=v.reason, expect=v.expect)
                    return [v.finding_id]
                ids = sentence_ids(store.conn, v.finding_id, v.expect)
                store.set_review(ids, v.status, v.note, reviewed_by=who, reason=v.reason,
                                 expect=v.expect)
                return ids
            finally:
                store.close()
        except StoreError as e:
            if "locked" not in str(e) or attempt == WRITE_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _who(request) -> str:
    """``browser:<account>`` or ``local-browser``: a code, worded per language where shown."""
    actor = request.actor
    return reviewers.browser(actor.get("id") if actor else None)


def _next_url(form: dict[str, str], db: str, fid: int | str) -> str:
    """Back where the button was (a path on this site only), at the finding's row."""
    nxt = form.get("next", "")
    if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt or "\n" in nxt:
        nxt = f"/{db}/message_findings/{str(fid)[1:]}" if str(fid).startswith("m") \
            else f"/{db}/findings/{fid}"
    return nxt.split("#", 1)[0] + f"#finding-{fid}"


def _forget_old_tokens() -> None:
    cutoff = time.time() - TOKEN_MAX_AGE_S - 60
    for nonce in [n for n, t in _used.items() if t < cutoff]:
        del _used[nonce]


async def review_route(datasette, request) -> Response:
    if request.method != "POST":
        return Response.text("Send verdicts with the buttons on a finding (POST).", status=405,
                             headers={"allow": "POST"})
    wants_json = "application/json" in request.headers.get("accept", "")
    db_name = request.url_vars["db"]
    form: dict[str, str] = {}
    try:
        length = request.headers.get("content-length") or "0"
        if not length.isdigit():
            raise Refused(400, "The request's length is not a number")
        if int(length) > MAX_BODY_BYTES:
            raise Refused(413, "The form is too large (is the note very long?). Nothing was changed.")
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip()
        if ctype != "application/x-www-form-urlencoded":
            raise Refused(415, "Send the review form as a web form. Nothing was changed.")
        body = await request.post_body()
        if len(body) > MAX_BODY_BYTES:
            raise Refused(413, "The form is too large (is the note very long?). Nothing was changed.")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        _check_request(request, form)
        db = datasette.databases.get(db_name)
        if db is None or db.is_memory or not db.path:
            raise Refused(404, f"No evidence database called {db_name!r}.")
        verdict = parse_form(datasette, form)
        _forget_old_tokens()
        if verdict.nonce in _used:
            raise Refused(409, "This form was already sent. Nothing was changed; reload the page "
                               "to see the finding's verdict.")
        _used[verdict.nonce] = time.time()
        try:
            ids = await asyncio.to_thread(_write, db.path, verdict, _who(request))
            export.forget()  # the next CSV or JSON carries the verdict at once
        except ReviewConflict as e:
            raise Refused(409, str(e)) from e
        except ValueError as e:
            raise Refused(404 if str(e).startswith("no finding") else 400, str(e)) from e
        except StoreError as e:
            _used.pop(verdict.nonce, None)  # nothing written: the same form may be sent again
            raise Refused(503, f"The verdict could not be saved: {e}") from e
    except Refused as e:
        return _refusal(datasette, request, e, wants_json, form, db_name)
    what = "Message / 短信 " if verdict.message else ""
    message = f"{what}{', '.join(f'#{i}' for i in ids)}: {labels.status(verdict.status)}"
    if wants_json:
        return Response.json({"ok": True, "finding_id": verdict.finding_id, "finding_ids": ids,
                               "status": verdict.status, "message": message})
    datasette.add_message(request, message, datasette.INFO)
    return Response.redirect(_next_url(form, db_name, verdict.key), status=303)


def _refusal(datasette, request, e: Refused, wants_json: bool, form: dict, db: str) -> Response:
    if wants_json:
        return Response.json({"ok": False, "error": e.message}, status=e.status)
    back = form.get("next", "")
    if not back.startswith("/") or back.startswith("//"):
        back = f"/{db}"
    html = Markup('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Not saved / 未保存</title>'
                  '</head><body><h1>Not saved / 未保存</h1><p class="ce-error">{m}</p>'
                  '<p><a href="{b}">Back / 返回</a></p></body></html>').format(m=e.message, b=back)
    return Response.html(str(html), status=e.status)

