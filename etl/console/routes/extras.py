"""Sincronizar fidelización and Sincronizar reglas comerciales: the syncs as jobs, main's balances and rules,
and the conflicts the last syncs reported (from the log, where the library wrote them)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from etl import ledger
from etl import loyalty as loyalty_lib
from etl import rules as rules_lib
from etl.console.i18n import _, error_text
from etl.console.jobs import Progress, View, Work
from etl.console.routes.registers import landing
from etl.console.web import action, page, post, reading, start, texts
from etl.errors import PosyncError
from etl.i18n import shown
from etl.store import Store
from etl.sync import ExtrasRequest, StepResult, sync_loyalty, sync_rules

SHOWN = 200  # balances shown on the page
TROUBLE = ("conflict", "rejected", "error", "warning")


def step_context(step: StepResult) -> dict[str, Any]:
    """One row per register, as `posync loyalty sync` / `posync rules sync` print them, with the details."""
    return {"step": step.step, "error": shown(step.error) if step.error else step.error,
            "rows": [{"register": o.register, "status": o.status, **o.counts.__dict__, "message": shown(o.message),
                      "details": [shown(d) for d in o.details]} for o in step.outcomes]}


def _sync_work(run: Any) -> Work:
    def work(store: Store, progress: Progress) -> View:
        step: StepResult = run(store, progress)
        return View("step.html", step_context(step), step.exit_code)

    return work


@action(landing)
async def loyalty_sync(request: Request, form: FormData) -> Response:
    names = texts(form, "remote")
    return await start(request, _("Loyalty sync"),
                       _sync_work(lambda s, p: sync_loyalty(s, ExtrasRequest(names, progress=p))))


@action(landing)
async def rules_sync(request: Request, form: FormData) -> Response:
    names = texts(form, "remote")
    return await start(request, _("Commercial rules sync"),
                       _sync_work(lambda s, p: sync_rules(s, ExtrasRequest(names, progress=p))))


def _trouble(store: Store, action_name: str) -> list[dict[str, Any]]:
    """The last syncs' log rows that need a look: conflicts, rejections, errors, holds."""
    return [r for r in ledger.entries(store.con, None, action_name, None, 50) if r["status"] in TROUBLE][:20]


def _read(request: Request, what: str, customer: str | None) -> dict[str, Any]:
    try:
        with reading(request) as store:
            if store is None:
                return {"rows": [], "moves": [], "trouble": []}
            if what == "loyalty":
                return {"rows": loyalty_lib.balances(store, customer or None),
                        "moves": loyalty_lib.movements(store, customer) if customer else [],
                        "trouble": _trouble(store, loyalty_lib.ACTION)}
            return {"rows": rules_lib.listing(store), "moves": [], "trouble": _trouble(store, rules_lib.ACTION)}
    except PosyncError as err:
        return {"rows": [], "moves": [], "trouble": [], "unreadable": error_text(err)}


async def loyalty_page(request: Request) -> Response:
    customer = request.query_params.get("customer", "").strip()
    data = await run_in_threadpool(_read, request, "loyalty", customer)
    return page(request, "loyalty.html", {**data, "customer": customer, "shown": SHOWN})


async def rules_page(request: Request) -> Response:
    data = await run_in_threadpool(_read, request, "rules", None)
    return page(request, "rules.html", data)


ROUTES = [
    Route("/loyalty", loyalty_page),
    post("/loyalty/sync", loyalty_sync),
    Route("/rules", rules_page),
    post("/rules/sync", rules_sync),
]
