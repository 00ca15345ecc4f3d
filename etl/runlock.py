"""The run lock of a DuckDB main store: one writing run at a time, listings beside it, never a hang.

A lock file beside the store (`<store>.lock`) is locked with portalocker (fcntl.flock on POSIX,
LockFileEx on Windows), so the OS releases it when the process dies, however it dies: a holder that
died is never in the way (its lock went with it), whatever it left written down.
- a run that changes main takes it exclusively, without waiting: a second run gets exit 4, naming the
  holder, which writes down who it is (pid, host, command, start) and what it is doing now (its current
  stage) in `<store>.lock.json`. Not in the locked file itself: Windows' locks are mandatory, so
  another process could not read it;
- a listing or `status` takes it shared for the moment it reads main. Readers are quick: a run that
  finds only readers in the way waits for them a few seconds instead of failing. A reader that finds
  a run holding the lock does not wait at all: it reads the snapshot that run's predecessor left
  (etl/snapshot.py) and says which run is in progress.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import time
from pathlib import Path
from typing import IO, Any

import portalocker

from etl.errors import StoreLocked
from etl.i18n import Said

READERS_WAIT = 15.0  # seconds a run waits for listings to finish reading


def _try(handle: IO[str], flags: portalocker.LockFlags) -> bool:
    try:
        portalocker.lock(handle, flags | portalocker.LockFlags.NON_BLOCKING)
    except (portalocker.exceptions.LockException, OSError):
        return False
    return True


def info_path(lock_path: Path) -> Path:
    """Where the holder of a lock writes down who it is: `<store>.lock.json`."""
    return lock_path.with_name(lock_path.name + ".json")


def holder(lock_path: Path) -> dict[str, Any]:
    """Who holds the lock, as it wrote itself down (it may be a moment away from writing it)."""
    for _ in range(10):
        with contextlib.suppress(OSError, ValueError):
            text = info_path(lock_path).read_text(encoding="utf-8").strip()
            if text:
                info: dict[str, Any] = json.loads(text)
                return info
        time.sleep(0.02)
    return {}


def describe(info: dict[str, Any]) -> str:
    """'pid 48213, since 2026-11-27 02:00:01' (plus host and command when known)."""
    if not info.get("pid"):
        return "pid unknown"
    where = f" on {info['host']}" if info.get("host") and info["host"] != socket.gethostname() else ""
    return f"pid {info['pid']}{where}, since {info.get('started', '?')}"


class RunLock:
    """An exclusive run lock on a DuckDB store; `stage()` writes down what the run is doing now."""

    def __init__(self, handle: IO[str], lock_path: Path, info: dict[str, Any]) -> None:
        self._handle, self.info = handle, info
        self._info = info_path(lock_path).open("a+", encoding="utf-8")  # overwrites what a dead holder left
        self._write()

    def _write(self) -> None:
        self._info.seek(0)
        self._info.truncate()
        self._info.write(json.dumps(self.info, ensure_ascii=False))
        self._info.flush()

    def stage(self, text: str) -> None:
        self.info["stage"] = text[:200]
        with contextlib.suppress(OSError):
            self._write()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._info.seek(0)
            self._info.truncate()
            self._info.flush()
        self._info.close()
        with contextlib.suppress(Exception):
            portalocker.unlock(self._handle)
        self._handle.close()


def take(lock_path: Path, target: str, command: str) -> RunLock:
    """The exclusive lock, or StoreLocked (exit 4) naming the run that holds it. Waits only for readers."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_path.open("a+", encoding="utf-8")
    deadline = time.monotonic() + READERS_WAIT
    while not _try(handle, portalocker.LockFlags.EXCLUSIVE):
        if _try(handle, portalocker.LockFlags.SHARED):  # only readers hold it: they'll be done in a moment
            portalocker.unlock(handle)
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
        handle.close()
        info = holder(lock_path)
        raise StoreLocked(Said("another posync run (%(who)s) holds the main store %(target)s; wait for it to finish, "
                               "or stop it, then run again.", who=describe(info), target=str(target)))
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "started": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"), "stage": "starting"}
    return RunLock(handle, lock_path, info)


class ReadLock:
    """A shared lock held while a listing reads main; release() lets a waiting run in."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    def close(self) -> None:
        with contextlib.suppress(Exception):
            portalocker.unlock(self._handle)
        self._handle.close()


def read(lock_path: Path) -> ReadLock | dict[str, Any]:
    """A shared lock to read main, or — when a run holds it — that run's description (never waits)."""
    handle = lock_path.open("a+", encoding="utf-8")
    if _try(handle, portalocker.LockFlags.SHARED):
        return ReadLock(handle)
    handle.close()
    return holder(lock_path) or {"pid": None}
