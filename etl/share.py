"""Touching a register's share: every filesystem call bounded in time, and only regular files accepted.

A dead SMB/NFS share blocks open() and stat() for minutes, and a FIFO put where a database should
be blocks open() forever. posync never waits on a share longer than POSYNC_SHARE_TIMEOUT seconds
(default 30): past it, the register is unreachable for this run, a transient error that the next
run (or `watch` cycle) retries (FAULTS 2, 51). A register's path is stored as given; a symlink is
followed at each run, so repointing it takes effect at once (FAULTS 47).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from etl.errors import PosyncError, TransientError
from etl.i18n import N_, Said

T = TypeVar("T")


def timeout() -> float:
    return float(os.environ.get("POSYNC_SHARE_TIMEOUT", "30"))


class TimedOut(TransientError):
    """A share that did not answer in time; `why` is the clause that says so ("reaching the file took …")."""

    def __init__(self, register: str, why: Said) -> None:
        super().__init__(Said("register %(register)s: %(why)s; it will be retried on the next run.",
                              register=register, why=why))
        self.why = why


def bounded(register: str, what: str, fn: Callable[..., T], *args: object) -> T:
    """Run fn in a worker thread so a dead share can't hang us: TransientError after the timeout.

    A daemon thread: one stuck in open() on a dead share (or a FIFO) must not keep the process
    alive at exit, as a ThreadPoolExecutor's worker would.
    """
    value: list[T] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            value.append(fn(*args))
        except BaseException as err:  # noqa: BLE001 - handed back to the caller's thread
            error.append(err)

    worker = threading.Thread(target=work, name=f"posync-{register}", daemon=True)
    worker.start()
    worker.join(timeout())
    if worker.is_alive():  # `what` is marked with N_ by the caller
        raise TimedOut(register, Said("%(what)s took more than %(s)s s (share unreachable?)", what=Said(what),
                                      s=f"{timeout():g}"))
    if error:
        raise error[0]
    return value[0]


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return Said("a named pipe (FIFO)")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return Said("a device")
    if stat.S_ISSOCK(mode):
        return Said("a socket")
    return Said("not a regular file")


def locate(register: str, path: str) -> Path:
    """The regular file a register's path names right now (a symlink followed today, not at `remote add`).

    PosyncError (exit 1) when it is missing, a folder, or not a regular file; TransientError when the
    share does not answer in time.
    """
    try:
        mode = bounded(register, N_("reaching the file"), lambda: os.stat(path).st_mode)
    except FileNotFoundError:
        raise PosyncError(Said("register %(register)s: file not found (path %(path)s); check `posync remote "
                               "list`.", register=register, path=str(path))) from None
    except OSError as err:
        raise TransientError(Said("register %(register)s: cannot reach %(path)s (%(why)s); it will be retried "
                                  "on the next run.", register=register, path=str(path),
                                  why=str(err.strerror or err))) from None
    if stat.S_ISDIR(mode):
        raise PosyncError(Said("register %(register)s: %(path)s is a folder; `posync remote edit` it to the database "
                               "file.", register=register, path=str(path)))
    if not stat.S_ISREG(mode):
        raise PosyncError(Said("register %(register)s: %(path)s is %(kind)s, not a database file; `posync "
                               "remote edit` it to the database file.", register=register, path=str(path),
                               kind=_kind(mode)))
    return Path(bounded(register, N_("reaching the file"), os.path.realpath, path))


def regular_file(path: str, what: str = "path") -> bool | str:
    """True for a regular file; else why not, in words (for `remote add` and `remote list`). Bounded."""
    try:
        mode = bounded(what, N_("reaching the file"), lambda: os.stat(path).st_mode)
    except FileNotFoundError:
        return Said("does not exist")
    except OSError as err:
        return Said("cannot be reached (%(why)s)", why=str(err.strerror or err))
    if stat.S_ISDIR(mode):
        return Said("is a folder")
    return True if stat.S_ISREG(mode) else Said("is %(kind)s", kind=_kind(mode))
