"""Catalog push, main → registers: plan → SQL → Parquet backup → pending → one register transaction → applied.

A push can't be atomic with main (DuckDB commits one attached database per transaction), so it
is two-step: main records it `pending` (plan hash, backup id) and drops the push state of its
tables, the register applies the script in one transaction, then main marks it `applied` and
records the new state together with the log rows. A push killed in between leaves `pending` and
no usable state: the next push reads the register again (diffs again), finds what really
landed, and marks the old push `reconciled`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from etl import ledger, paths, registers, share, staging
from etl.catalogs import backup as backups
from etl.catalogs.plan import (
    HASH_TAG,
    Baseline,
    Edits,
    PushPlan,
    TablePlan,
    Target,
    create_temp,
    diff_table,
    edits_since_push,
    has_state,
    hash_sql,
    lit,
    main_source,
    refusals,
    register_rows,
    state_relation,
    target_for,
    temp_name,
)
from etl.catalogs.sql import DIALECTS, Dialect, Script, dialect_for, render
from etl.errors import ConfigError, PosyncError, TransientError
from etl.extract import check_columns, read_whole
from etl.faults import checkpoint
from etl.i18n import N_, Said, Word
from etl.ledger import Counts
from etl.mapping import Mapping, load_mapping
from etl.remotes import Remote, all_remotes, get
from etl.schema import CATALOG_TABLES
from etl.sources import Source, checked
from etl.store import Store, quote

MODES = ("partial", "total", "replace")
BUSY_SECONDS = 5.0
CANNOT_OPEN = N_("register %(register)s: cannot open %(path)s (%(why)s).")
REFUSED = N_("register %(register)s refused the push (%(why)s); nothing was changed.")


@dataclass(frozen=True)
class PushRequest:
    """One catalog push (or, with dry_run, the SQL files it would run)."""

    mode: str = "partial"
    remotes: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    dry_run: bool = False
    sql_dir: Path | None = None
    force: bool = False
    verify: bool = False
    progress: Callable[[str, str], None] | None = field(default=None, compare=False)  # (register, what now)
    # registers' snapshots the caller took (a sync cycle's): a diff that reads a register reads these
    snapshots: AbcMapping[str, Source] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TableCounts:
    table: str
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class RegisterPush:
    """What a push did at one register."""

    register: str
    status: str  # applied | unchanged | dry-run | failed | busy | refused
    tables: tuple[TableCounts, ...] = ()
    error: str | None = None
    exit_code: int = 0
    push_id: str | None = None
    backup_id: str | None = None
    sql_file: Path | None = None
    edits: tuple[Edits, ...] = ()

    @property
    def inserted(self) -> int:
        return sum(t.inserted for t in self.tables)

    @property
    def updated(self) -> int:
        return sum(t.updated for t in self.tables)

    @property
    def deleted(self) -> int:
        return sum(t.deleted for t in self.tables)


@dataclass(frozen=True)
class PushResult:
    mode: str
    registers: tuple[RegisterPush, ...]
    never_loaded: tuple[str, ...] = ()  # catalogs main never loaded: skipped, not pushed as empty

    @property
    def note(self) -> str | None:
        return never_loaded_note(self.never_loaded)

    @property
    def exit_code(self) -> int:
        """0 all done, 1 a register failed (the others went on), 2 configuration or a refusal."""
        return max((r.exit_code for r in self.registers), default=0)


@dataclass(frozen=True)
class Diff:
    """What `catalogs diff` shows: the script a push would run, and what it would do."""

    register: str
    script: Script
    tables: tuple[TableCounts, ...]
    edits: tuple[Edits, ...]
    refusals: tuple[str, ...]
    never_loaded: tuple[str, ...] = ()

    @property
    def sql(self) -> str:
        return self.script.text()


def never_loaded_note(tables: tuple[str, ...]) -> str | None:
    """The one line that says which catalogs were skipped because main never loaded them."""
    if not tables:
        return None
    return Said("%(tables)s: never loaded into main, so not pushed (a catalog main never loaded is not an empty "
                "one); load it with `posync catalogs load TABLE FILE`.", tables=", ".join(tables))


def loaded(store: Store, tables: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the tables main has ever loaded, those it never did), each in dependency order."""
    done = {r[0] for r in store.con.execute("SELECT DISTINCT table_name FROM catalog_loads").fetchall()}
    return tuple(t for t in tables if t in done), tuple(t for t in tables if t not in done)


