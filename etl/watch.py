"""`posync watch`: run the sync cycle every N minutes until stopped ("sincronización automática").

- Cycles run in this process, one at a time. The main store is opened (and its run lock taken)
  at the start of a cycle and closed at its end, so `posync log` or `posync status` work between
  cycles, and a cron `posync sync` that lands during a cycle exits 4 (FAULTS 28).
- Ticks are anchored on the first start: start + k·interval. After a cycle, the next one starts
  at the first tick still ahead; ticks missed while a cycle overran are skipped, never run twice.
- SIGINT/SIGTERM set a flag: the cycle in progress finishes, then watch exits 0.
- A cycle that finds the store locked by another run says so and tries again on the next tick.
- Transient failures (share unreachable, file locked, timeout) are simply retried next cycle.
  Terminal ones (corrupt file, mapping or schema error, rejected data, a refused push) are reported
  once: that (step, register) is then held — left out of later cycles, with a note in the cycle's
  log row — until the register's file changes (size or mtime of the file or its -wal/-journal; for
  the catalog push, also main's catalogs), or the process date changes. The memory is this watch
  process's: a restarted watch, or a `posync sync` by hand or from cron, tries everything again.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any

from etl import catchup, crash, share
from etl.engines import ENGINES, is_postgres_uri
from etl.errors import ConfigError, PosyncError, StoreLocked, TransientError
from etl.i18n import N_, Said, _, error_text, ngettext, shown
from etl.remotes import Remote, all_remotes
from etl.schema import CATALOG_TABLES
from etl.store import Store, open_store
from etl.sync import STEPS, SyncRequest, SyncResult, run_cycle

Echo = Callable[[str], None]
Fingerprint = tuple[tuple[str, int, int] | None, ...] | None  # a register's file and sidecars


@dataclass(frozen=True)
class WatchRequest:
    """`posync watch`: the cycle to repeat (its process_date None = today at each cycle) and the pace."""

    every_minutes: float
    cycle: SyncRequest
    fixed_date: bool = False
    max_runs: int | None = None


@dataclass
class _Held:
    fingerprint: object
    process_date: dt.date
    message: str
    since: dt.datetime


@dataclass
class WatchState:
    """What watch remembers between cycles."""

    runs: int = 0
    worst: int = 0
    held: dict[tuple[str, str], _Held] = field(default_factory=dict)


def fingerprint(remote: Remote) -> Fingerprint:
    """Size and mtime of a register's file and its sidecars; None when there is no file to watch.

    Bounded in time: a dead share gives None (unknown), so a held register is simply tried again.
    """
    if is_postgres_uri(remote.path):
        return None
    engine = ENGINES.get(remote.engine, ENGINES["sqlite"])

    def stats() -> Fingerprint:
        real = os.path.realpath(remote.path)  # sidecars live beside the file a symlink points at
        out: list[tuple[str, int, int] | None] = []
        for name in (real, *[real + s for s in engine.sidecars]):
            try:
                st = os.stat(name)
            except OSError:
                out.append(None)
                continue
            out.append((name, st.st_size, st.st_mtime_ns))
        return tuple(out)

    try:
        return share.bounded(remote.name, N_("reading the file's size"), stats)
    except TransientError:
        return None


def next_start(anchor: float, interval: float, now: float) -> float:
    """The first tick (anchor + k·interval, k ≥ 1) strictly after now: missed ticks are skipped.

    >>> next_start(0.0, 60.0, 10.0), next_start(0.0, 60.0, 150.0)
    (60.0, 180.0)
    """
    k = max(1, math.floor((now - anchor) / interval) + 1)
    return anchor + k * interval


class _Stop:
    """SIGINT/SIGTERM → a flag; the loop checks it between cycles, and sleeps on it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: str | None = None
        self.in_cycle: int | None = None  # the cycle running now, if any
        self.during: int | None = None  # the cycle the signal arrived in
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signal.Signals(signum).name
        self.during = self.in_cycle
        self.event.set()

    def __enter__(self) -> _Stop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)  # None: not set from Python


CATALOG_PRINT_SQL = " UNION ALL ".join(
    f"SELECT '{t}', count(*), bit_xor(hash(x)) FROM {t} x" for t in CATALOG_TABLES
)


def prints(store: Store) -> dict[tuple[str, str], object]:
    """What must change for a held (step, register) to be retried, taken before a cycle.

    The register's file for every step; for the catalog push also main's catalogs (a refused push is
    fixed on main's side, e.g. by `posync catalogs load`).
    """
    catalogs = tuple(store.con.execute(CATALOG_PRINT_SQL).fetchall())
    out: dict[tuple[str, str], object] = {}
    for remote in all_remotes(store):
        file = fingerprint(remote)
        for step in STEPS:
            out[(step, remote.name)] = (file, catalogs) if step == "catalogs" else file
    return out


