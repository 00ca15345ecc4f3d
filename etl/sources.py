"""The registers' snapshots for one run: copied once, one register ahead of the reading, read for every step.

A run (an import of one date or of a range, a validation, a sync cycle) copies each register to local
staging once. The copies are made on one background thread, in the order the run will read them: while
the current register is extracted (DuckDB and SQLite work, the GIL released), the next one is copied,
hashed and, when it will be read, integrity-checked (`PRAGMA quick_check`, which also releases the GIL).
At most two registers are in flight at once: the one being read and the one being copied.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from etl import crash, registers, staging
from etl.errors import PosyncError
from etl.i18n import Said
from etl.mapping import Mapping, load_mapping
from etl.remotes import Remote
from etl.store import Store

Progress = Callable[[str, str], None]
# Whether a register's fresh snapshot will be read (so checked now, on the copying thread), given its sha256
# and mapping; a snapshot already imported identically for every date it is scheduled for is never read.
WillRead = Callable[[Remote, str, Mapping], bool]
# More work on the copying thread once a register's copy is checked (a sync cycle stages its loyalty and rules
# there while the import reads the register before it). It must keep its own errors: it never raises.
Then = Callable[["Source"], None]


@dataclass
class Source:
    """One register's snapshot for the whole run: copied, hashed and checked once, read for every date."""

    remote: Remote
    mapping: Mapping | None = None
    snapshot: staging.Snapshot | None = None
    error: PosyncError | None = None
    checked: bool = False
    register: registers.Register | None = None  # opened at its first read, closed when the run's snapshots go
    dates: tuple[dt.date, ...] = ()  # the dates the run reads from it (several: its copy gets an index on the date)
    stager: _Stager | None = field(default=None, repr=False)

    def wait(self, say: Progress | None = None) -> None:
        """Block until this register's copy is made (and start the next register's)."""
        if self.stager is not None:
            self.stager.ready(self, say)


class _Stager:
    """One background thread copying registers one ahead of the reading."""

    def __init__(self, store: Store, sources: list[Source], root: Path, will_read: WillRead | None,
                 then: Then | None = None) -> None:
        self._store, self._root, self._will_read, self._then = store, root, will_read, then
        self._order = [s.remote.name for s in sources]
        self._sources = {s.remote.name: s for s in sources}
        self._futures: dict[str, Future[None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posync-copy")

    def ready(self, source: Source, say: Progress | None) -> None:
        name = source.remote.name
        self._submit(name, say)
        following = self._order.index(name) + 1
        if following < len(self._order):
            self._submit(self._order[following], say)  # copied while this one is read
        self._futures[name].result()  # _take keeps a register's error in its Source (the reader raises it)

    def _submit(self, name: str, say: Progress | None) -> None:
        """Start a register's copy (said here, on the run's own thread, when it starts)."""
        if name not in self._futures:
            if say is not None:
                say(name, Said("copying"))
            self._futures[name] = self._pool.submit(self._take, self._sources[name])

    def _take(self, source: Source) -> None:
        """On the copying thread: load the mapping, copy and hash, check when it will be read."""
        remote = source.remote
        try:
            with crash.contained(self._store.data_dir, remote.name, Said("reading it")):
                source.mapping = load_mapping(remote.mapping)
                source.snapshot = staging.stage(remote.name, remote.path, self._root)
                if self._will_read is None or self._will_read(remote, source.snapshot.sha256, source.mapping):
                    staging.check(source.snapshot)
                    source.checked = True
        except PosyncError as err:
            source.error = err
            staging.cleanup(self._root, remote.name)
            return
        if self._then is not None and source.checked:
            self._then(source)

    def settle(self) -> None:
        """Wait for every copy started so far (and its follow-up work); start no other."""
        for future in list(self._futures.values()):
            future.result()

    def close(self) -> None:
        """Stop copying: the copy in progress finishes, the ones not started are dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def staged(store: Store, remotes: list[Remote], run_id: str, will_read: WillRead | None = None,
           then: Then | None = None) -> Iterator[dict[str, Source]]:
    """Every register's Source for the block; copies are made as the run reads them and removed at the end.

    Sources come in `remotes` order, which must be the order the run first reads them (so that the
    copy made ahead is the one read next). A register that can't be copied keeps its error, reported
    wherever it was to be read.
    """
    root = store.data_dir / "staging"
    staging.cleanup(root)  # leftovers of a killed run: we hold the lock, nobody else uses them
    sources = {r.name: Source(r) for r in remotes}
    stager = _Stager(store, list(sources.values()), root / run_id, will_read, then)
    for source in sources.values():
        source.stager = stager
    try:
        yield sources
    finally:
        stager.close()
        for source in sources.values():
            release(store, source)
        staging.cleanup(root)


def settle(sources: dict[str, Source]) -> None:
    """Wait until no register's copy, nor the work that follows it, is still running on the copying thread."""
    for source in sources.values():
        if source.stager is not None:
            source.stager.settle()
            return  # one stager serves them all


def checked(source: Source, say: Progress | None = None) -> staging.Snapshot:
    """The register's snapshot, integrity-checked before its first read; its error, if it has one."""
    source.wait(say)
    if source.error is not None:
        raise source.error
    assert source.snapshot is not None
    if not source.checked:
        try:
            staging.check(source.snapshot)
        except PosyncError as err:  # a corrupt copy is corrupt for every date and every step
            source.error = err
            raise
        source.checked = True
    return source.snapshot


def release(store: Store, source: Source) -> None:
    """Close what reading the register opened and remove its copy (the run reads it no more)."""
    if source.register is not None:
        source.register.close(store.con)
        source.register = None
    if source.snapshot is not None and source.snapshot.sha256:  # a PostgreSQL register has no copy
        staging.cleanup(Path(source.snapshot.target).parent.parent, source.remote.name)