def check_request(mode: str, tables: tuple[str, ...]) -> tuple[str, ...]:
    """The tables to push, in dependency order; ConfigError for an unknown mode or table."""
    if mode not in MODES:
        raise ConfigError(Said("unknown push mode %(mode)s; use one of %(modes)s.", mode=repr(mode),
                               modes=", ".join(MODES)))
    for table in tables:
        if table not in CATALOG_TABLES:
            raise ConfigError(Said("%(table)s is not a catalog; catalogs are %(catalogs)s.", table=repr(table),
                                   catalogs=", ".join(CATALOG_TABLES)))
    chosen = set(tables) or set(CATALOG_TABLES)
    return tuple(t for t in CATALOG_TABLES if t in chosen)


def push_catalogs(store: Store, request: PushRequest) -> PushResult:
    """Push main's catalogs to each selected register; a register that fails does not stop the others.

    A catalog main never loaded is skipped (noted, exit 0): "never loaded" is not "empty, delete them all".
    """
    tables, never = loaded(store, check_request(request.mode, request.tables))
    remotes = all_remotes(store, request.remotes)
    if not remotes:
        raise ConfigError(Said("no registers to push to; add one with `posync remote add NAME PATH`."))
    if not tables:
        return PushResult(request.mode, (), never)
    run_id = ledger.new_run_id()
    sql_dir = request.sql_dir
    if request.dry_run and sql_dir is None:
        sql_dir = paths.confined(store.data_dir, "sql", run_id)
    say = request.progress or (lambda _r, _m: None)
    results = []
    for remote in remotes:
        say(remote.name, Said("%(mode)s push", mode=Word("status", request.mode)))
        results.append(_guarded(store, remote, request, tables, sql_dir, run_id))
        say(remote.name, Word("status", results[-1].status))
    return PushResult(request.mode, tuple(results), never)


def diff_sql(store: Store, remote: str, mode: str = "partial", tables: tuple[str, ...] = (),
             verify: bool = False) -> Diff:
    """The SQL a push to one register would run, and its counts; changes nothing anywhere."""
    chosen, never = loaded(store, check_request(mode, tables))
    register = get(store, remote)
    run_id = ledger.new_run_id()
    with _Session(store, register, run_id) as session:
        plan = session.plan(mode, chosen, verify)
        script = render(store.con, plan, session.dialect, _header(register, plan))
        return Diff(register.name, script, _counts(plan), plan.edits, tuple(refusals(plan)), never)


def restore_backup(store: Store, remote: str, backup_id: str) -> RegisterPush:
    """Put back, at the register, the rows a push changed or deleted, and remove the rows it added.

    The restore is itself applied like a push (its own backup first, pending, one transaction,
    applied), and it drops main's push state for those tables, so the next push reads the register.
    """
    register = get(store, remote)
    manifest = backups.read_manifest(store.data_dir, backup_id)
    if manifest.register != register.name:
        raise ConfigError(Said("backup %(backup)s was taken from register %(owner)s, not %(register)s; restore it "
                               "with --remote %(owner)s.", backup=backup_id, owner=manifest.register,
                               register=register.name))
    run_id = ledger.new_run_id()
    with _Session(store, register, run_id) as session:
        plan = session.restore_plan(manifest)
        return session.apply(plan, "restore", run_id, action="restore",
                             note=f"restore of backup {backup_id}")


def _guarded(store: Store, remote: Remote, request: PushRequest, tables: tuple[str, ...], sql_dir: Path | None,
             run_id: str) -> RegisterPush:
    """One register; its failure is logged and reported, and the next register goes on."""
    try:
        try:
            source = (request.snapshots or {}).get(remote.name)
            with _Session(store, remote, run_id, source) as session:
                return session.push(request, tables, sql_dir)
        except (duckdb.Error, OSError) as err:
            raise PosyncError(Said("register %(register)s: push failed (%(why)s); see `posync catalogs history` "
                                   "for its state.", register=remote.name, why=_first_line(err))) from None
    except PosyncError as err:
        status = "busy" if err.transient else ("refused" if isinstance(err, ConfigError) else "failed")
        with store.transaction() as con:
            ledger.log(con, "push", "error", str(err), register=remote.name, mode=request.mode, run_id=run_id)
        said = err.args[0] if len(err.args) == 1 and isinstance(err.args[0], Said) else str(err)
        return RegisterPush(remote.name, status, error=said, exit_code=err.exit_code)


