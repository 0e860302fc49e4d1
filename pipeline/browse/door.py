"""The door of one browse server: who is let in, the login page, logout that ends a session.

Issue 24 found the password could silently stop protecting anything: the
metadata that switched the login on was a cache file shared by every server of
the same database name, so a second ``browse`` rewrote the first's door.  Now:

- each server's configuration is its own (``serve.py`` writes it to a private
  ``mkstemp`` file, removed when the server stops), and this door decides by
  what the process itself was started with: a password hash in its environment
  or a login in its own metadata.  A server in password mode that has no hash
  to check against (its login configuration did not load) refuses every page
  but static files: it fails closed, never open;
- the login is ours (``/-/login``), in both languages, and makes a session: a
  random id kept in this process's memory and carried in the signed ``ds_actor``
  cookie.  A cookie whose session is unknown, expired or logged out is removed
  from the request before Datasette sees it, so ``/-/logout`` ends the session
  on the server: a copy of the cookie taken before is worth nothing after;
- under ``--password`` nothing but static files and the login answers without
  a session (Datasette's own pages, its debug pages and the plugin's routes
  alike); ``/`` shows the login page; after login the overview opens.

Debug pages that show how permissions are decided (``/-/allow-debug``,
``/-/permissions``) answer nobody: a caseworker never needs them.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from urllib.parse import parse_qsl, quote

from datasette.utils.asgi import Response
from markupsafe import Markup

from .metadata import ACCOUNT, BASE, PASSWORD_ENV

SESSION_MAX_AGE_S = 12 * 3600
ACTOR_COOKIE = "ds_actor"
LOGIN_CSRF_COOKIE = "ce_login"
MAX_LOGIN_BODY = 8 * 1024
# What answers without a session: the login itself and files that hold no evidence.
OPEN_PREFIXES = ("/-/static/", "/-/static-plugins/")
OPEN_PATHS = frozenset({"/-/login", "/-/logout", "/favicon.ico", "/robots.txt"})
CLOSED_PATHS = frozenset({"/-/allow-debug", "/-/permissions"})


# ---------------------------------------------------------------- this server's configuration
def password_hash(datasette) -> str | None:
    """The hash this process checks passwords against (environment, never a file)."""
    config = datasette.plugin_config("datasette-auth-passwords") or {}
    return config.get(f"{ACCOUNT}_password_hash") or os.environ.get(PASSWORD_ENV) or None


def password_mode(datasette) -> bool:
    """True when this server was started with ``--password``: its own metadata asks for a
    login, or its environment holds a password hash.  Either alone is enough (fail closed)."""
    return (datasette.metadata("allow") is not None
            or bool(datasette.plugin_config("datasette-auth-passwords"))
            or bool(os.environ.get(PASSWORD_ENV)))


def _sessions(datasette) -> dict[str, float]:
    """This server's live sessions: id -> when it expires (in memory: a restart ends all)."""
    sessions = getattr(datasette, "_ce_sessions", None)
    if sessions is None:
        sessions = datasette._ce_sessions = {}
    return sessions


def new_session(datasette) -> str:
    sessions = _sessions(datasette)
    now = time.time()
    for sid in [s for s, t in sessions.items() if t < now]:
        del sessions[sid]
    sid = secrets.token_urlsafe(18)
    sessions[sid] = now + SESSION_MAX_AGE_S
    return sid


def session_actor(datasette, cookie: str | None) -> dict | None:
    """The actor of a ``ds_actor`` cookie whose session this server still holds, else None."""
    if not cookie:
        return None
    try:
        data = datasette.unsign(cookie, "actor")
    except Exception:  # forged, another server's secret, garbage
        return None
    actor = data.get("a") if isinstance(data, dict) else None
    if not isinstance(actor, dict):
        return None
    expires = _sessions(datasette).get(str(actor.get("ce_sid", "")))
    if expires is None or expires < time.time():
        return None
    return actor


def revoke(datasette, cookie: str | None) -> None:
    actor = session_actor(datasette, cookie)
    if actor:
        _sessions(datasette).pop(str(actor.get("ce_sid")), None)


