"""Validar, Importar sin sobrescribir, Importar sobrescribiendo: `posync validate` / `posync import` as jobs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from etl.cli.options import DATE
from etl.console.i18n import _
from etl.console.jobs import Progress, View, Work
from etl.console.routes.registers import landing
from etl.console.web import action, convert, post, start, text, texts
from etl.i18n import shown
from etl.pipeline import ImportRequest, ImportResult, import_day
from etl.report import finding_text, headline, next_steps, rejections, render
from etl.store import Store


def _request(form: FormData, validate_only: bool = False, overwrite: bool = False) -> ImportRequest:
    day: dt.date = convert(DATE, text(form, "date", "yesterday"), _("process date"))
    return ImportRequest(day, texts(form, "remote"), overwrite, bool(text(form, "all_or_nothing")), validate_only)


def report_context(result: ImportResult) -> dict[str, Any]:
    """What the result page shows of a report: the headline, each rejection in words, the next steps."""
    report = result.report
    rows = []
    for r in report.registers:
        c = result.counts.get(r.name)
        rows.append({"register": r.name, "status": r.status, "vouchers": r.vouchers, "lines": r.lines,
                     "new": r.plan.new, "unchanged": r.plan.unchanged, "changed": r.plan.changed_at_source,
                     "missing": r.plan.missing_at_register, "held_back": r.plan.held_back,
                     "error": shown(r.error) if r.error else r.error,
                     "inserted": c.inserted if c else None, "updated": c.updated if c else None,
                     "skipped": c.skipped if c else None, "rejected": c.rejected if c else None})
    return {"day": report.process_date, "headline": headline(report), "registers": rows,
            "rejections": [{"message": finding_text(f), "registers": f.registers, "code": f.voucher_code}
                           for f in rejections(report)],
            "warnings": len(report.warnings), "next_steps": next_steps(report)}


def _work(request: ImportRequest) -> Work:
    def work(store: Store, progress: Progress) -> View:
        result = import_day(store, dataclasses.replace(request, progress=progress))
        context = {**report_context(result), "validate_only": request.validate_only, "overwrite": request.overwrite}
        return View("import.html", context, result.exit_code, {"report.html": render(result.report, "html")})

    return work


@action(landing)
async def validate(request: Request, form: FormData) -> Response:
    req = _request(form, validate_only=True)
    return await start(request, _("Validate %(day)s", day=req.process_date), _work(req))


@action(landing)
async def import_(request: Request, form: FormData) -> Response:
    req = _request(form, overwrite=text(form, "mode") == "overwrite")
    title = (_("Import %(day)s, overwriting", day=req.process_date) if req.overwrite
             else _("Import %(day)s, new vouchers only", day=req.process_date))
    return await start(request, title, _work(req))


ROUTES = [post("/validate", validate), post("/import", import_)]