def _counts(plan: PushPlan) -> tuple[TableCounts, ...]:
    return tuple(TableCounts(t.target.table, t.inserted, t.updated, t.deleted, t.unchanged) for t in plan.tables)


def _header(remote: Remote, plan: PushPlan) -> tuple[str, ...]:
    lines = [f"posync catalog push to register {remote.name} ({remote.engine}, mapping {remote.mapping}): "
             f"mode {plan.mode}"]
    for t in plan.tables:
        against = "the register's current rows" if t.baseline == "register" else "what main last pushed there"
        lines.append(f"{t.summary()} (unchanged {t.unchanged:,}; compared with {against})")
    lines += [e.describe(remote.name) for e in plan.edits]
    client = "sqlite3" if remote.engine == "sqlite" else remote.engine
    dialect = DIALECTS.get(remote.engine)
    if dialect is not None and remote.engine not in ("sqlite", "duckdb"):  # PostgreSQL: psql, URI (issue 6)
        client = dialect.client
    target, stop = (dialect.target, dialect.stop_on_error) if dialect else ("REGISTER_FILE", ".bail on")
    lines += [f"Run it with the register's own client: {client} {target} < THIS_FILE",
              f"{stop} stops at the first error; the open transaction is then rolled back: all of it or none."]
    return tuple(lines)


