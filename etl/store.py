"""The main store: open it (DuckDB file, later PostgreSQL), hold the run lock, version its schema.

Every command talks to main through one DuckDB connection in which the main store is
attached as catalog `m` and made the default (`USE m`), so the same SQL runs whatever the
store is; temp tables (the staging area of an import) stay in DuckDB's own `temp`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
from sqlglot import exp

from etl import crash, paths, pgkeys, postgres, runlock, snapshot
from etl.engines import ENGINES, attach, is_postgres_uri
from etl.errors import ConfigError, PosyncError, StoreLocked
from etl.i18n import Said
from etl.schema import TABLES, Table

MAIN = "m"
SCHEMA_VERSION = 3
SHED_TO = "8MB"  # what shed_memory() asks DuckDB to keep: as low as it will go
# shed_memory() does nothing while DuckDB holds less: a small day's blocks are read again at once, and
# shedding each step of a 7-date range of small days made it 45% slower (7.0 s to 10.3 s)
SHED_ABOVE = 64 * 2**20


def quote(name: str) -> str:
    """A DuckDB identifier, quoted by sqlglot when it needs to be.

    >>> quote("vouchers"), quote("caja 1")
    ('vouchers', '"caja 1"')
    """
    return exp.to_identifier(name).sql("duckdb")


def _columns(table: Table) -> list[str]:
    return [f"{quote(name)} {type_}" for name, type_ in table.columns]


def _ddl(name: str, columns: list[str]) -> str:
    return f"CREATE TABLE IF NOT EXISTS {quote(name)} ({', '.join(columns)})"


def main_schema() -> list[str]:
    """DDL of the main store, version 1.

    No PRIMARY KEY constraints: merges use anti-joins on the natural keys (measured about 5x
    faster for new-key inserts than an ART key, and 4x smaller files), and the validators plus
    the tests of the merge are what keep keys unique.
    """
    t = TABLES
    stamp = ["imported_at TIMESTAMP"]
    batch = ["batch_id VARCHAR"]  # version 3: the import batch that wrote the row (NULL: before undo existed)
    return [
        _ddl("schema_version", ["version INTEGER", "applied_at TIMESTAMP"]),
        _ddl(
            "remotes",
            ["name VARCHAR", "path VARCHAR", "ip VARCHAR", "mapping VARCHAR", "engine VARCHAR",
             "added_at TIMESTAMP", "updated_at TIMESTAMP"],
        ),
        _ddl("voucher_code_owners", ["voucher_code VARCHAR", "register VARCHAR", "since TIMESTAMP", *batch]),
        _ddl("voucher_types", ["register VARCHAR", *_columns(t["voucher_types"]), *stamp, *batch]),
        _ddl("vouchers", ["register VARCHAR", *_columns(t["vouchers"]), "content_hash VARCHAR", *stamp, *batch]),
        _ddl("voucher_lines", ["register VARCHAR", *_columns(t["voucher_lines"]), *stamp]),
        _ddl("payments", ["register VARCHAR", *_columns(t["payments"]), *stamp]),
        *[_ddl(name, _columns(t[name])) for name in ("products", "customers", "taxes", "payment_methods")],
        _ddl(
            "loyalty_movements",
            ["register VARCHAR", *_columns(t["loyalty_movements"]), "content_hash VARCHAR", *stamp],
        ),
        _ddl(
            "commercial_rules",
            [*_columns(t["commercial_rules"]), "source_register VARCHAR", "content_hash VARCHAR", *stamp],
        ),
        _ddl(
            "sync_log",
            ["id VARCHAR", "logged_at TIMESTAMP", "run_id VARCHAR", "register VARCHAR", "action VARCHAR",
             "mode VARCHAR", "process_date DATE", "read BIGINT", "inserted BIGINT", "updated BIGINT",
             "skipped BIGINT", "rejected BIGINT", "status VARCHAR", "message VARCHAR"],
        ),
        _ddl(
            "import_batches",
            ["batch_id VARCHAR", "register VARCHAR", "process_date DATE", "mode VARCHAR",
             "snapshot_sha256 VARCHAR", "read BIGINT", "inserted BIGINT", "updated BIGINT",
             "skipped BIGINT", "rejected BIGINT", "status VARCHAR", "imported_at TIMESTAMP",
             *(f"{c} {type_}" for c, type_ in VERSION_3_COLUMNS["import_batches"])],
        ),
        _ddl(
            "numbering",
            ["voucher_code VARCHAR", "prefix VARCHAR", "range_from BIGINT", "range_to BIGINT",
             "valid_from DATE", "valid_to DATE", "enforce BOOLEAN"],
        ),
        _ddl(
            "pushes",
            ["push_id VARCHAR", "register VARCHAR", "mode VARCHAR", "tables VARCHAR", "plan_hash VARCHAR",
             "backup_id VARCHAR", "status VARCHAR", "created_at TIMESTAMP", "applied_at TIMESTAMP",
             "message VARCHAR"],
        ),
        _ddl("push_state", ["register VARCHAR", "table_name VARCHAR", "key VARCHAR", "row_hash VARCHAR"]),
        *VERSION_3_TABLES,
    ]


# Added by schema version 3 (etl/migrations.py creates them in older stores).
VERSION_3_TABLES = [
    _ddl("source_changes",  # vouchers changed, voided or gone at a register after their import (etl/changes.py)
         ["register VARCHAR", "process_date DATE", "voucher_code VARCHAR", "number BIGINT", "kind VARCHAR",
          "main_hash VARCHAR", "source_hash VARCHAR", "seen_at TIMESTAMP", "status VARCHAR", "reason VARCHAR",
          "accepted_at TIMESTAMP"]),
    _ddl("catalog_loads",  # which catalogs main has ever loaded: one never loaded is never pushed
         ["table_name VARCHAR", "loaded_at TIMESTAMP", "file VARCHAR", "rows BIGINT"]),
    # What an import batch replaced, kept while the batch can be undone (etl/undo.py): the vouchers it
    # overwrote (with their lines and payments) as they were, and the register's changes at source for the date.
    *(_ddl(f"batch_saved_{table}", ["saved_by VARCHAR", "register VARCHAR", *_columns(TABLES[table]),
                                    *(["content_hash VARCHAR"] if table == "vouchers" else []),
                                    "imported_at TIMESTAMP", *(["batch_id VARCHAR"] if table == "vouchers" else [])])
      for table in ("vouchers", "voucher_lines", "payments")),
    _ddl("batch_saved_source_changes",
         ["saved_by VARCHAR", "register VARCHAR", "process_date DATE", "voucher_code VARCHAR", "number BIGINT",
          "kind VARCHAR", "main_hash VARCHAR", "source_hash VARCHAR", "seen_at TIMESTAMP", "status VARCHAR",
          "reason VARCHAR", "accepted_at TIMESTAMP"]),
    _ddl("held_codes",  # voucher codes the last import of a register and date held back for a clash (codes list)
         ["voucher_code VARCHAR", "register VARCHAR", "process_date DATE", "owner VARCHAR", "vouchers BIGINT",
          "seen_at TIMESTAMP"]),
]

# Columns version 3 adds to tables that older stores have (etl/migrations.py adds them there).
VERSION_3_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "import_batches": (("identity", "VARCHAR"), ("run_id", "VARCHAR"), ("undone_at", "TIMESTAMP")),
    "vouchers": (("batch_id", "VARCHAR"),),
    "voucher_types": (("batch_id", "VARCHAR"),),
    "voucher_code_owners": (("batch_id", "VARCHAR"),),
}


MIGRATIONS: dict[int, list[str]] = {1: []}  # version -> statements run after main_schema(); later issues add


def _pg_constraints(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """Version 2, PostgreSQL main only: UNIQUE constraints on the natural keys (etl/pgkeys.py, FAULTS 41)."""
    pgkeys.add_natural_keys(con, MAIN, postgres.redact(target))


# version -> a step run for PostgreSQL main stores only, after that version's MIGRATIONS statements.
PG_MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection, str], None]] = {2: _pg_constraints}


def _version_3(con: duckdb.DuckDBPyConnection, postgres: bool) -> None:
    from etl import migrations  # it reads the merge's hash SQL, which needs this module

    migrations.version_3(con, postgres)


# version -> a step that upgrades the data of a store made by an older version (a new store has it already).
UPGRADES: dict[int, Callable[[duckdb.DuckDBPyConnection, bool], None]] = {3: _version_3}


class RunLock(Protocol):
    """What holds a run lock: the locked file of a DuckDB store, the advisory-lock session of PostgreSQL."""

    def stage(self, text: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class Store:
    """An open main store: the connection, where it lives, and the lock that keeps runs apart."""

    con: duckdb.DuckDBPyConnection
    target: str
    data_dir: Path
    _lock: RunLock | runlock.ReadLock | None = field(default=None, repr=False)
    # Run last inside every transaction, before COMMIT: a PostgreSQL main proves there that this run
    # still holds its run lock (postgres.RunLock.prove), or raises and the transaction rolls back.
    _prove: Callable[[duckdb.DuckDBPyConnection], None] | None = field(default=None, repr=False)
    run: dict[str, Any] | None = None  # a listing opened during a run: that run (pid, command, start, stage)
    as_of: str | None = None  # and when the snapshot it reads was taken (None: main itself)
    _keeping: int = field(default=0, repr=False)  # inside keeping_memory(): shed_memory() does nothing
    _limit: str | None = field(default=None, repr=False)  # DuckDB's memory_limit, which shedding restores

    def shed_memory(self) -> None:
        """Between the steps of a run, let DuckDB hand back the blocks it keeps: main's, which it reads
        again when needed, and the stage's, which it writes under the working folder's tmp/.

        Without it a day's memory grew with each register staged and each merged (a day of ten
        registers peaked at 412-435 MB, one register at 250 MB). A fixed low memory_limit bounded it
        too, but queries over every register (the checks, the plan) failed for memory at 30 registers:
        the limit is lowered only here, between queries, and each query runs under DuckDB's default.
        """
        if self._keeping or self._held() < SHED_ABOVE:
            return
        if self._limit is None:  # read once: set back from its text, the limit would shrink a little each time
            row = self.con.execute("SELECT current_setting('memory_limit')").fetchone()
            assert row is not None  # a SELECT without FROM has its one row
            self._limit = str(row[0])
        try:
            self.con.execute("SET memory_limit = ?", [SHED_TO])
        except duckdb.Error:
            pass  # what could not be written out stays in memory: nothing is lost, the run only holds more
        finally:  # set back by value: RESET restores the setting's text but leaves the buffer pool's limit low
            self.con.execute("SET memory_limit = ?", [self._limit])

    def _held(self) -> int:
        """Bytes DuckDB's buffer pool holds now (what shedding can give back)."""
        row = self.con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
        return int(row[0] or 0) if row else 0

    @contextlib.contextmanager
    def keeping_memory(self) -> Iterator[None]:
        """No shedding inside: while another thread queries through its own cursor of con (a query running
        while the limit is low could fail for memory), or when what would be written out is read back at once.
        """
        self._keeping += 1
        try:
            yield
        finally:
            self._keeping -= 1

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One main transaction: all of it commits, or none of it."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
            if self._prove is not None:
                self._prove(self.con)
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a broken connection must not hide the reason
                self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    @property
    def is_postgres(self) -> bool:
        return is_postgres_uri(self.target)

    @property
    def writing(self) -> bool:
        return isinstance(self._lock, runlock.RunLock | postgres.RunLock)

    def stage(self, text: str) -> None:
        """Say what this run is doing now, for `status` and for a second run told to wait (a run only)."""
        if isinstance(self._lock, runlock.RunLock | postgres.RunLock):  # a run (listings hold a ReadLock)
            self._lock.stage(text)

    def close(self) -> None:
        if isinstance(self._lock, runlock.RunLock):  # leave main's listings for those who read during the next run
            try:
                snapshot.write(self.con, self.data_dir)
            except (duckdb.Error, OSError):
                crash.write(self.data_dir, "snapshot")  # listings during a run show an older snapshot; no harm
        with contextlib.suppress(duckdb.Error):
            self.con.close()
        if self._lock is not None:
            self._lock.close()  # closing the file releases its lock; closing the session, the advisory lock
            self._lock = None


