"""Actualizar catálogos: load a catalog from an upload, preview the push SQL per register, push, restore.

Each action is the library call of `posync catalogs load|diff|push|restore`; the backups and the push
history are their listings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from etl import paths, remotes
from etl.catalogs import (
    MODES,
    PushRequest,
    RegisterPush,
    diff_sql,
    list_backups,
    load_catalog,
    push_catalogs,
    pushes,
    restore_backup,
)
from etl.cli.catalogs import MODE_HELP
from etl.console import uploads
from etl.console.config import size_text
from etl.console.gate import ConsoleBusy
from etl.console.i18n import _, error_text
from etl.console.jobs import Progress, View, Work
from etl.console.security import BodyTooLarge, same_origin, stale
from etl.console.web import Forbidden, action, console, page, post, reading, start, status_for, text, texts
from etl.errors import ConfigError, PosyncError
from etl.i18n import shown
from etl.schema import CATALOG_TABLES
from etl.store import Store

PREVIEW_LINES = 400  # SQL lines shown per register; the whole script is offered for download


def _read(request: Request) -> dict[str, Any]:
    c = console(request)
    out: dict[str, Any] = {"backups": list_backups(c.data_dir), "history": [], "names": []}
    try:
        with reading(request) as store:
            if store is not None:
                out["history"] = pushes(store, None, 20)
                out["names"] = [r.name for r in remotes.all_remotes(store)]
    except PosyncError as err:
        out["unreadable"] = error_text(err)
    return out


async def catalogs_page(request: Request, *, error: str | None = None, status: int = 200,
                        form: FormData | None = None) -> Response:
    data = await run_in_threadpool(_read, request)
    return page(request, "catalogs.html", {
        **data, "error": error, "form": form or {}, "modes": MODES, "mode_help": _(MODE_HELP),
        "tables": CATALOG_TABLES, "selected": set(form.getlist("remote")) if form else set(),
        "chosen_tables": set(form.getlist("table")) if form else set(),
        "max_size": size_text(console(request).config.max_upload_bytes)}, status)


# -- load ----------------------------------------------------------------------------------------------------


def _load_work(upload: uploads.Upload, table: str, merge: bool) -> Work:
    def work(store: Store, progress: Progress) -> View:
        assert upload.file is not None
        try:
            progress(table, _("checking %(file)s", file=upload.file.name))
            r = load_catalog(store, table, upload.file, merge)
        finally:
            upload.discard()  # the rows are in main now (or were refused); the copy is not needed
        return View("load.html", {"r": dataclasses.asdict(r), "file": upload.file.name})

    return work


async def load(request: Request) -> Response:
    """Receive the file into the working folder, then load it as a job (`posync catalogs load`)."""
    c = console(request)
    try:
        if not same_origin(request):
            raise Forbidden(stale())
        if c.gate.writer is not None:  # refuse before receiving a file that could not be used now
            raise ConsoleBusy(c.gate.writer)
        folder = await run_in_threadpool(paths.usable, c.data_dir, c.config.target)
        upload = await uploads.receive(request, folder, c.config.max_upload_bytes)
    except BodyTooLarge:
        size = size_text(c.config.max_upload_bytes)
        return await catalogs_page(request, error=_("the upload is larger than %(size)s; nothing was saved.",
                                                    size=size), status=413)
    except PosyncError as err:
        return await catalogs_page(request, error=error_text(err), status=status_for(err))
    table = upload.fields.get("table", "")
    try:
        if table not in CATALOG_TABLES:
            raise ConfigError(_("%(table)r is not a catalog; catalogs are %(known)s.", table=table,
                                known=", ".join(CATALOG_TABLES)))
        assert upload.file is not None
        title = _("Load %(table)s from %(file)s", table=table, file=upload.file.name)
        return await start(request, title, _load_work(upload, table, upload.fields.get("merge") == "1"), create=True)
    except PosyncError as err:
        upload.discard()
        return await catalogs_page(request, error=error_text(err), status=status_for(err))


# -- preview, push, restore ----------------------------------------------------------------------------------


def _choice(form: FormData) -> tuple[str, tuple[str, ...], tuple[str, ...], bool]:
    mode = text(form, "mode", "partial")
    if mode not in MODES:
        raise ConfigError(_("unknown push mode %(mode)r; use one of %(modes)s.", mode=mode, modes=", ".join(MODES)))
    return mode, texts(form, "remote"), texts(form, "table"), bool(text(form, "verify"))


def _preview_one(store: Store, name: str, mode: str, tables: tuple[str, ...], verify: bool) -> dict[str, Any]:
    try:
        d = diff_sql(store, name, mode, tables, verify)
    except PosyncError as err:
        return {"register": name, "error": error_text(err), "sql": "", "more": 0, "tables": [], "edits": [],
                "refusals": []}
    lines = d.sql.splitlines()
    return {"register": name, "error": None, "sql": "\n".join(lines[:PREVIEW_LINES]),
            "more": max(0, len(lines) - PREVIEW_LINES), "tables": [dataclasses.asdict(t) for t in d.tables],
            "edits": [e.describe(name) for e in d.edits if e.total], "refusals": list(d.refusals),
            "full": d.sql}


def _preview_work(mode: str, names: tuple[str, ...], tables: tuple[str, ...], verify: bool) -> Work:
    def work(store: Store, progress: Progress) -> View:
        chosen = [r.name for r in remotes.all_remotes(store, names)]
        if not chosen:
            raise ConfigError(_("no registers to push to; add one with `posync remote add NAME PATH`."))
        previews = []
        for name in chosen:
            progress(name, _("planning the %(mode)s push", mode=mode))
            previews.append(_preview_one(store, name, mode, tables, verify))
            progress(name, _("SQL ready") if not previews[-1]["error"] else previews[-1]["error"])
        files = {f"{p['register']}.sql": p.pop("full") for p in previews if "full" in p}
        code = 1 if any(p["error"] for p in previews) else 0
        return View("preview.html", {"previews": previews, "mode": mode, "names": names, "tables": tables,
                                     "verify": verify}, code, files)

    return work


@action(catalogs_page)
async def preview(request: Request, form: FormData) -> Response:
    mode, names, tables, verify = _choice(form)
    return await start(request, _("Preview the %(mode)s push", mode=mode), _preview_work(mode, names, tables, verify))


def push_rows(registers: tuple[RegisterPush, ...]) -> list[dict[str, Any]]:
    """Per register and table, as `posync catalogs push` prints them."""
    rows: list[dict[str, Any]] = []
    for r in registers:
        if not r.tables:
            rows.append({"register": r.register, "status": r.status})
        rows += [{"register": r.register, "status": r.status, **dataclasses.asdict(t)} for t in r.tables]
    return rows


def _push_work(request_: PushRequest) -> Work:
    def work(store: Store, progress: Progress) -> View:
        result = push_catalogs(store, dataclasses.replace(request_, progress=progress))
        notes = [{"register": r.register, "error": shown(r.error) if r.error else r.error, "backup_id": r.backup_id,
                  "edits": [e.describe(r.register) for e in r.edits if e.total]} for r in result.registers]
        return View("push.html", {"mode": result.mode, "rows": push_rows(result.registers), "notes": notes},
                    result.exit_code)

    return work


@action(catalogs_page)
async def push(request: Request, form: FormData) -> Response:
    mode, names, tables, verify = _choice(form)
    req = PushRequest(mode, names, tables, force=bool(text(form, "force")), verify=verify)
    return await start(request, _("Push catalogs (%(mode)s)", mode=mode), _push_work(req))


def _restore_work(register: str, backup_id: str) -> Work:
    def work(store: Store, progress: Progress) -> View:
        progress(register, _("restoring backup %(id)s", id=backup_id))
        r = restore_backup(store, register, backup_id)
        return View("restore.html", {"r": r, "error": shown(r.error) if r.error else None, "backup": backup_id,
                                     "rows": push_rows((r,))}, r.exit_code)

    return work


@action(catalogs_page)
async def restore(request: Request, form: FormData) -> Response:
    register, backup_id = text(form, "remote"), text(form, "backup")
    if not register or not backup_id:
        raise ConfigError(_("choose a backup to restore."))
    return await start(request, _("Restore backup %(id)s on %(register)s", id=backup_id, register=register),
                       _restore_work(register, backup_id))


async def home(request: Request) -> Response:
    return await catalogs_page(request)


ROUTES = [
    Route("/catalogs", home),
    post("/catalogs/load", load),
    post("/catalogs/preview", preview),
    post("/catalogs/push", push),
    post("/catalogs/restore", restore),
]