class _Session:
    """One register during one command: its mapping, a staged copy when one is needed, temp tables."""

    def __init__(self, store: Store, remote: Remote, run_id: str, source: Source | None = None) -> None:
        self.store = store
        self.source = source  # a snapshot already taken this run, read instead of copying the register again
        self.con = store.con
        self.remote = remote
        self.run_id = run_id
        self.mapping: Mapping = load_mapping(remote.mapping)
        self.dialect: Dialect = dialect_for(remote.engine, remote.name)
        self.alias = f"push_{remote.name.replace('-', '_')}"
        self.root = paths.confined(store.data_dir, "staging", f"push-{run_id}")
        self.register: registers.Register | None = None
        self._open = contextlib.ExitStack()
        self.temps: list[str] = []

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.temps:
            with contextlib.suppress(duckdb.Error):
                self.con.execute(f"DROP TABLE IF EXISTS {name}")
        self._open.close()
        staging.cleanup(self.root)

    # -- reading the register (a staged copy, never the live file) -------------------------------------------

    def _stage(self, tables: tuple[str, ...]) -> registers.Register:
        if self.register is None:
            if self.source is not None:
                snapshot = checked(self.source)
            else:
                snapshot = staging.stage(self.remote.name, self.remote.path, self.root)
                staging.check(snapshot)
            self.register = self._open.enter_context(registers.opened(self.con, snapshot, self.mapping))
            check_columns(self.register, tables)
        return self.register

    def _select(self, register: registers.Register, table: str) -> str:
        return read_whole(self.con, register, table).sql("duckdb")

    def _temp(self, table: str, what: str) -> str:
        name = temp_name(self.remote.name, table, what)
        self.temps.append(name)
        return name

    def current_rows(self, target: Target, tables: tuple[str, ...]) -> str:
        """The register's rows of one catalog (canonical, one per key) in a temp table."""
        register = self._stage(tables)
        try:
            return register_rows(self.con, target, self._select(register, target.table),
                                 self._temp(target.table, "reg"))
        except duckdb.Error as err:
            raise PosyncError(Said("register %(register)s: reading %(source)s failed (%(why)s).",
                                       register=self.remote.name, source=target.source,
                                       why=_first_line(err))) from None

    # -- planning ---------------------------------------------------------------------------------------------

    def plan(self, mode: str, tables: tuple[str, ...], verify: bool) -> PushPlan:
        """Diff main against the state main recorded (partial), or against the register's rows."""
        name = self.remote.name
        targets = [target_for(self.mapping, t, name) for t in tables]
        plans: list[TablePlan] = []
        edits: list[Edits] = []
        for target in targets:
            self.temps.append(temp_name(name, target.table, "ops"))
            state = has_state(self.con, name, target.table)
            if mode == "partial" and state and not verify:
                baseline = Baseline("state", state_relation(name, target.table))
            else:
                current = self.current_rows(target, tables)
                if verify and state:
                    edits.append(edits_since_push(self.con, name, target, current))
                baseline = Baseline("register", current)
            plans.append(diff_table(self.con, name, target, main_source(target.table), baseline,
                                    deletes=mode != "total"))
        return PushPlan(name, mode, tuple(plans), tuple(edits))

    def restore_plan(self, manifest: backups.Manifest) -> PushPlan:
        """Backup rows vs the register's rows with those keys: partial-style SQL that undoes the push."""
        name = self.remote.name
        plans = []
        tables = tuple(e.table for e in manifest.tables)
        for entry in manifest.tables:
            target = target_for(self.mapping, entry.table, name)
            if target.source != entry.source or not set(target.names) <= set(entry.columns):
                raise ConfigError(Said(
                    "backup %(backup)s: %(table)s was saved from %(source)s (%(columns)s), which no longer matches "
                    "register %(register)s's mapping; it can't be restored automatically.",
                    backup=manifest.backup_id, table=entry.table, source=entry.source,
                    columns=", ".join(entry.columns), register=name))
            source = create_temp(self.con, self._temp(entry.table, "restore"),
                                 backups.saved_rows(self.store.data_dir, manifest, entry))
            current = self.current_rows(target, tables)
            keys = (f"SELECT CAST({quote(target.key)} AS VARCHAR) AS _key FROM {source} UNION "
                    f"{backups.inserted_keys(self.store.data_dir, manifest, entry)}")
            scoped = create_temp(self.con, self._temp(entry.table, "scope"),
                                 f"SELECT * FROM {current} WHERE _key IN ({keys})")
            plans.append(diff_table(self.con, name, target, source, Baseline("register", scoped)))
            self.temps.append(temp_name(name, target.table, "ops"))
        return PushPlan(name, "restore", tuple(plans))

    # -- pushing ----------------------------------------------------------------------------------------------

    def push(self, request: PushRequest, tables: tuple[str, ...], sql_dir: Path | None) -> RegisterPush:
        plan = self.plan(request.mode, tables, request.verify)
        refused = refusals(plan)
        if refused and not request.force:
            raise ConfigError(Said(
                "%(refusals)s: refused; check main's catalog, or rerun with --force if that is intended (the rows "
                "are backed up first).", sep="; ", refusals=tuple(refused)))
        if request.dry_run:
            return self._dry_run(plan, sql_dir)
        return self.apply(plan, request.mode, self.run_id)

    def _dry_run(self, plan: PushPlan, sql_dir: Path | None) -> RegisterPush:
        name = self.remote.name
        script = render(self.con, plan, self.dialect, _header(self.remote, plan))
        assert sql_dir is not None
        sql_dir.mkdir(parents=True, exist_ok=True)
        path = sql_dir / f"{name}.sql"
        path.write_text(script.text(), encoding="utf-8")
        with self.store.transaction() as con:
            for t in plan.tables:
                ledger.log(con, "push", "dry-run", f"{t.summary()} (dry run, SQL in {path})", register=name,
                           mode=plan.mode, counts=_log_counts(t), run_id=self.run_id)
        return RegisterPush(name, "dry-run", _counts(plan), sql_file=path, edits=plan.edits)

    def apply(self, plan: PushPlan, mode: str, run_id: str, action: str = "push", note: str = "") -> RegisterPush:
        """Backup → pending → the register's transaction → applied (or failed), with the log rows."""
        name = self.remote.name
        tables = tuple(t.target.table for t in plan.tables)
        pending = [r[0] for r in self.con.execute(
            "SELECT push_id FROM pushes WHERE register = ? AND status = 'pending'", [name]).fetchall()]
        script = render(self.con, plan, self.dialect, _header(self.remote, plan))
        if not plan.changes:
            with self.store.transaction() as con:
                _reconcile(con, pending, "register re-read: it already had main's catalogs")
                if action == "push":
                    self._record_state(con, plan)
                for t in plan.tables:
                    ledger.log(con, action, "ok", f"{t.summary()} (already up to date{_and(note)})", register=name,
                               mode=mode, counts=_log_counts(t), run_id=run_id)
            return RegisterPush(name, "unchanged", _counts(plan), edits=plan.edits)
        checkpoint("push_backup")
        push_id = backups.new_id(f"push-{name}")
        backup_id = backups.new_id(name)
        self._backup(plan, mode, backup_id, push_id)
        with self.store.transaction() as con:
            _reconcile(con, pending, f"register re-read and pushed again by {push_id}")
            con.execute(
                "INSERT INTO pushes VALUES (?, ?, ?, ?, ?, ?, 'pending', now()::TIMESTAMP, NULL, ?)",
                [push_id, name, mode, ",".join(tables), script.sha256, backup_id, plan.summary()],
            )
            con.execute(
                "DELETE FROM push_state WHERE register = ? AND table_name IN (SELECT unnest(?::VARCHAR[])) "
                "AND key IS NULL", [name, list(tables)])
        checkpoint("push_apply")
        try:
            _APPLY[self.remote.engine](self.remote, self.mapping, script, [t.target for t in plan.tables])
        except PosyncError as err:
            with self.store.transaction() as con:
                con.execute("UPDATE pushes SET status = 'failed', message = ? WHERE push_id = ?", [str(err), push_id])
                for t in plan.tables:  # nothing changed at the register: state recorded before is still true
                    if t.baseline == "state":
                        con.execute("INSERT INTO push_state VALUES (?, ?, NULL, ?)", [name, t.target.table, HASH_TAG])
            raise
        checkpoint("push_mark")
        with self.store.transaction() as con:
            con.execute("UPDATE pushes SET status = 'applied', applied_at = now()::TIMESTAMP WHERE push_id = ?",
                        [push_id])
            if action == "push":
                self._record_state(con, plan)
            else:
                con.execute("DELETE FROM push_state WHERE register = ? AND table_name IN (SELECT unnest(?::VARCHAR[]))",
                            [name, list(tables)])
            for t in plan.tables:
                ledger.log(con, action, "ok", f"{t.summary()} (backup {backup_id}{_and(note)})", register=name,
                           mode=mode, counts=_log_counts(t), run_id=run_id)
        return RegisterPush(name, "applied", _counts(plan), push_id=push_id, backup_id=backup_id, edits=plan.edits)

    def _backup(self, plan: PushPlan, mode: str, backup_id: str, push_id: str) -> None:
        """Save the register rows the push changes or deletes (all of them for replace) before any change."""
        items = []
        tables = tuple(t.target.table for t in plan.tables)
        for t in plan.tables:
            target = t.target
            cols = ", ".join(quote(c) for c in target.names)
            touched = f"SELECT _key FROM {t.ops} WHERE _op IN ('update', 'delete')"
            current: str | None = None
            if t.baseline == "register":
                current = temp_name(self.remote.name, target.table, "reg")
            elif t.updated or t.deleted:
                current = self.current_rows(target, tables)
            if current is None:
                saved = f"SELECT {cols} FROM {main_source(target.table)} WHERE false"
            elif mode == "replace":
                saved = f"SELECT {cols} FROM {current}"
            else:
                saved = f"SELECT {cols} FROM {current} WHERE _key IN ({touched})"
            items.append(backups.BackupItem(target, f"{saved} ORDER BY 1",
                                            f"SELECT _key FROM {t.ops} WHERE _op = 'insert' ORDER BY 1"))
        try:
            backups.write_backup(self.con, self.store.data_dir, backup_id, self.remote.name, mode,
                                 self.remote.engine, self.remote.mapping, push_id, items)
        except (OSError, duckdb.Error) as err:
            raise PosyncError(Said("register %(register)s: the backup could not be written (%(why)s); nothing "
                                   "was pushed.", register=self.remote.name, why=_first_line(err))) from None

    def _record_state(self, con: duckdb.DuckDBPyConnection, plan: PushPlan) -> None:
        """What main has now pushed there: main's (key, row hash) per table, plus the sentinel."""
        name = self.remote.name
        for t in plan.tables:
            table, key = t.target.table, quote(t.target.key)
            rows = (f"SELECT {lit(name)}, {lit(table)}, CAST({key} AS VARCHAR), CAST({hash_sql(t.target)} AS VARCHAR) "
                    f"FROM {main_source(table)} WHERE {key} IS NOT NULL")
            if t.baseline == "state":  # only the keys that changed
                changed = f"SELECT _key FROM {t.ops}"
                con.execute(f"DELETE FROM push_state WHERE register = ? AND table_name = ? AND key IN ({changed})",
                            [name, table])
                con.execute(f"INSERT INTO push_state {rows} AND CAST({key} AS VARCHAR) IN ({changed} "
                            "WHERE _op <> 'delete')")
            else:
                con.execute("DELETE FROM push_state WHERE register = ? AND table_name = ?", [name, table])
                con.execute(f"INSERT INTO push_state {rows} ORDER BY 3")
                if plan.mode == "total":  # rows main lacks stay at the register: a later partial deletes them
                    con.execute(
                        f"INSERT INTO push_state SELECT ?, ?, _key, CAST(_hash AS VARCHAR) FROM "
                        f"{temp_name(name, table, 'reg')} WHERE _key NOT IN (SELECT CAST({key} AS VARCHAR) "
                        f"FROM {main_source(table)} WHERE {key} IS NOT NULL)", [name, table])
            con.execute("DELETE FROM push_state WHERE register = ? AND table_name = ? AND key IS NULL", [name, table])
            con.execute("INSERT INTO push_state VALUES (?, ?, NULL, ?)", [name, table, HASH_TAG])