def resolve_target(db: str | None) -> str:
    """--db, else $POSYNC_DB, else ./posync.duckdb."""
    return db or os.environ.get("POSYNC_DB") or "posync.duckdb"


def open_store(db: str | None = None, *, create: bool = True, read_only: bool = False) -> Store:
    """Open (and migrate) the main store, holding its run lock until close().

    create: make the store if there is none (the CLI allows it only to the commands that set a store
    up, so that a mistyped --db never leaves an empty store behind). read_only: for listings and
    status: no run lock, no working folder, no migration, and nothing created.
    """
    target = resolve_target(db)
    data = paths.data_dir(target)
    if is_postgres_uri(target):
        return _open_postgres(target, data, read_only)
    path = Path(target).expanduser().absolute()
    if path.is_dir():
        raise ConfigError(Said("--db %(target)s is a folder; give the main store's file name, e.g. %(example)s.",
                               target=str(target), example=f"{path}/posync.duckdb"))
    if (read_only or not create) and not path.exists():
        raise ConfigError(Said("no main store at %(path)s; create it with `posync remote add NAME PATH`, or give the "
                               "right one with --db or POSYNC_DB.", path=str(path)))
    lock_path = path.with_name(path.name + ".lock")
    if read_only:
        return _reader(path, lock_path, target, data)
    paths.usable(data, target)
    lock = runlock.take(lock_path, target, " ".join(["posync", *sys.argv[1:]]))
    try:
        con = _connect(str(path), data)
    except BaseException:
        lock.close()
        raise
    return _migrated(Store(con, target, data, lock))


