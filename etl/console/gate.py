"""This process's own turns at the main store: many readers at once, or one writer.

DuckDB refuses to attach a file twice in one process when one of them writes ("Unique file handle
conflict"), and the store's OS lock does not see threads of the same process. So pages that read
main and jobs that write it take turns here first; another process is still kept out by the run lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from etl.console.i18n import _
from etl.errors import StoreLocked

READER_WAIT = 10.0  # seconds a writer waits for pages being read to finish


@dataclass(frozen=True)
class Holder:
    """Who writes the main store in this console: a job's title, when it started, its page."""

    title: str
    started: dt.datetime
    job_id: int | None = None


class ConsoleBusy(StoreLocked):
    """The console itself is running something that holds the main store (exit 4, like StoreLocked)."""

    def __init__(self, holder: Holder) -> None:
        self.holder = holder
        super().__init__(_("the console is running %(title)s (started %(started)s) and holds the main store; "
                           "wait for it to finish, then try again.",
                           title=holder.title, started=f"{holder.started:%Y-%m-%d %H:%M:%S}"))


class StoreGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: Holder | None = None

    @property
    def writer(self) -> Holder | None:
        return self._writer

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """A page's read. While a job writes, the page reads main as of the last finished run (the store's
        snapshot: etl/snapshot.py), which never touches the file the job holds."""
        with self._cond:
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    def enter(self, holder: Holder) -> None:
        """Become the one writer, after pages reading main itself finish; ConsoleBusy if a job writes already."""
        with self._cond:
            if self._writer is not None:
                raise ConsoleBusy(self._writer)
            self._writer = holder  # pages that start from now on read the snapshot; wait for the ones inside
            if not self._cond.wait_for(lambda: self._readers == 0, timeout=READER_WAIT):
                self._writer = None
                self._cond.notify_all()
                raise StoreLocked(_("the console is busy reading the main store; try again in a moment."))

    def leave(self) -> None:
        with self._cond:
            self._writer = None
            self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self, holder: Holder) -> Iterator[None]:
        self.enter(holder)
        try:
            yield
        finally:
            self.leave()