def _and(note: str) -> str:
    return f"; {note}" if note else ""


def _log_counts(t: TablePlan) -> Counts:
    return Counts(read=t.main_rows, inserted=t.inserted, updated=t.updated, skipped=t.unchanged)


def _reconcile(con: duckdb.DuckDBPyConnection, pending: list[str], message: str) -> None:
    for push_id in pending:
        con.execute("UPDATE pushes SET status = 'reconciled', message = ? WHERE push_id = ? AND status = 'pending'",
                    [f"found pending; {message}", push_id])


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


# -- applying a script at the live register: one transaction, all of it or none -----------------------------


def _expected(mapping: Mapping, targets: list[Target]) -> list[tuple[str, str, str]]:
    """(register table, register column, where the mapping says so) for every column the script writes."""
    return [(t.source, source, f"{t.table}.{canonical} (mapping {mapping.file}, "
                               f"{mapping.json_path(t.table, canonical)})")
            for t in targets for canonical, source in t.columns]


def _run(register: str, script: Script, execute: Callable[[str], object],
         columns_of: Callable[[str], set[str]], expected: list[tuple[str, str, str]]) -> None:
    """Run the statements; check the schema inside the transaction; a fault point half-way for the tests."""
    statements = script.sql
    half = len(statements) // 2
    for i, sql in enumerate(statements):
        execute(sql)
        if i == 0:
            _check_schema(register, columns_of, expected)
        if i == half:
            checkpoint("push_apply_mid")


