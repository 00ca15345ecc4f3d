"""The switch "Sincronización automática cada N minutos": start and stop the console's `watch` loop."""

from __future__ import annotations

import click
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from etl.console.i18n import _
from etl.console.routes.registers import landing
from etl.console.web import action, console, convert, flash, post, text
from etl.sync import CATALOG_MODES

EVERY = click.FloatRange(min=0.01)  # as `posync watch --every`
CATALOGS = click.Choice(CATALOG_MODES)  # as `posync watch --catalogs`


@action(landing)
async def start(request: Request, form: FormData) -> Response:
    every: float = convert(EVERY, text(form, "every", "15"), _("every"))
    catalogs: str = convert(CATALOGS, text(form, "catalogs", "partial"), _("catalogs"))
    console(request).autosync.start(every, catalogs, overwrite=bool(text(form, "overwrite")))
    flash(request, _("automatic sync started: a sync every %(n)s min.", n=f"{every:g}"))
    return RedirectResponse("/", status_code=303)


@action(landing)
async def stop(request: Request, form: FormData) -> Response:
    console(request).autosync.stop()
    flash(request, _("automatic sync stops after the cycle in progress, if any."))
    return RedirectResponse("/", status_code=303)


ROUTES = [post("/autosync/start", start), post("/autosync/stop", stop)]
