"""The landing page ("Administrar POS remotos"): status banner, the register table, the day's actions;
and Definir rutas (add, edit, remove) and Abrir carpeta, with the checks of `posync remote`."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from etl import remotes
from etl import status as status_lib
from etl.console.i18n import _, error_text
from etl.console.web import action, console, flash, page, post, reading, text, writing
from etl.errors import ConfigError, PosyncError
from etl.mapping import builtin_mappings
from etl.store import Store


def _health(row: dict[str, Any], health: status_lib.Health) -> tuple[str, str]:
    """A register's colour and why: red unreachable now or in its last import, amber when status lists it."""
    name = row["name"]
    mine = [i for i in health.items if i.register == name]
    if not row["reachable"]:
        return "bad", _("not reachable now")
    if any(i.kind == "unreadable" for i in mine):
        return "bad", _("could not be read in its last import")
    if mine:
        return "warn", "; ".join(i.message for i in mine)
    if not row["last_import"]:
        return "ok", _("reachable; nothing imported yet")
    return "ok", _("last sales %(day)s", day=row["last_sales"])


def _read(store: Store | None) -> dict[str, Any]:
    if store is None:
        return {"registers": [], "health": None, "no_store": True}
    rows = remotes.listing(store)
    health = status_lib.health(store)
    for row in rows:
        row["health"], row["health_note"] = _health(row, health)
    return {"registers": rows, "health": health, "no_store": False}


def read_landing(request: Request) -> dict[str, Any]:
    """The register table and the health, or why main can't be read right now (a run holds it)."""
    try:
        with reading(request) as store:
            return _read(store)
    except PosyncError as err:
        return {"registers": [], "health": None, "no_store": False, "unreadable": error_text(err)}


async def landing(request: Request, *, error: str | None = None, status: int = 200,
                  form: FormData | None = None) -> Response:
    data = await run_in_threadpool(read_landing, request)
    today = dt.date.today()
    return page(request, "registers.html", {
        **data, "error": error, "form": form or {}, "today": today, "yesterday": today - dt.timedelta(days=1),
        "mappings": builtin_mappings(), "selected": set(form.getlist("remote")) if form else set(),
    }, status)


async def home(request: Request) -> Response:
    return await landing(request)


@action(landing)
async def add(request: Request, form: FormData) -> Response:
    name = text(form, "name")

    def run() -> remotes.Remote:
        with writing(request, _("adding register %(name)s", name=name), create=True) as store:
            return remotes.add(store, name, text(form, "path"), text(form, "ip") or None,
                               text(form, "mapping") or "canonical", bool(text(form, "no_check")))

    r = await run_in_threadpool(run)
    flash(request, _("added %(name)s: %(engine)s database at %(path)s (mapping %(mapping)s)",
                     name=r.name, engine=r.engine, path=r.path, mapping=r.mapping))
    return RedirectResponse("/", status_code=303)


async def edit_page(request: Request, *, error: str | None = None, status: int = 200,
                    form: FormData | None = None) -> Response:
    name = request.path_params["name"]

    def read() -> remotes.Remote:
        with reading(request) as store:
            if store is None:
                raise ConfigError(_("no main store yet; add a register first."))
            return remotes.get(store, name)

    try:
        current = await run_in_threadpool(read)
    except PosyncError as err:
        return await landing(request, error=error_text(err), status=404 if "no register named" in str(err) else 409)
    values = dict(form) if form else {"path": current.path, "ip": current.ip or "", "mapping": current.mapping}
    return page(request, "register_edit.html", {"remote": current, "form": values, "error": error,
                                                "mappings": builtin_mappings()}, status)


@action(edit_page)
async def edit(request: Request, form: FormData) -> Response:
    name = request.path_params["name"]

    def run() -> remotes.Remote:
        with writing(request, _("editing register %(name)s", name=name)) as store:
            current = remotes.get(store, name)
            path = text(form, "path")
            return remotes.edit(store, name, path if path and path != current.path else None, text(form, "ip"),
                                text(form, "mapping") or None, bool(text(form, "no_check")))

    r = await run_in_threadpool(run)
    flash(request, _("updated %(name)s: %(engine)s at %(path)s (mapping %(mapping)s)",
                     name=r.name, engine=r.engine, path=r.path, mapping=r.mapping))
    return RedirectResponse("/", status_code=303)


@action(landing)
async def remove(request: Request, form: FormData) -> Response:
    name = request.path_params["name"]

    def run() -> None:
        with writing(request, _("removing register %(name)s", name=name)) as store:
            remotes.remove(store, name)

    await run_in_threadpool(run)
    flash(request, _("removed %(name)s (its imported data stays in main)", name=name))
    return RedirectResponse("/", status_code=303)


def _on_own_desktop(request: Request) -> bool:
    """Open a folder only for someone sitting at this machine: a loopback console, asked from loopback."""
    client = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(client).is_loopback
    except ValueError:
        local = False
    return console(request).config.loopback and local


@action(landing)
async def open_folder(request: Request, form: FormData) -> Response:
    """Abrir carpeta: the path always; opened in the file manager only on the user's own desktop."""
    name = request.path_params["name"]
    desktop = _on_own_desktop(request)

    def run() -> tuple[str, bool]:
        with reading(request) as store:
            if store is None:
                raise ConfigError(_("no main store yet; add a register first."))
            remote = remotes.get(store, name)
        folder, opened = remotes.open_folder(remote) if desktop else (remotes.folder_of(remote), False)
        return str(folder), opened

    folder, opened = await run_in_threadpool(run)
    flash(request, (_("opened %(folder)s", folder=folder) if opened
                    else _("folder of %(name)s: %(folder)s", name=name, folder=folder)))
    return RedirectResponse("/", status_code=303)


ROUTES = [
    Route("/", home),
    post("/registers", add),
    Route("/registers/{name}/edit", edit_page),
    post("/registers/{name}", edit),
    post("/registers/{name}/remove", remove),
    post("/registers/{name}/open", open_folder),
]