def _check_schema(register: str, columns_of: Callable[[str], set[str]], expected: list[tuple[str, str, str]]) -> None:
    seen: dict[str, set[str]] = {}
    for table, column, where in expected:
        if table not in seen:
            seen[table] = {c.lower() for c in columns_of(table)}
            if not seen[table]:
                raise PosyncError(Said("register %(register)s: table %(table)s missing, needed for %(where)s; "
                                       "nothing was changed.", register=register, table=table,
                                       where=where.split('.')[0]))
        if column.lower() not in seen[table]:
            raise PosyncError(Said("register %(register)s: %(column)s missing, needed for %(where)s; nothing was "
                                   "changed.", register=register, column=f"{table}.{column}", where=where))


def _busy(register: str) -> TransientError:
    return TransientError(Said("register %(register)s is busy (locked by the POS); the push will be retried.",
                               register=register))


SQLITE_NEEDED = (3, 33, 0)  # UPDATE … FROM, used by partial and total pushes


def _apply_sqlite(remote: Remote, mapping: Mapping, script: Script, targets: list[Target]) -> None:
    if sqlite3.sqlite_version_info < SQLITE_NEEDED:
        raise ConfigError(Said("pushing catalogs needs SQLite 3.33 or newer; this Python's sqlite3 module has "
                               "%(version)s: use a newer Python build.", version=sqlite3.sqlite_version))
    path = _live_file(remote)
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error as err:
        raise PosyncError(Said(CANNOT_OPEN, register=remote.name, path=str(path), why=str(err))) from None
    try:
        _run(remote.name, script, db.execute,
             lambda t: {r[0] for r in db.execute("SELECT name FROM pragma_table_info(?)", [t]).fetchall()},
             _expected(mapping, targets))
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise _busy(remote.name) from None
        raise PosyncError(Said(REFUSED, register=remote.name, why=str(err))) from None
    except sqlite3.Error as err:
        raise PosyncError(Said(REFUSED, register=remote.name, why=str(err))) from None
    finally:
        with contextlib.suppress(sqlite3.Error):
            if db.in_transaction:
                db.execute("ROLLBACK")
        db.close()


