"""A job's page: its progress streamed (Server-Sent Events, or a plain refresh without JavaScript), then its
result; its state as JSON; the files it made (the HTML validation report, the SQL a push would run)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from etl.console.i18n import _
from etl.console.jobs import Job
from etl.console.web import console, page

TICK = 0.25  # seconds between looks at a running job's events


def _job(request: Request) -> Job:
    job = console(request).jobs.get(request.path_params["job_id"])
    if job is None:
        raise HTTPException(404, _("no such job in this console (jobs are kept until the console stops)."))
    return job


async def jobs_page(request: Request) -> Response:
    return page(request, "jobs.html", {"jobs": console(request).jobs.recent()})


async def job_page(request: Request) -> Response:
    job = _job(request)
    return page(request, "job.html", {"job": job, "stages": job.stages(), "v": job.view.context if job.view else {}})


async def job_state(request: Request) -> Response:
    return JSONResponse(_job(request).as_json())


async def job_events(request: Request) -> Response:
    """Server-Sent Events: each progress event once (resuming after Last-Event-ID), then `done`."""
    job = _job(request)
    stopping = request.app.state.stopping
    after = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    sent = int(after) if after.isdigit() else 0

    async def stream() -> AsyncIterator[str]:
        nonlocal sent
        while not stopping.is_set():
            finished = job.done  # read before the events: none can be missed after the last look
            for event in job.events_after(sent):
                sent = event.seq
                yield f"id: {event.seq}\ndata: {json.dumps(event.as_json())}\n\n"
            if finished:
                yield f"event: done\ndata: {json.dumps({'state': job.state, 'exit_code': job.exit_code})}\n\n"
                return
            await asyncio.sleep(TICK)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def _file(job: Job, name: str) -> str:
    if job.view is None or name not in job.view.files:
        raise HTTPException(404, _("this job made no file named %(name)s.", name=name))
    return job.view.files[name]


async def job_report(request: Request) -> Response:
    """The validation report as etl/report.py renders it, for the page's frame (its own CSP)."""
    return HTMLResponse(_file(_job(request), "report.html"))


async def job_file(request: Request) -> Response:
    name = request.path_params["name"]
    body = _file(_job(request), name)
    kind = "text/html" if name.endswith(".html") else "text/plain"
    download = f'attachment; filename="job{request.path_params["job_id"]}-{name}"'  # name: one of the job's own
    return PlainTextResponse(body, media_type=kind, headers={"content-disposition": download})


ROUTES = [
    Route("/jobs", jobs_page),
    Route("/jobs/{job_id:int}", job_page),
    Route("/jobs/{job_id:int}/state", job_state),
    Route("/jobs/{job_id:int}/events", job_events),
    Route("/jobs/{job_id:int}/report", job_report),
    Route("/jobs/{job_id:int}/files/{name}", job_file),
]
