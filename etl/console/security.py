"""The request-side guards, in one ASGI middleware, and the CSRF token every POST must carry.

- Host header: a console bound to loopback answers only to 127.0.0.1, localhost or [::1], so a web
  page elsewhere can't reach it through DNS rebinding.
- Token: when the console has one (always, off loopback), every request but /login and /static needs the
  auth cookie set by /login or by `?token=` (then dropped from the URL), or `Authorization: Bearer`.
- Body size: Content-Length and the bytes actually received are capped (an upload gets its own cap).
- Session: a random cookie per browser; the CSRF token is an HMAC of it under a per-process secret.
- Headers: a CSP without inline scripts, no framing (but the report frame), no sniffing, no referrer to other
  sites (a browser then sends its true Origin with a POST: under no-referrer it sends "null").
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from starlette.requests import Request

from etl.console.config import ConsoleConfig, size_text
from etl.console.i18n import _

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_RE = re.compile(r"[A-Za-z0-9_-]{32,64}")
FORM_LIMIT = 256 * 1024  # a form without a file: a few fields
UPLOAD_SLACK = 64 * 1024  # multipart boundaries and the small fields beside the file
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
PUBLIC = ("/login", "/static/")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"  # validators' report


class Secrets:
    """Per-process secret: CSRF tokens and auth cookies die with the console."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.key = secrets.token_bytes(32)
        self.token = config.token
        self.port = config.port
        self.session_cookie = f"posync_session_{config.port}"
        self.auth_cookie = f"posync_auth_{config.port}"

    def sign(self, what: str) -> str:
        return hmac.new(self.key, what.encode(), hashlib.sha256).hexdigest()

    def csrf(self, session: str) -> str:
        return self.sign("csrf:" + session)

    def csrf_ok(self, session: str, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(self.csrf(session), value or "")

    def token_ok(self, value: str | None) -> bool:
        return self.token is not None and value is not None and hmac.compare_digest(self.token, value)

    @property
    def auth_value(self) -> str:
        return self.sign("auth:" + (self.token or ""))


def stale() -> str:
    """What a POST without its CSRF token is told (translated when said, not when imported)."""
    return _("the form's security token is missing or stale; reload the page and try again.")


def session_of(request: Request) -> str:
    return str(request.scope["state"]["session"])


def csrf_ok(request: Request, value: str | None) -> bool:
    """Whether a POST carries this browser session's CSRF token (form field or X-CSRF-Token header)."""
    keys: Secrets = request.app.state.secrets
    return keys.csrf_ok(session_of(request), value or request.headers.get("x-csrf-token"))


def same_origin(request: Request) -> bool:
    """A browser's Origin, when sent, must be this console's own (a second fence beside the CSRF token)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urllib.parse.urlsplit(origin).netloc == request.headers.get("host", "")


def _cookies(scope: Scope) -> dict[str, str]:
    raw = b"; ".join(v for k, v in scope.get("headers", []) if k == b"cookie").decode("latin-1")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed cookie header is simply no cookie
        return {}
    return {k: m.value for k, m in jar.items()}


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return str(v.decode("latin-1"))
    return None


def _cookie(name: str, value: str, max_age: int | None = None) -> tuple[bytes, bytes]:
    age = f"; Max-Age={max_age}" if max_age is not None else ""
    return b"set-cookie", f"{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}".encode()


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Host check, token, body cap, session cookie and security headers around the whole app."""

    def __init__(self, app: ASGIApp, config: ConsoleConfig, keys: Secrets) -> None:
        self.app = app
        self.config = config
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = (_header(scope, b"host") or "").lower()
        if self.config.loopback and _hostname(host) not in LOOPBACK_HOSTS:
            await _plain(send, 421, _("this console answers only to 127.0.0.1 or localhost."))
            return
        cookies = _cookies(scope)
        session = cookies.get(self.keys.session_cookie, "")
        new_session = not SESSION_RE.fullmatch(session)
        if new_session:
            session = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["session"] = session
        extra = [_cookie(self.keys.session_cookie, session)] if new_session else []
        if self.keys.token and not await self._authorised(scope, cookies, send, extra):
            return
        limit = self._limit(scope)
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await _plain(send, 413, _too_large(limit, scope, self.config), extra)
            return
        await self.app(scope, _capped(receive, limit), _with_headers(send, scope, extra))

    def _limit(self, scope: Scope) -> int:
        if scope["path"] == "/catalogs/load":
            return self.config.max_upload_bytes + UPLOAD_SLACK
        return FORM_LIMIT

    async def _authorised(self, scope: Scope, cookies: dict[str, str], send: Send,
                          extra: list[tuple[bytes, bytes]]) -> bool:
        """True to go on; else the answer (a redirect to /login, or 401) has been sent."""
        path = scope["path"]
        if path.startswith(PUBLIC):
            return True
        if hmac.compare_digest(cookies.get(self.keys.auth_cookie, ""), self.keys.auth_value):
            return True
        bearer = (_header(scope, b"authorization") or "").removeprefix("Bearer ").strip()
        if bearer and self.keys.token_ok(bearer):
            return True
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["method"] == "GET" and self.keys.token_ok((query.get("token") or [None])[0]):
            rest = urllib.parse.urlencode({k: v for k, v in query.items() if k != "token"}, doseq=True)
            location = path + (f"?{rest}" if rest else "")
            await _plain(send, 303, _("signed in."), [(b"location", location.encode()),
                                                     _cookie(self.keys.auth_cookie, self.keys.auth_value), *extra])
            return False
        if scope["method"] == "GET":
            target = "/login?" + urllib.parse.urlencode({"next": path})
            await _plain(send, 303, _("sign in first."), [(b"location", target.encode()), *extra])
        else:
            await _plain(send, 401, _("this console needs its token: sign in at /login."), extra)
        return False


def _hostname(host: str) -> str:
    """The Host header without its port ([::1]:8765 → [::1]).

    >>> _hostname("127.0.0.1:8765"), _hostname("[::1]:80"), _hostname("localhost")
    ('127.0.0.1', '[::1]', 'localhost')
    """
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def _too_large(limit: int, scope: Scope, config: ConsoleConfig) -> str:
    if scope["path"] == "/catalogs/load":
        return _("the upload is larger than %(size)s; nothing was saved.", size=size_text(config.max_upload_bytes))
    return _("the request is larger than %(size)s; nothing was saved.", size=size_text(limit))


class BodyTooLarge(Exception):
    """The body went past its cap while being received (Content-Length was absent or wrong)."""


def _capped(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def inner() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return inner


def _with_headers(send: Send, scope: Scope, extra: list[tuple[bytes, bytes]]) -> Send:
    report = scope["path"].endswith("/report")

    async def inner(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _v in headers}
            base = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                    (b"content-security-policy", (REPORT_CSP if report else CSP).encode()),
                    (b"x-frame-options", b"SAMEORIGIN" if report else b"DENY")]
            headers += [h for h in base if h[0] not in names] + extra
            if b"cache-control" not in names:
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return inner