def _apply_duckdb(remote: Remote, mapping: Mapping, script: Script, targets: list[Target]) -> None:
    path = _live_file(remote)
    try:
        db = duckdb.connect(str(path), config={"autoinstall_known_extensions": False,
                                               "autoload_known_extensions": False})
    except duckdb.IOException as err:
        if "lock" in str(err).lower():
            raise _busy(remote.name) from None
        raise PosyncError(Said(CANNOT_OPEN, register=remote.name, path=str(path), why=_first_line(err))) from None
    except duckdb.Error as err:
        raise PosyncError(Said(CANNOT_OPEN, register=remote.name, path=str(path), why=_first_line(err))) from None
    done = False
    try:
        _run(remote.name, script, db.execute,
             lambda t: {r[0] for r in db.execute(
                 "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                 "AND schema_name = current_schema() AND lower(table_name) = lower(?)", [t]).fetchall()},
             _expected(mapping, targets))
        done = True
    except duckdb.Error as err:
        raise PosyncError(Said(REFUSED, register=remote.name, why=_first_line(err))) from None
    finally:
        if not done:
            with contextlib.suppress(duckdb.Error):
                db.execute("ROLLBACK")
        db.close()


def _live_file(remote: Remote) -> Path:
    """The register's file today (a symlink followed now), bounded in time."""
    return share.locate(remote.name, remote.path)


def _apply_postgres(remote: Remote, mapping: Mapping, script: Script, targets: list[Target]) -> None:
    """Run the script on its own libpq session: BEGIN … COMMIT, all of it or none (issue 6).

    A row the POS holds locked makes the push wait at most BUSY_SECONDS (lock_timeout), then it is
    a transient "busy" like a locked SQLite file. Any error rolls the transaction back.
    """
    import psycopg

    from etl import postgres

    db = postgres.connect(remote.path, f"register {remote.name}", PosyncError)
    try:
        db.execute(f"SET lock_timeout = '{int(BUSY_SECONDS * 1000)}ms'")
        _run(remote.name, script, db.execute,
             lambda t: {r[0] for r in db.execute(
                 "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                 "AND lower(table_name) = lower(%s)", [t]).fetchall()},
             _expected(mapping, targets))
    except psycopg.errors.LockNotAvailable:
        raise _busy(remote.name) from None
    except psycopg.OperationalError as err:  # the connection broke half-way: the server rolled back
        raise TransientError(Said("register %(register)s: connection lost during the push (%(why)s); nothing "
                                  "was changed, it will be retried.", register=remote.name,
                                  why=_first_line(err))) from None
    except psycopg.Error as err:
        raise PosyncError(Said(REFUSED, register=remote.name, why=_first_line(err))) from None
    finally:
        with contextlib.suppress(psycopg.Error):
            if db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                db.execute("ROLLBACK")
        db.close()


_APPLY: dict[str, Callable[[Remote, Mapping, Script, list[Target]], None]] = {
    "sqlite": _apply_sqlite,
    "duckdb": _apply_duckdb,
    "postgres": _apply_postgres,
}


def pushes(store: Store, register: str | None = None, limit: int = 50) -> list[dict[str, object]]:
    """The newest pushes first (pending, applied, failed, reconciled)."""
    rows = store.con.execute(
        "SELECT push_id, register, mode, tables, status, backup_id, created_at, applied_at, message FROM pushes "
        "WHERE (?::VARCHAR IS NULL OR register = ?) ORDER BY created_at DESC LIMIT ?",
        [register, register, limit],
    ).to_arrow_table()
    listed: list[dict[str, object]] = rows.to_pylist()
    return listed