def _reader(path: Path, lock_path: Path, target: str, data: Path) -> Store:
    """A listing's view of a DuckDB store: main itself, or — while a run holds it — the last run's snapshot."""
    got = runlock.read(lock_path)
    if isinstance(got, runlock.ReadLock):
        try:
            con = _connect(str(path), None, read_only=True)
        except BaseException:
            got.close()
            raise
        snapshot.create_views(con)
        return Store(con, target, data, got)
    con = _duckdb(None)
    frozen = snapshot.path(data)
    if frozen.exists():
        attach(con, str(frozen), MAIN, ENGINES["duckdb"], read_only=True)
        con.execute(f"USE {MAIN}")
        return Store(con, target, data, run=got, as_of=snapshot.taken_at(con))
    con.execute(f"ATTACH ':memory:' AS {MAIN}")  # no run has finished yet: an empty main, same tables
    con.execute(f"USE {MAIN}")
    for statement in main_schema():
        con.execute(statement)
    snapshot.create_views(con)
    return Store(con, target, data, run=got, as_of=None)


def _migrated(store: Store) -> Store:
    """Create or migrate the schema; on any failure close the store (and drop its lock)."""
    try:
        migrate(store)
        snapshot.create_views(store.con)
    except BaseException:
        store._lock, lock = None, store._lock  # no snapshot of a store that failed to open
        store.close()
        if lock is not None:
            lock.close()
        raise
    return store


