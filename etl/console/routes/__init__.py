"""One module per page; each exports ROUTES. A POST handler reads its form through web.checked_form."""

from __future__ import annotations

from starlette.routing import BaseRoute

from etl.console.routes import autosync, catalogs, extras, imports, jobs, log, registers


def all_routes() -> list[BaseRoute]:
    return [*registers.ROUTES, *imports.ROUTES, *catalogs.ROUTES, *extras.ROUTES, *log.ROUTES, *jobs.ROUTES,
            *autosync.ROUTES]
