"""The console's Starlette application: pages, static files, sign-in, error pages, and the guard around them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from etl.console.config import ConsoleConfig
from etl.console.i18n import _, error_text
from etl.console.routes import all_routes
from etl.console.security import BodyTooLarge, Guard, Secrets
from etl.console.web import HERE, Console, checked_form, page, status_for, templates, text
from etl.errors import PosyncError

SHUTDOWN_WAIT = 60.0  # seconds a stopping console gives the job in progress to finish


def _next(value: str) -> str:
    """Where to go after signing in: a path of this console only, never another site.

    >>> _next("/catalogs"), _next("//evil.example/x"), _next("https://evil.example")
    ('/catalogs', '/', '/')
    """
    return value if value.startswith("/") and not value.startswith(("//", "/\\")) else "/"


async def login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    if not request.app.state.secrets.token:
        return RedirectResponse("/", status_code=303)
    return page(request, "login.html", {"error": error, "next": _next(request.query_params.get("next", "/"))},
                status)


async def login(request: Request) -> Response:
    form = await checked_form(request)
    keys: Secrets = request.app.state.secrets
    if not keys.token_ok(text(form, "token")):
        return await login_page(request, _("that is not this console's token; it was printed when the console "
                                           "started."), 401)
    response = RedirectResponse(_next(text(form, "next", "/")), status_code=303)
    response.set_cookie(keys.auth_cookie, keys.auth_value, httponly=True, samesite="strict")
    return response


async def library_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PosyncError)
    return page(request, "error.html", {"error": error_text(exc)}, status_for(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return page(request, "error.html", {"error": exc.detail}, exc.status_code)


async def too_large(request: Request, exc: Exception) -> Response:
    return page(request, "error.html", {"error": _("the request is too large; nothing was saved.")}, 413)


def create_app(config: ConsoleConfig) -> Starlette:
    """The console for one main store; `config` is checked (a network bind needs a token)."""
    config = config.checked()
    keys = Secrets(config)
    c = Console(config, keys)
    stopping = threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        stopping.set()  # ends the event streams, so the server can close their connections
        c.autosync.stop()
        c.autosync.join(SHUTDOWN_WAIT)
        c.jobs.wait(SHUTDOWN_WAIT)

    routes: list[Any] = [*all_routes(), Route("/login", login_page), Route("/login", login, methods=["POST"]),
                         Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        PosyncError: library_error, HTTPException: http_error, BodyTooLarge: too_large})
    app.state.console, app.state.secrets, app.state.stopping = c, keys, stopping
    app.state.templates = templates()
    app.add_middleware(Guard, config=config, keys=keys)
    return app
