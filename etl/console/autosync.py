"""Automatic sync inside the console ("Sincronización automática cada N minutos").

The same cycle as `posync watch`: etl.watch.run_once with a WatchState kept across cycles (so a
terminal failure is held until its data changes) and ticks anchored on the start (etl.watch.next_start).
Each cycle is a console job, so its progress shows like any other and it takes turns with the
buttons: a tick that finds a job running is skipped, as watch skips a tick that finds the store locked.
Stopping lets the cycle in progress finish.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from etl import watch
from etl.console.i18n import _
from etl.console.jobs import Jobs, Progress, View
from etl.errors import ConfigError, StoreLocked
from etl.sync import SyncRequest

LINES = 20  # cycle lines kept for the page


@dataclass(frozen=True)
class AutoSyncState:
    """What the page shows about the automatic sync."""

    running: bool
    stopping: bool
    every_minutes: float | None
    catalogs: str | None
    started: dt.datetime | None
    next_at: dt.datetime | None
    cycles: int
    lines: tuple[str, ...]
    job_id: int | None
    error: str | None


class AutoSync:
    def __init__(self, db: str | None, jobs: Jobs) -> None:
        self.db = db
        self.jobs = jobs
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._request: watch.WatchRequest | None = None
        self._state = watch.WatchState()
        self._started: dt.datetime | None = None
        self._next_at: dt.datetime | None = None
        self._job_id: int | None = None
        self._lines: deque[str] = deque(maxlen=LINES)
        self._error: str | None = None

    def start(self, every_minutes: float, catalogs: str, overwrite: bool = False) -> None:
        """Start cycles every N minutes; the first one now. ConfigError when already running."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise ConfigError(_("automatic sync is already running; stop it first to change its settings."))
            cycle = SyncRequest(dt.date.today(), (), overwrite, catalogs, origin="watch")
            self._request = watch.WatchRequest(every_minutes, cycle)
            self._state, self._error, self._next_at = watch.WatchState(), None, None
            self._started = dt.datetime.now()
            self._stop.clear()
            self._echo(_("automatic sync started: a sync every %(n)s min, catalogs %(mode)s.",
                         n=f"{every_minutes:g}", mode=catalogs))
            self._thread = threading.Thread(target=self._loop, name="posync-autosync", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end; a cycle in progress finishes first."""
        if self._thread is not None and self._thread.is_alive() and not self._stop.is_set():
            self._stop.set()
            self._echo(_("stop requested; the cycle in progress, if any, finishes first."))

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def state(self) -> AutoSyncState:
        running = self._thread is not None and self._thread.is_alive()
        request = self._request
        return AutoSyncState(
            running, running and self._stop.is_set(), request.every_minutes if request else None,
            request.cycle.catalogs if request else None, self._started if running else None,
            self._next_at if running else None, self._state.runs, tuple(reversed(self._lines)),
            self._job_id, self._error)

    # -- the loop ----------------------------------------------------------------------------------------

    def _echo(self, line: str) -> None:
        self._lines.append(line if line[:4].isdigit() else f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} {line}")

    def _loop(self) -> None:
        assert self._request is not None
        interval = self._request.every_minutes * 60.0
        anchor = time.monotonic()
        while not self._stop.is_set():
            if not self._cycle():
                break
            wait = watch.next_start(anchor, interval, time.monotonic()) - time.monotonic()
            self._next_at = dt.datetime.now() + dt.timedelta(seconds=max(wait, 0))
            if wait > 0 and self._stop.wait(wait):
                break
        self._echo(_("automatic sync stopped after %(n)s cycle(s).", n=self._state.runs))

    def _cycle(self) -> bool:
        """Run one cycle as a job and wait for it; False when the loop must end (a configuration error)."""
        try:
            job = self.jobs.start_plain(_("automatic sync, cycle %(n)s", n=self._state.runs + 1), self._work)
        except StoreLocked as err:
            self._echo(_("cycle %(n)s skipped: %(why)s", n=self._state.runs + 1, why=err))
            self._state.runs += 1
            return True
        self._job_id = job.id
        while not job.done:
            time.sleep(0.2)
        self._state.runs += 1
        if job.error and job.exit_code == ConfigError.exit_code:
            self._error = job.error
            self._echo(_("automatic sync stopped: %(why)s", why=job.error))
            return False
        return True

    def _work(self, progress: Progress) -> View:
        assert self._request is not None
        request = replace(self._request, cycle=replace(self._request.cycle, progress=progress))
        lines: list[str] = []

        def echo(line: str) -> None:
            lines.append(line)
            self._echo(line)

        code = watch.run_once(self.db, self._state, request, echo)
        return View("cycle.html", {"lines": lines}, code)