def _open_postgres(target: str, data: Path, read_only: bool = False) -> Store:
    """A PostgreSQL main store: advisory run lock on its own session, then the database attached as `m`.

    The password comes from PGPASSWORD or ~/.pgpass (libpq), never from the URI. Read-only: no lock
    (PostgreSQL's snapshots let a listing read while a run writes).
    """
    postgres.refuse_password(target, "--db")
    if read_only:
        con = _duckdb(None)
        _attach_postgres(con, target, read_only=True)
        if not current_version(con):
            con.close()
            raise ConfigError(Said("no main store in %(target)s; create it with `posync --db URI remote add NAME "
                                   "PATH`.", target=postgres.redact(target)))
        snapshot.create_views(con)
        return Store(con, target, data, run=postgres.run_in_progress(target))
    paths.usable(data, target)
    lock = postgres.take_run_lock(target, " ".join(["posync", *sys.argv[1:]]))
    try:
        con = _duckdb(data)
        _attach_postgres(con, target)
    except BaseException:
        lock.close()
        raise
    return _migrated(Store(con, target, data, lock, lambda tx: lock.prove(tx, MAIN)))  # views after migration


def _attach_postgres(con: duckdb.DuckDBPyConnection, target: str, read_only: bool = False) -> None:
    try:
        attach(con, postgres.connect_uri(target), MAIN, ENGINES["postgres"], read_only=read_only)
    except duckdb.Error as err:
        con.close()
        raise postgres.connect_error(target, err, "main store") from None
    con.execute(f"USE {MAIN}")


def _duckdb(data: Path | None) -> duckdb.DuckDBPyConnection:
    """The in-memory DuckDB connection every command works in; a writing run spills under its working folder."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    if data is not None:
        spill = data / "tmp"
        spill.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {paths.sql_string(str(spill))}")
    return con


def _connect(path: str, data: Path | None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = _duckdb(data)
    try:
        attach(con, path, MAIN, ENGINES["duckdb"], read_only=read_only)
    except duckdb.IOException as err:
        con.close()
        if "lock" in str(err).lower():
            raise StoreLocked(Said("another program holds the main store %(path)s; close it (a DuckDB shell or a "
                                   "report tool), then run again.", path=str(path))) from None
        raise PosyncError(Said("cannot open the main store %(path)s: %(why)s", path=str(path), why=str(err))) \
            from None
    except duckdb.Error as err:
        con.close()
        raise PosyncError(Said("cannot open the main store %(path)s: %(why)s; is it a DuckDB file?", path=str(path),
                               why=str(err))) from None
    con.execute(f"USE {MAIN}")
    return con


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    # current_schema(): main's own schema ('main' in a DuckDB file, 'public' in PostgreSQL, whose catalog
    # also lists information_schema and pg_catalog).
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = current_schema() "
        "AND table_name = 'schema_version'", [MAIN]
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(store: Store) -> None:
    """Create the schema on first use and run any migration the store has not seen."""
    version = current_version(store.con)
    if version > SCHEMA_VERSION:
        raise ConfigError(Said("main store %(store)s has schema version %(version)s, newer than this posync "
                               "(%(ours)s); upgrade posync.", store=store.target, version=str(version),
                               ours=str(SCHEMA_VERSION)))
    if version == SCHEMA_VERSION:
        return
    with store.transaction() as con:
        if version == 0:
            for statement in main_schema():
                con.execute(statement)
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS.get(step, []):
                con.execute(statement)
            if store.is_postgres and step in PG_MIGRATIONS:
                PG_MIGRATIONS[step](con, store.target)
            if version and step in UPGRADES:
                UPGRADES[step](con, store.is_postgres)
            if version or step == SCHEMA_VERSION:  # a new store is recorded once, at the version it was made
                con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [step])
