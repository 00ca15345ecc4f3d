"""Examinar log: `posync log` with its filters (register, action, since, limit)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from etl import ledger, remotes
from etl.cli.options import DATE, REMOTE
from etl.console.i18n import _, error_text
from etl.console.web import convert, page, reading
from etl.errors import PosyncError

ACTIONS = ("import", "validate", "sync", "push", "restore", "catalog load", "loyalty sync", "rules sync",
           "remote add", "remote edit", "remote remove", "numbering set")
LIMIT = click.IntRange(1, 100_000)  # as `posync log --limit`


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    register = q.get("remote", "").strip() or None
    return {"register": convert(REMOTE, register, _("register")) if register else None,
            "action": q.get("action", "").strip() or None,
            "since": convert(DATE, q["since"], _("since")) if q.get("since", "").strip() else None,
            "limit": convert(LIMIT, q.get("limit", "").strip() or "50", _("limit"))}


def _read(request: Request) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": [], "names": [], "error": None, "filters": {}}
    try:
        out["filters"] = f = _filters(request)
        with reading(request) as store:
            if store is not None:
                out["rows"] = ledger.entries(store.con, f["register"], f["action"], f["since"], f["limit"])
                out["names"] = [r.name for r in remotes.all_remotes(store)]
    except PosyncError as err:
        out["error"] = error_text(err)
    return out


async def log_page(request: Request) -> Response:
    data = await run_in_threadpool(_read, request)
    bad_input = data["error"] and not data["filters"]
    since = data["filters"].get("since")
    return page(request, "log.html", {**data, "actions": ACTIONS, "q": request.query_params,
                                      "since_text": since.isoformat() if isinstance(since, dt.date) else ""},
                400 if bad_input else 200)


ROUTES = [Route("/log", log_page)]