# ---------------------------------------------------------------- requests
def _cookies(scope: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k:
                    out.setdefault(k, v)
    return out


def _without_cookie(scope: dict, drop: str) -> dict:
    """The request as Datasette should see it: without the cookie ``drop``."""
    headers = []
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            parts = [p for p in value.decode("latin-1").split(";")
                     if p.strip().partition("=")[0] != drop]
            if not parts:
                continue
            value = ";".join(parts).encode("latin-1")
        headers.append((name, value))
    return {**scope, "headers": headers}


def first_database(datasette) -> str | None:
    for name, db in datasette.databases.items():
        if not db.is_memory:
            return name
    return None


def landing(datasette) -> str:
    """Where a person lands: the overview of the (first) evidence database."""
    name = first_database(datasette)
    return f"{BASE}/overview/{quote(name)}" if name else "/"


def _safe_next(nxt: str | None) -> str | None:
    if not nxt or not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt \
            or "\n" in nxt or "\r" in nxt or nxt in ("/", "/-/login", "/-/logout"):
        return None
    return nxt


async def _read_form(receive, limit: int = MAX_LOGIN_BODY) -> dict[str, str] | None:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > limit:
            return None
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _same_origin(scope: dict) -> bool:
    """A form sent from this site (or by a client that names no origin)."""
    headers = {k: v.decode("latin-1") for k, v in scope.get("headers", [])}
    origin = headers.get(b"origin")
    return not origin or origin == "null" or origin.split("://", 1)[-1] == headers.get(b"host", "")


# ---------------------------------------------------------------- pages
_PAGE = Markup(
    '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<title>{title}</title><link rel="stylesheet" href="/-/static-plugins/call-evidence/ce.css">'
    '</head><body class="ce-door"><main class="ce-door-box">{body}</main></body></html>')


def _page(title: str, body: Markup, status: int = 200, headers: dict | None = None) -> Response:
    return Response.html(str(_PAGE.format(title=title, body=body)), status=status,
                         headers=headers or {})


def login_page(error: Markup | str | None = None, nxt: str | None = None,
               status: int = 200, notice: str | None = None, scope: dict | None = None) -> Response:
    """The bilingual login page, with a double-submit token (cookie and form).  The browser's
    token is kept when it has one, so a login page opened in a second tab (or any refused
    page) does not spoil the form of the first."""
    kept = _cookies(scope).get(LOGIN_CSRF_COOKIE, "") if scope else ""
    token = kept if re.fullmatch(r"[A-Za-z0-9_-]{24,64}", kept) else secrets.token_urlsafe(18)
    body = Markup(
        '<h1>Call evidence index<br><span lang="zh">通话证据索引</span></h1>'
        '<p class="ce-door-lead">This evidence index is protected by a password. Log in to see '
        'the recordings and findings.<br><span lang="zh">此证据索引受密码保护，请登录后查看录音和疑似违规。'
        '</span></p>')
    if notice:
        body += Markup('<p class="ce-door-notice">{n}</p>').format(n=notice)
    if error:
        body += Markup('<p class="ce-error" role="alert">{e}</p>').format(e=error)
    body += Markup(
        '<form method="post" action="/-/login" class="ce-login">'
        '<input type="hidden" name="ce_token" value="{t}">'
        '<input type="hidden" name="next" value="{n}">'
        '<p><label for="ce-user">User name / 用户名</label><br>'
        '<input id="ce-user" type="text" name="username" value="{a}" autocomplete="username"></p>'
        '<p><label for="ce-password">Password / 密码</label><br>'
        '<input id="ce-password" type="password" name="password" autocomplete="current-password" '
        'autofocus></p>'
        '<p><button type="submit">Log in / 登录</button></p></form>'
        '<p class="ce-door-small">The user name is “{a}”; the password is the one given when the '
        'index was started (<code>call-evidence browse --password</code>).<br>'
        '<span lang="zh">用户名为“{a}”；密码为启动索引时设置的密码。</span></p>'
    ).format(t=token, n=nxt or "", a=ACCOUNT)
    response = _page("Log in / 登录", body, status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


def closed_page(status: int = 503) -> Response:
    body = Markup(
        '<h1>Not available / 暂不可用</h1><p class="ce-error">This index was started with a password, '
        'but its login is not set up, so it shows nothing. Stop it and start it again with '
        '<code>call-evidence browse --password</code>.<br><span lang="zh">此索引以密码方式启动，'
        '但登录设置未加载，因此不显示任何内容。请停止后用 call-evidence browse --password '
        '重新启动。</span></p>')
    return _page("Not available / 暂不可用", body, status=status)


def logout_page(datasette) -> Response:
    token = datasette.sign({"n": secrets.token_hex(6)}, "ce-logout")
    body = Markup(
        '<h1>Log out / 退出登录</h1><form method="post" action="/-/logout">'
        '<input type="hidden" name="ce_token" value="{t}">'
        '<button type="submit">Log out / 退出登录</button></form>').format(t=token)
    return _page("Log out / 退出登录", body)


def csrf_page(status: int = 403) -> Response:
    """Shown instead of Datasette's English "form-urlencoded POST field did not match cookie"."""
    body = Markup(
        '<h1>Not saved / 未保存</h1><p class="ce-error">This page was open too long, or the '
        'browser blocked a security cookie, so the form could not be checked. Nothing was '
        'changed. Go back, reload the page and try again.<br><span lang="zh">页面打开时间过长，或'
        '浏览器拦截了安全 Cookie，表单无法验证。未作任何更改。请返回并刷新页面后重试。</span></p>'
        '<p><a href="javascript:history.back()">Back / 返回</a></p>')
    return _page("Not saved / 未保存", body, status=status)


# ---------------------------------------------------------------- login and logout
async def handle_login(datasette, scope, receive, send) -> None:
    if password_hash(datasette) is None:
        if not password_mode(datasette):
            await Response.redirect(landing(datasette)).asgi_send(send)
        else:
            await closed_page().asgi_send(send)
        return
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    if scope.get("method") != "POST":
        await login_page(nxt=_safe_next(query.get("next")), scope=scope).asgi_send(send)
        return
    form = await _read_form(receive)
    if form is None:
        await login_page("The form is too large. / 表单过大。", status=413).asgi_send(send)
        return
    nxt = _safe_next(form.get("next"))
    cookie = _cookies(scope).get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, form.get("ce_token", "")) \
            or not _same_origin(scope):
        await login_page("This login form expired: please try again. / 登录表单已过期，请重试。",
                         nxt, status=403).asgi_send(send)
        return
    from datasette_auth_passwords.utils import verify_password

    if form.get("username", "").strip() != ACCOUNT or not verify_password(
            form.get("password", ""), password_hash(datasette)):
        await login_page("Wrong user name or password. / 用户名或密码错误。", nxt,
                         status=403, scope=scope).asgi_send(send)
        return
    sid = new_session(datasette)
    response = Response.redirect(nxt or landing(datasette))
    response.set_cookie(ACTOR_COOKIE, datasette.sign({"a": {"id": ACCOUNT, "ce_sid": sid}}, "actor"),
                        httponly=True, samesite="lax", path="/")
    response.set_cookie(LOGIN_CSRF_COOKIE, "", max_age=0, path="/")
    await response.asgi_send(send)


async def handle_logout(datasette, scope, receive, send) -> None:
    cookies = _cookies(scope)
    if scope.get("method") != "POST":
        if session_actor(datasette, cookies.get(ACTOR_COOKIE)):
            await logout_page(datasette).asgi_send(send)
        else:
            await Response.redirect("/").asgi_send(send)
        return
    form = await _read_form(receive) or {}
    ours = False
    try:
        ours = bool(datasette.unsign(form.get("ce_token", ""), "ce-logout"))
    except Exception:
        ours = False
    theirs = cookies.get("ds_csrftoken") and secrets.compare_digest(
        cookies.get("ds_csrftoken", ""), form.get("csrftoken", ""))
    if not (ours or theirs) or not _same_origin(scope):
        await csrf_page().asgi_send(send)
        return
    revoke(datasette, cookies.get(ACTOR_COOKIE))
    response = Response.redirect("/")
    response.set_cookie(ACTOR_COOKIE, "", max_age=0, path="/")
    await response.asgi_send(send)


# ---------------------------------------------------------------- the door itself
def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


async def door(datasette, app, scope, receive, send) -> None:
    """Everything of one request that concerns who may come in (see the module's docstring)."""
    path = scope.get("path", "")
    if path in CLOSED_PATHS or path.rstrip("/").removesuffix(".json") in CLOSED_PATHS:
        await Response.text("Not found / 未找到", status=404).asgi_send(send)
        return
    if path == "/-/login":
        await handle_login(datasette, scope, receive, send)
        return
    if path == "/-/logout":
        await handle_logout(datasette, scope, receive, send)
        return
    cookie = _cookies(scope).get(ACTOR_COOKIE)
    actor = session_actor(datasette, cookie)
    if cookie and actor is None:  # forged, expired or logged out: Datasette never sees it
        scope = _without_cookie(scope, ACTOR_COOKIE)
    if password_mode(datasette) and not is_open_path(path):
        if password_hash(datasette) is None:
            await closed_page().asgi_send(send)
            return
        if actor is None or actor.get("id") != ACCOUNT:
            nxt = path + ("?" + scope["query_string"].decode("latin-1")
                          if scope.get("query_string") else "")
            await login_page(nxt=_safe_next(nxt), status=200 if path == "/" else 403,
                             notice=None if path == "/" else "Log in first / 请先登录",
                             scope=scope).asgi_send(send)
            return
    if path == "/" and scope.get("method") in ("GET", "HEAD") and first_database(datasette):
        await Response.redirect(landing(datasette)).asgi_send(send)
        return
    await app(scope, receive, send)
