"""What every page needs: the console's parts, rendering, the checked form of a POST, turns at the store."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import click
import markupsafe
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from etl import paths
from etl.console import i18n
from etl.console.autosync import AutoSync
from etl.console.config import ConsoleConfig
from etl.console.gate import Holder, StoreGate
from etl.console.jobs import Jobs, Work
from etl.console.security import FORM_LIMIT, Secrets, csrf_ok, same_origin, session_of, stale
from etl.engines import is_postgres_uri
from etl.errors import ConfigError, PosyncError, StoreLocked
from etl.i18n import Said, format_number
from etl.report import prose
from etl.store import Store, open_store

HERE = Path(__file__).parent


class Forbidden(PosyncError):
    """A POST without this session's CSRF token, or from another site (HTTP 403)."""

    exit_code = 2


@dataclass
class Console:
    """The parts of one running console, kept on app.state."""

    config: ConsoleConfig
    keys: Secrets
    gate: StoreGate = field(default_factory=StoreGate)
    jobs: Jobs = field(init=False)
    autosync: AutoSync = field(init=False)
    flashes: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.jobs = Jobs(self.config.db, self.gate)
        self.autosync = AutoSync(self.config.db, self.jobs)

    @property
    def data_dir(self) -> Path:
        return paths.data_dir(self.config.target)


def templates() -> Jinja2Templates:
    env_templates = Jinja2Templates(directory=str(HERE / "templates"))
    i18n.install(env_templates.env)
    env_templates.env.globals["when"] = when
    env_templates.env.filters["prose"] = lambda t: markupsafe.Markup(prose(str(t)))  # `cmd` → <code>, escaped
    env_templates.env.filters["num"] = lambda n: format_number(n) if isinstance(n, int) else ("" if n is None else n)
    return env_templates


def when(value: Any) -> str:
    """A timestamp as the pages show it.

    >>> when(dt.datetime(2026, 11, 26, 9, 5, 7)), when(None)
    ('2026-11-26 09:05:07', '')
    """
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return "" if value is None else str(value)


def console(request: Request) -> Console:
    found: Console = request.app.state.console  # set by app.build()
    return found


def flash(request: Request, message: str) -> None:
    """A one-line notice shown on the next page this browser loads (after a redirect)."""
    console(request).flashes.setdefault(session_of(request), []).append(message)


def page(request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    """Render a page with what every page shows: the CSRF token, automatic sync, the running job, notices."""
    c = console(request)
    common = {
        "csrf": c.keys.csrf(session_of(request)),
        "autosync": c.autosync.state(),
        "running": c.jobs.running(),
        "flashes": c.flashes.pop(session_of(request), []),
        "target": c.config.target,
        "path": request.url.path,
    }
    engine: Jinja2Templates = request.app.state.templates
    return engine.TemplateResponse(request, name, {**common, **(context or {})}, status_code=status)


def status_for(err: PosyncError) -> int:
    """HTTP status of a library error: busy store 409, bad input 400, the rest 500."""
    if isinstance(err, Forbidden):
        return 403
    if isinstance(err, StoreLocked):
        return 409
    return int(getattr(err, "status", 400 if isinstance(err, ConfigError) else 500))


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once it proves it comes from this console's own page (CSRF token, Origin)."""
    form = await request.form(max_files=0, max_fields=200, max_part_size=FORM_LIMIT)
    token = form.get("csrf")
    if not same_origin(request) or not csrf_ok(request, token if isinstance(token, str) else None):
        raise Forbidden(stale())
    return form


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def texts(form: FormData, name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip())


def convert(kind: click.ParamType[Any], value: str, what: str) -> Any:
    """A value through the CLI's own click type (the same rule and sentence as `posync … --what`)."""
    try:
        return kind.convert(value, None, None)
    except click.BadParameter as err:
        raise ConfigError(Said("%(what)s: %(why)s", what=what, why=err.message)) from None


def store_exists(c: Console) -> bool:
    target = c.config.target
    return is_postgres_uri(target) or Path(target).expanduser().exists()


@contextlib.contextmanager
def reading(request: Request) -> Iterator[Store | None]:
    """main opened read-only for one page (None when there is no store yet); during a job, the last snapshot."""
    c = console(request)
    if not store_exists(c):
        yield None
        return
    with c.gate.reading():
        store = open_store(c.config.db, read_only=True)
        try:
            yield store
        finally:
            store.close()


@contextlib.contextmanager
def writing(request: Request, title: str, create: bool = False) -> Iterator[Store]:
    """main opened for a short change made in the request itself (register add, edit, remove)."""
    c = console(request)
    with c.gate.writing(Holder(title, dt.datetime.now())):
        store = open_store(c.config.db, create=create)
        try:
            yield store
        finally:
            store.close()


async def start(request: Request, title: str, work: Work, create: bool = False) -> Response:
    """Start a job and send the browser to its page (303, so a reload does not post again)."""
    job = await run_in_threadpool(console(request).jobs.start, title, work, create=create)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


class PageFn(Protocol):
    """A page that can show itself again with an error and what the user had typed."""

    async def __call__(self, request: Request, *, error: str | None = None, status: int = 200,
                      form: FormData | None = None) -> Response: ...


Handler = Callable[[Request, FormData], Awaitable[Response]]


def action(back: PageFn) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A POST endpoint: the form is checked first (403 without the CSRF token); a library error is shown on
    the page the form came from, with the CLI's sentence and a 4xx status."""

    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            form = await checked_form(request)
            try:
                return await handler(request, form)
            except PosyncError as err:
                return await back(request, error=i18n.error_text(err), status=status_for(err), form=form)

        return endpoint

    return decorate


def post(path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    return Route(path, endpoint, methods=["POST"])
