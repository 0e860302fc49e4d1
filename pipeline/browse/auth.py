"""Who may see the evidence and what may be written: one place for both.

Datasette checks its own pages against the metadata's ``allow`` block, but a
plugin's routes are plain functions: without a check of their own they answer
anyone (issue 14: the overview, the whole calls and the clips were open under
``--password``).  ``guarded`` is that check, and ``plugin.register_routes``
wraps every route in it, so a route cannot be added without it.

The browser writes exactly one thing, a review verdict, through one route.
``refuses_write`` turns away every other request that is not a read (a POST to
a canned query was a 500; a write endpoint of a later Datasette would be a
door), before Datasette sees it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import asgi_csrf
from datasette.utils.asgi import Response
from markupsafe import Markup

from . import door
from .metadata import BASE

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Requests that may change something: logging in and out, and a review verdict.
WRITE_PATHS = re.compile(rf"^(/-/login|/-/logout|{re.escape(BASE)}/review/[^/]+)$")

_CSRF_MESSAGES = {*asgi_csrf.error_messages.values(), "CSRF validation failed"}

Handler = Callable[..., Awaitable[Response]]


def password_mode(datasette) -> bool:
    """True when the index was started with ``--password`` (every page needs the login)."""
    return door.password_mode(datasette)


async def may_view(datasette, request, database: str | None = None) -> bool:
    """The same decision Datasette makes for its own pages (view-instance, view-database)."""
    actor = request.actor
    if password_mode(datasette) and not actor:
        return False
    if not await datasette.permission_allowed(actor, "view-instance", default=True):
        return False
    if database is not None and not await datasette.permission_allowed(
            actor, "view-database", database, default=True):
        return False
    return True


def forbidden(message: str = "Log in first / 请先登录") -> Response:
    body = Markup('<!DOCTYPE html><html><head><meta charset="utf-8"><title>403</title></head>'
                  '<body><h1>403</h1><p>{m}</p><p><a href="/-/login">Log in / 登录</a></p>'
                  '</body></html>').format(m=message)
    return Response.html(str(body), status=403)


def guarded(handler: Handler) -> Handler:
    """``handler`` behind the viewing check (403 for anyone who may not see the index).

    Not ``functools.wraps``: Datasette picks a route's arguments from its
    signature, and that must be this wrapper's ``(datasette, request)``.
    """
    async def route(datasette, request):
        if not await may_view(datasette, request, request.url_vars.get("db")):
            return forbidden()
        return await handler(datasette, request)

    route.__name__ = getattr(handler, "__name__", "route")
    route.__doc__ = handler.__doc__
    route.ce_guarded = True  # type: ignore[attr-defined]
    return route


def refuses_write(scope: dict) -> bool:
    """A request that would change something and is not one of ``WRITE_PATHS``."""
    return (scope.get("type") == "http" and scope.get("method", "GET") not in READ_METHODS
            and not WRITE_PATHS.match(scope.get("path", "")))


async def send_read_only(send) -> None:
    await Response.text(
        "This evidence index is read-only. Review verdicts are given with the buttons on a "
        "finding's page. / 证据索引为只读；核查结论请在疑似违规页面上用按钮提交。",
        status=405, headers={"allow": "GET, HEAD"}).asgi_send(send)


def friendly_csrf(send):
    """``send``, but a CSRF refusal of asgi-csrf (English, terse) becomes the bilingual page
    that says nothing was changed and what to do."""
    held: list[dict] = []

    async def wrapped(message):
        if message["type"] == "http.response.start" and message.get("status") == 403 \
                and len(message.get("headers", [])) == 1:
            held.append(message)
            return
        if held and message["type"] == "http.response.body":
            start = held.pop()
            if message.get("body", b"").decode("utf-8", "replace") in _CSRF_MESSAGES:
                await door.csrf_page().asgi_send(send)
                return
            await send(start)
        await send(message)

    return wrapped


_LOCK_EMOJI = " 🔒".encode()


def drawn_lock(send):
    """``send``, but an HTML page's 🔒 (Datasette's own pages mark private ones with it)
    becomes ``cells.LOCK``, a drawn lock that needs no emoji font."""
    from .cells import LOCK

    state: dict = {"start": None, "body": b""}

    async def wrapped(message):
        if message["type"] == "http.response.start":
            ctype = dict(message.get("headers", [])).get(b"content-type", b"")
            if ctype.startswith(b"text/html"):
                state["start"] = message
                return
        elif message["type"] == "http.response.body" and state["start"] is not None:
            state["body"] += message.get("body", b"")
            if message.get("more_body"):
                return
            body = state["body"].replace(_LOCK_EMOJI, b" " + str(LOCK).encode())
            headers = [(k, v) for k, v in state["start"].get("headers", [])
                       if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**state["start"], "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    return wrapped
