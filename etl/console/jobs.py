"""Long work off the request: one background thread per job, its progress kept for the page to stream.

A job takes the console's writer turn (gate.py) and opens the main store in the request that starts
it, so a store held by another run is refused at once with who holds it; the thread then runs one
library call with a progress callback, closes the store and gives its turn back. At most one job
writes at a time; finished jobs are kept (the newest KEEP) so their page survives a reload.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from etl import crash, i18n, paths
from etl.console.gate import Holder, StoreGate
from etl.console.i18n import _
from etl.errors import PosyncError
from etl.store import Store, open_store, resolve_target

KEEP = 50
Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class View:
    """What a finished job shows: a template under templates/results/, its context, the exit code as the CLI's,
    and texts offered for download (name → content: the HTML report, SQL files)."""

    template: str
    context: dict[str, Any]
    exit_code: int = 0
    files: dict[str, str] = field(default_factory=dict)


Work = Callable[[Store, Progress], View]
PlainWork = Callable[[Progress], View]  # work that opens the store itself (a `watch` cycle)


@dataclass(frozen=True)
class Event:
    seq: int
    at: dt.datetime
    register: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": f"{self.at:%H:%M:%S}", "register": self.register, "message": self.message}


@dataclass
class Job:
    id: int
    title: str
    started: dt.datetime
    finished: dt.datetime | None = None
    state: str = "running"  # running | done | failed
    exit_code: int = 0
    error: str | None = None
    view: View | None = None
    events: list[Event] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, register: str, message: str) -> None:
        """The library's progress callback: one event per (register, stage or count)."""
        with self._lock:
            self.events.append(Event(len(self.events) + 1, dt.datetime.now(), register, i18n.shown(message)))

    def events_after(self, seq: int) -> list[Event]:
        with self._lock:
            return self.events[seq:]

    def stages(self) -> dict[str, Event]:
        """The latest event of each register: where each one is now."""
        with self._lock:
            return {e.register: e for e in self.events}

    @property
    def done(self) -> bool:
        return self.state != "running"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "state": self.state, "exit_code": self.exit_code,
                "error": self.error, "started": f"{self.started:%Y-%m-%d %H:%M:%S}",
                "finished": f"{self.finished:%Y-%m-%d %H:%M:%S}" if self.finished else None,
                "events": [e.as_json() for e in self.events_after(0)]}


def failure(err: BaseException, data_dir: Path) -> tuple[str, int]:
    """One sentence and the CLI's exit code for what ended a job (as etl.cli.PosyncGroup words it)."""
    if isinstance(err, PosyncError):
        return i18n.error_text(err), err.exit_code
    if isinstance(err, duckdb.Error):
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return _("database error: %(first)s", first=first), 1
    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        return f"{err.strerror or err}{where}.", 1
    path = crash.write(data_dir, "console job")
    return _("unexpected error (%(kind)s: %(line)s); the details are in %(path)s; please report it.",
             kind=type(err).__name__, line=crash.first_line(err), path=path), 1


class Jobs:
    """The console's jobs: start one (refused while another writes), look them up, wait for them."""

    def __init__(self, db: str | None, gate: StoreGate) -> None:
        self.db = db
        self.gate = gate
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, title: str, work: Work, *, create: bool = False) -> Job:
        """Take the writer turn and the store now (ConsoleBusy, StoreLocked, ConfigError raise here), then run."""
        job = self._new(title)
        self.gate.enter(Holder(title, job.started, job.id))
        try:
            store = open_store(self.db, create=create)
        except BaseException:
            self.gate.leave()
            raise
        self._keep(job)
        self._spawn(job, lambda: self._with_store(job, store, work))
        return job

    def start_plain(self, title: str, work: PlainWork) -> Job:
        """Take the writer turn and run work that opens the store itself (etl.watch.run_once)."""
        job = self._new(title)
        self.gate.enter(Holder(title, job.started, job.id))
        self._keep(job)
        self._spawn(job, lambda: work(job.progress))
        return job

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def recent(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.id, reverse=True)

    def running(self) -> Job | None:
        holder = self.gate.writer
        return self._jobs.get(holder.job_id) if holder and holder.job_id else None

    def wait(self, timeout: float) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    # -- inside ------------------------------------------------------------------------------------------

    def _new(self, title: str) -> Job:
        return Job(next(self._ids), title, dt.datetime.now())

    def _keep(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
            for old in sorted(self._jobs)[:-KEEP]:
                if self._jobs[old].done:
                    del self._jobs[old]

    def _spawn(self, job: Job, body: Callable[[], View]) -> None:
        def run() -> None:
            view: View | None = None
            try:
                view = body()
            except BaseException as err:  # noqa: BLE001 - a job's failure is shown on its page, never lost
                if os.environ.get("POSYNC_DEBUG"):
                    traceback.print_exc()
                job.error, job.exit_code = failure(err, paths.data_dir(resolve_target(self.db)))
            finally:
                self.gate.leave()  # before the job shows as done: whoever reads main next finds it free
            if view is not None:
                job.view, job.exit_code = view, view.exit_code
            job.finished = dt.datetime.now()
            job.state = "done" if view is not None else "failed"

        thread = threading.Thread(target=run, name=f"posync-job-{job.id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    @staticmethod
    def _with_store(job: Job, store: Store, work: Work) -> View:
        try:
            return work(store, job.progress)
        finally:
            store.close()