def _held_for(state: WatchState, now: dict[tuple[str, str], object],
              request: SyncRequest) -> dict[tuple[str, str], str]:
    """Drop holds whose register file, main catalogs or process date changed; the rest, with why."""
    out: dict[tuple[str, str], str] = {}
    for key, h in list(state.held.items()):
        current = now.get(key)
        if current is None or current != h.fingerprint or h.process_date != request.process_date:
            del state.held[key]
            continue
        what = Said("main's catalogs or the register's file change") if key[0] == "catalogs" else \
            Said("the register's file changes")
        out[key] = Said("not retried: %(why)s (reported %(at)s; retried when %(what)s)", why=h.message,
                        at=f"{h.since:%Y-%m-%d %H:%M:%S}", what=what)
    return out


def _remember(state: WatchState, before: dict[tuple[str, str], object], result: SyncResult,
              request: SyncRequest) -> None:
    """Hold each (step, register) that failed terminally, against what it looked like before the cycle."""
    for o in result.outcomes():
        key = (o.step, o.register)
        fingerprint_before = before.get(key)
        if o.terminal and key not in state.held and fingerprint_before is not None:
            state.held[key] = _Held(fingerprint_before, request.process_date, o.message.split("; ")[0][:200],
                                    dt.datetime.now())


def run_once(db: str | None, state: WatchState, request: WatchRequest, echo: Echo) -> int:
    """One cycle: take the store, sync, release it; print one line. Returns the cycle's exit code."""
    now = dt.datetime.now()
    cycle = request.cycle if request.fixed_date else replace(request.cycle, process_date=dt.date.today())
    stamp = _("%(at)s cycle %(n)s (%(date)s)", at=f"{now:%Y-%m-%d %H:%M:%S}", n=str(state.runs + 1),
              date=str(cycle.process_date))
    try:
        store = open_store(db)
    except StoreLocked as err:
        echo(_("%(stamp)s: skipped, %(why)s", stamp=stamp, why=error_text(err)))
        return err.exit_code
    except ConfigError:
        raise
    except PosyncError as err:
        echo(_("%(stamp)s: error: %(message)s", stamp=stamp, message=error_text(err)))
        return err.exit_code
    try:
        before = prints(store)
        if not request.fixed_date:  # --since-last up to today: a missed night, a day's last sales, nothing skipped
            names = tuple(r.name for r in all_remotes(store, cycle.remotes))
            since = catchup.since_last(store, names, cycle.process_date, look_back=catchup.LOOK_BACK_DAYS)
            cycle = replace(cycle, schedule=since.schedule)
        result = run_cycle(store, replace(cycle, hold=_held_for(state, before, cycle)))
        _remember(state, before, result, cycle)
    except ConfigError:
        raise
    except PosyncError as err:
        message = error_text(err)
        echo(_("%(stamp)s: error: %(message)s (will retry next cycle)", stamp=stamp, message=message) if err.transient
             else _("%(stamp)s: error: %(message)s", stamp=stamp, message=message))
        return err.exit_code
    except Exception as err:  # noqa: BLE001 - watch survives anything: the next cycle tries again (FAULTS 43)
        path = crash.write(store.data_dir, "watch cycle")
        echo(_("%(stamp)s: error: unexpected error (%(kind)s: %(first)s); the details are in %(path)s; the next "
               "cycle tries again", stamp=stamp, kind=type(err).__name__, first=crash.first_line(err), path=path))
        return 1
    finally:
        store.close()
    took = (dt.datetime.now() - now).total_seconds()
    echo(_("%(stamp)s: %(line)s (%(took)s s)", stamp=stamp, line=shown(result.one_line()), took=f"{took:.1f}"))
    return result.exit_code


def watch(db: str | None, request: WatchRequest, echo: Echo,
          clock: Callable[[], float] = time.monotonic) -> int:
    """Run cycles until a signal or --max-runs; 0 when stopped by a signal, else the worst cycle's code."""
    interval = request.every_minutes * 60.0
    state = WatchState()
    with _Stop() as stop:
        anchor = clock()
        runs = ngettext(", %(num)s run", ", %(num)s runs", request.max_runs) if request.max_runs else ""
        echo(_("posync watch: a sync every %(every)s min%(runs)s; stop with Ctrl-C or SIGTERM (the cycle in progress "
               "finishes).", every=f"{request.every_minutes:g}", runs=runs))
        while True:
            stop.in_cycle = state.runs + 1
            code = run_once(db, state, request, echo)
            stop.in_cycle = None
            state.runs += 1
            state.worst = max(state.worst, code)
            if stop.event.is_set() or (request.max_runs is not None and state.runs >= request.max_runs):
                break
            wait = next_start(anchor, interval, clock()) - clock()
            if wait > 0 and stop.event.wait(wait):
                break
        if stop.event.is_set():
            during = _(" during cycle %(n)s, which was finished", n=str(stop.during)) if stop.during else ""
            echo(ngettext("posync watch: %(signal)s received%(during)s; stopped after %(num)s cycle.",
                          "posync watch: %(signal)s received%(during)s; stopped after %(num)s cycles.", state.runs,
                          signal=stop.signal or "signal", during=during))
            return 0
    return state.worst
