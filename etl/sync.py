"""Orchestration only: the full sync cycle, and loyalty/rules syncs on their own.

One cycle, in this order: import the date's vouchers (etl.pipeline), stage every register
once more and read its loyalty movements and commercial rules whole (`read_registers`, with
etl.staging and etl.extract's SELECT builder), apply them (etl.loyalty, etl.rules), then push
the catalogs (etl.catalogs). A register that can't be read is reported and left out of the
later steps; the others go on. The cycle's exit code is the worst of its steps. No rules live here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import duckdb

from etl import crash, extract, ledger, loyalty, pipeline, registers, rules, staging
from etl import sources as sources_
from etl.catalogs import PushRequest, RegisterPush, push_catalogs
from etl.catchup import Schedule
from etl.errors import HELD_BACK, ConfigError, PosyncError
from etl.i18n import Said, Word, said_of
from etl.ledger import Counts
from etl.mapping import Mapping as RegisterMapping
from etl.mapping import load_mapping
from etl.pipeline import ImportRequest
from etl.remotes import Remote, all_remotes
from etl.report import finding_said
from etl.sources import Source
from etl.store import Store

Progress = Callable[[str, str], None]
EXTRAS = ("loyalty_movements", "commercial_rules")
STEPS = ("import", "loyalty", "rules", "catalogs")
CATALOG_MODES = ("partial", "total", "replace", "none")
_STEP_OF = {"loyalty_movements": "loyalty", "commercial_rules": "rules"}
_SEVERITY = {"ok": 0, "skipped": 1, "warning": 2, "held": 3, "conflict": 4, "partial": 4, "rejected": 5,
             "error": 6}


@dataclass(frozen=True)
class Outcome:
    """What one step did for one register, in the terms of the cycle summary."""

    register: str
    step: str
    status: str  # ok | warning | partial | conflict | rejected | error | skipped | held
    counts: Counts = Counts()
    pushed: int = 0
    message: str = ""
    details: tuple[str, ...] = ()
    exit_code: int = 0
    transient: bool = False

    @property
    def terminal(self) -> bool:
        """A failure that retrying unchanged data won't fix (corrupt, mapping, rejected data)."""
        return self.exit_code != 0 and not self.transient and self.status != "held"


@dataclass(frozen=True)
class StepResult:
    step: str
    outcomes: tuple[Outcome, ...] = ()
    exit_code: int = 0
    error: str | None = None  # the whole step failed (not one register)
    note: str | None = None  # something the step skipped on purpose (a catalog main never loaded)
    process_date: dt.date | None = None  # an import step: its date


@dataclass(frozen=True)
class ExtrasRequest:
    """`posync loyalty sync` / `posync rules sync`."""

    remotes: tuple[str, ...] = ()
    progress: Progress | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SyncRequest:
    """One cycle. `hold` names (step, register) pairs to leave out, with why (watch: terminal, unchanged).

    schedule: the dates to import and which registers import each, oldest first (a range, --since-last, or
    watch completing earlier days); empty: process_date, from every selected register.
    """

    process_date: dt.date
    remotes: tuple[str, ...] = ()
    overwrite: bool = False
    catalogs: str = "partial"
    hold: Mapping[tuple[str, str], str] = field(default_factory=dict)
    origin: str = "sync"  # sync | watch, for the log row
    schedule: Schedule = ()
    hold_clash: str = "register"  # --hold: what a code clash holds back
    progress: Progress | None = field(default=None, compare=False)

    @property
    def mode(self) -> str:
        return "overwrite" if self.overwrite else "insert"


@dataclass(frozen=True)
class RegisterLine:
    """One row of the cycle summary: one thing counted per column."""

    register: str
    imported: int  # vouchers inserted or updated (over every date of the cycle)
    skipped: int  # vouchers main already had
    held_back: int  # vouchers held back by the checks
    loyalty: int  # loyalty movements imported
    rules: int  # commercial rules added or updated
    pushed: int  # catalog rows inserted, updated or deleted at the register
    status: str
    notes: tuple[str, ...]


COUNTED = ("imported", "skipped", "held_back", "loyalty", "rules", "pushed")


@dataclass(frozen=True)
class SyncResult:
    process_date: dt.date
    registers: tuple[str, ...]
    steps: tuple[StepResult, ...]
    started: dt.datetime
    finished: dt.datetime

    @property
    def exit_code(self) -> int:
        return max((s.exit_code for s in self.steps), default=0)

    def outcomes(self) -> list[Outcome]:
        return [o for s in self.steps for o in s.outcomes]

    def imports(self) -> list[StepResult]:
        """The import steps, one per date, oldest first."""
        return [s for s in self.steps if s.step == "import"]

    def lines(self) -> list[RegisterLine]:
        """Per register: what each step counted, the worst status, and what to read about it."""
        out = []
        for name in self.registers:
            mine = [o for o in self.outcomes() if o.register == name]
            vouchers = [o for o in mine if o.step == "import"]
            status = max((o.status for o in mine), key=lambda s: _SEVERITY.get(s, 0), default="ok")
            notes = tuple(Said("%(step)s: %(message)s", step=Word("status", o.step), message=o.message) for o in mine
                          if o.status not in ("ok", "skipped") and o.message)
            out.append(RegisterLine(
                name,
                imported=sum(o.counts.inserted + o.counts.updated for o in vouchers),
                skipped=sum(o.counts.skipped for o in vouchers),
                held_back=sum(o.counts.rejected for o in vouchers),
                loyalty=sum(o.counts.inserted for o in mine if o.step == "loyalty"),
                rules=sum(o.counts.inserted + o.counts.updated for o in mine if o.step == "rules"),
                pushed=sum(o.pushed for o in mine),
                status=status,
                notes=notes,
            ))
        return out

    def one_line(self) -> str:
        """The cycle in one line (watch, cron mail subjects)."""
        lines = self.lines()
        total = {k: sum(getattr(r, k) for r in lines) for k in COUNTED}
        text = Said("vouchers imported %(imported)s, skipped %(skipped)s, held back %(held)s; loyalty movements "
                    "%(loyalty)s; rules %(rules)s; catalog rows pushed %(pushed)s", imported=total["imported"],
                    skipped=total["skipped"], held=total["held_back"], loyalty=total["loyalty"], rules=total["rules"],
                    pushed=total["pushed"])
        trouble = [f"{r.register} {r.status}" for r in lines if r.status not in ("ok", "skipped", "warning")]
        failed = [Said("%(step)s failed", step=s.step) for s in self.steps if s.error]
        completed = [Said("completed %(date)s (imported %(n)s)", date=str(s.process_date),
                          n=sum(o.counts.inserted + o.counts.updated for o in s.outcomes)) for s in self.imports()[:-1]]
        return Said("%(parts)s; exit %(code)s", sep="; ", parts=(*completed, text, *trouble, *failed),
                    code=str(self.exit_code))


def _say(progress: Progress | None) -> Progress:
    return progress or (lambda _r, _m: None)


def _is_transient_text(message: str | None) -> bool:
    # etl.pipeline reports a register's failure as text; every TransientError says it "will be retried".
    return bool(message) and "retried" in (message or "")


# --- reading loyalty movements and rules -------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    """Registers read for the extras: which tables each one gave, and the ones that failed."""

    tables: dict[str, tuple[str, ...]]  # register -> mapped tables it was read for
    failures: dict[str, Outcome]  # register -> error outcome (step left for the caller to set)


class _Ahead:
    """A sync cycle's loyalty and rules, staged on the copying thread as soon as each register's copy is checked.

    The import reads one register while the next is copied; staging that next one's loyalty movements and
    rules beside its copy uses the second core, where reading them after the import added a third of an
    import to the cycle. SQLite copies only: a DuckDB or PostgreSQL register is read by attaching it to the
    run's own connection, so it keeps its turn after the import. Errors are kept for read_registers to report.
    """

    def __init__(self, store: Store, names: set[str]) -> None:
        self.store, self.names = store, names
        self.staged: dict[str, tuple[str, ...]] = {}  # register -> its tables staged
        self.failed: dict[str, PosyncError] = {}
        # The copying thread's own connection, made here: a connection is never touched by two threads
        self.cursor = store.con.cursor()

    def close(self) -> None:
        """After the copying thread has stopped."""
        self.cursor.close()

    def __call__(self, source: Source) -> None:  # on the copying thread
        name, snapshot, mapping = source.remote.name, source.snapshot, source.mapping
        if name not in self.names or snapshot is None or mapping is None or snapshot.engine.name != "sqlite":
            return
        mapped = tuple(t for t in EXTRAS if t in mapping.tables)
        try:
            with crash.contained(self.store.data_dir, name, Said("reading loyalty and rules")):
                if mapped:
                    _stage_tables(self.cursor, snapshot, mapping, mapped)
            self.staged[name] = mapped
        except PosyncError as err:
            extract.discard(self.cursor, name, EXTRAS)
            self.failed[name] = err


def read_registers(store: Store, remotes: list[Remote], tables: tuple[str, ...], run_id: str,
                   actions: tuple[str, ...], progress: Progress | None = None,
                   sources: dict[str, Source] | None = None, ahead: _Ahead | None = None) -> _Read:
    """Read `tables` whole into stage.<table> from each register: staged already by `ahead`, else from its
    snapshot in `sources` (the cycle's, taken once for the import too), else from a copy staged here.

    A register that fails is logged under each of `actions` and returned in failures; never raised.
    """
    say = _say(progress)
    if ahead is None:  # else the tables were made before the copies started, and hold what `ahead` staged
        extract.create_staging(store.con, tables)
    root = store.data_dir / "staging" / run_id
    got: dict[str, tuple[str, ...]] = {}
    failures: dict[str, Outcome] = {}
    try:
        for remote in remotes:
            try:
                mapping = load_mapping(remote.mapping)
                mapped = tuple(t for t in tables if t in mapping.tables)
                source = (sources or {}).get(remote.name)
                if ahead is not None and remote.name in ahead.failed:
                    raise ahead.failed[remote.name]
                if ahead is not None and remote.name in ahead.staged:
                    mapped = ahead.staged[remote.name]
                elif mapped and source is not None:
                    _stage_tables(store.con, sources_.checked(source, say), mapping, mapped)
                elif mapped:
                    steps = [Word("status", _STEP_OF[t]) for t in mapped]
                    say(remote.name, Said("copying for %(step)s", step=steps[0]) if len(steps) == 1 else
                        Said("copying for %(first)s and %(last)s", first=tuple(steps[:-1]), last=steps[-1]))
                    snapshot = staging.stage(remote.name, remote.path, root)
                    staging.check(snapshot)
                    _stage_tables(store.con, snapshot, mapping, mapped)
                got[remote.name] = mapped
            except PosyncError as err:
                extract.discard(store.con, remote.name, tables)
                failures[remote.name] = Outcome(remote.name, "", "error", message=said_of(err),
                                                exit_code=err.exit_code, transient=err.transient)
                say(remote.name, Said("error: %(message)s", message=said_of(err)))
                with store.transaction() as con:
                    for action in actions:
                        ledger.log(con, action, "error", str(err), register=remote.name, run_id=run_id)
            finally:
                if sources is None:
                    staging.cleanup(root, remote.name)
    finally:
        if sources is None:
            staging.cleanup(root)
    return _Read(got, failures)


def _stage_tables(con: duckdb.DuckDBPyConnection, snapshot: staging.Snapshot, mapping: RegisterMapping,
                  tables: tuple[str, ...]) -> None:
    """Stage whole canonical tables of one register (small: read in full), schema checked first."""
    with registers.opened(con, snapshot, mapping) as register:
        extract.check_columns(register, tables)  # schema drift: names the mapping path
        for table in tables:
            extract.stage_whole(con, register, table)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def _unmapped(store: Store, register: str, table: str, action: str, run_id: str) -> Outcome:
    remote = all_remotes(store, (register,))[0]
    message = Said("mapping %(mapping)s has no %(table)s table; nothing to read", mapping=remote.mapping, table=table)
    with store.transaction() as con:
        ledger.log(con, action, "skipped", message, register=register, run_id=run_id)
    return Outcome(register, _STEP_OF[table], "skipped", message=message)


class _Applied(Protocol):
    """What loyalty.apply and rules.apply report per register."""

    @property
    def register(self) -> str: ...
    @property
    def counts(self) -> Counts: ...
    @property
    def details(self) -> tuple[str, ...]: ...
    @property
    def status(self) -> str: ...
    @property
    def exit_code(self) -> int: ...
    @property
    def message(self) -> str: ...


_APPLY: dict[str, tuple[Callable[[Store, tuple[str, ...], str], Sequence[_Applied]], str]] = {
    "loyalty_movements": (loyalty.apply, loyalty.ACTION),
    "commercial_rules": (rules.apply, rules.ACTION),
}


def _extras_step(store: Store, table: str, read: _Read, names: tuple[str, ...], held: Mapping[str, str],
                 run_id: str) -> StepResult:
    """Apply one staged table (loyalty movements or rules) and account for every register named."""
    step = _STEP_OF[table]
    apply, action = _APPLY[table]
    for name in held:  # a held register's rows take no part in this cycle's decisions
        store.con.execute(f"DELETE FROM stage.{table} WHERE register = ?", [name])
    ready = tuple(n for n in names if table in read.tables.get(n, ()) and n not in held)
    applied = {o.register: o for o in apply(store, ready, run_id)}
    outcomes: list[Outcome] = []
    for name in names:
        if name in held:
            outcomes.append(Outcome(name, step, "held", message=held[name]))
        elif name in read.failures:
            f = read.failures[name]
            outcomes.append(Outcome(name, step, f.status, message=f.message, exit_code=f.exit_code,
                                    transient=f.transient))
        elif name in applied:
            o = applied[name]
            outcomes.append(Outcome(name, step, o.status, o.counts, message=o.message, details=o.details,
                                    exit_code=o.exit_code))
        elif name in read.tables:
            outcomes.append(_unmapped(store, name, table, action, run_id))
    return StepResult(step, tuple(outcomes), max((o.exit_code for o in outcomes), default=0))


def sync_loyalty(store: Store, request: ExtrasRequest) -> StepResult:
    """`posync loyalty sync`: read every selected register's movements and import the new ones."""
    return _sync_extras(store, request, "loyalty_movements", loyalty.ACTION)


def sync_rules(store: Store, request: ExtrasRequest) -> StepResult:
    """`posync rules sync`: read every selected register's rules and apply the newest of each."""
    return _sync_extras(store, request, "commercial_rules", rules.ACTION)


def _sync_extras(store: Store, request: ExtrasRequest, table: str, action: str) -> StepResult:
    run_id = ledger.new_run_id()
    remotes = _remotes(store, request.remotes)
    read = read_registers(store, remotes, (table,), run_id, (action,), request.progress)
    return _extras_step(store, table, read, tuple(r.name for r in remotes), {}, run_id)


def _remotes(store: Store, names: tuple[str, ...]) -> list[Remote]:
    remotes = all_remotes(store, names)
    if not remotes:
        raise ConfigError(Said("no registers to sync; add one with `posync remote add NAME PATH`."))
    return remotes


# --- the cycle ----------------------------------------------------------------------------------


def _import_steps(store: Store, request: SyncRequest, schedule: Schedule, held: Mapping[str, str],
                  sources: dict[str, Source]) -> list[StepResult]:
    """One import step per scheduled date; a held register is named on each date it was to import."""
    todo = tuple((day, tuple(n for n in names if n not in held)) for day, names in schedule)
    base = ImportRequest(request.process_date, overwrite=request.overwrite, hold=request.hold_clash,
                         progress=request.progress)
    steps = []
    for day, names in todo:
        outcomes = [Outcome(n, "import", "held", message=held[n]) for n in dict(schedule)[day] if n in held]
        if not names:
            steps.append(StepResult("import", tuple(outcomes), process_date=day))
            continue
        try:
            result = pipeline.import_range(store, base, ((day, names),), sources).days[0]
        except PosyncError as err:
            steps.append(StepResult("import", tuple(outcomes), err.exit_code, said_of(err), process_date=day))
            continue
        steps.append(_import_step(result, outcomes, day))
    return steps


def _import_step(result: pipeline.ImportResult, outcomes: list[Outcome], day: dt.date) -> StepResult:
    rejections = [f for f in result.report.findings if f.is_rejection]
    for r in result.report.registers:
        counts = result.counts.get(r.name, Counts())
        status = {"accepted": "ok", "identical": "ok"}.get(r.status, r.status)
        if r.status == "error":
            outcomes.append(Outcome(r.name, "import", "error", message=r.error or "", exit_code=1,
                                    transient=_is_transient_text(r.error)))
            continue
        reasons = tuple(finding_said(f) for f in rejections if r.name in f.registers)
        said = reasons[:3] if r.status != "identical" else ()
        message = Said("already imported, identical") if r.status == "identical" else \
            Said("%(reasons)s", reasons=said, sep="; ")
        if (left := result.changes.get(r.name)) is not None:  # shown every cycle until applied or accepted
            reasons += (left.sentence(),)
            message = Said("%(reasons)s", reasons=(*said, left.sentence()), sep="; ")
            status = "warning" if status == "ok" else status
        outcomes.append(Outcome(r.name, "import", status, counts, message=message, details=reasons,
                                exit_code=HELD_BACK if any(f.is_rejection for f in rejections if r.name in f.registers)
                                else 0))
    return StepResult("import", tuple(outcomes), result.exit_code, process_date=day)


def _catalogs_step(store: Store, request: SyncRequest, names: tuple[str, ...], held: Mapping[str, str],
                   sources: dict[str, Source]) -> StepResult:
    if request.catalogs == "none":
        return StepResult("catalogs")
    outcomes = [Outcome(n, "catalogs", "held", message=held[n]) for n in names if n in held]
    todo = tuple(n for n in names if n not in held)
    if not todo:
        return StepResult("catalogs", tuple(outcomes))
    try:
        result = push_catalogs(store, PushRequest(mode=request.catalogs, remotes=todo, progress=request.progress,
                                                  snapshots=sources))
    except PosyncError as err:
        return StepResult("catalogs", tuple(outcomes), err.exit_code, said_of(err))
    outcomes += [_push_outcome(r) for r in result.registers]
    return StepResult("catalogs", tuple(outcomes), result.exit_code, note=result.note)


# RegisterPush.status → the cycle's status words; a busy register (the POS holds its lock) is retried.
_PUSH_STATUS = {"applied": "ok", "unchanged": "ok", "dry-run": "ok", "failed": "error", "busy": "error",
                "refused": "rejected"}


def _push_outcome(r: RegisterPush) -> Outcome:
    return Outcome(r.register, "catalogs", _PUSH_STATUS.get(r.status, r.status),
                   pushed=r.inserted + r.updated + r.deleted, message=r.error or "", exit_code=r.exit_code,
                   transient=r.status == "busy")


def run_cycle(store: Store, request: SyncRequest) -> SyncResult:
    """One full cycle: vouchers (each scheduled date), loyalty, rules, catalogs; the cycle's own log row at the end.

    Each register is copied, hashed and checked once, and that snapshot serves every date's import and
    the loyalty and rules reads.
    """
    if request.catalogs not in CATALOG_MODES:
        raise ConfigError(Said("--catalogs %(mode)s: use one of %(modes)s.", mode=request.catalogs,
                               modes=", ".join(CATALOG_MODES)))
    started = dt.datetime.now()
    remotes = _remotes(store, request.remotes)
    names = tuple(r.name for r in remotes)
    schedule = request.schedule or ((request.process_date, names),)
    run_id = ledger.new_run_id()

    def held(step: str) -> dict[str, str]:
        return {r: why for (s, r), why in request.hold.items() if s == step and r in names}

    hold_i, hold_l, hold_r = held("import"), held("loyalty"), held("rules")
    needed = [r for r in remotes if not (r.name in hold_i and r.name in hold_l and r.name in hold_r)]
    extract.create_staging(store.con, EXTRAS)
    ahead = _Ahead(store, {r.name for r in needed if r.name not in hold_i and not (r.name in hold_l
                                                                                  and r.name in hold_r)})
    # Memory is not shed in a cycle: the copying thread queries beside the run's, and the movements it stages
    # would be written out and read back (1.5 to 2 s more of a 13 s cycle, for 80 MB of its 600 MB peak)
    try:
        with store.keeping_memory(), sources_.staged(store, needed, run_id, then=ahead) as sources:
            for name, source in sources.items():  # read date by date below: each register reads its dates in chunks
                source.dates = tuple(day for day, day_names in schedule if name in day_names and name not in hold_i)
            imports = _import_steps(store, request, schedule, hold_i, sources)
            unreadable = {o.register for o in imports[-1].outcomes if o.status in ("error", "held")}
            if imports[-1].error:  # the step failed as a whole: nothing was read
                unreadable = set(names)
            readable = tuple(n for n in names if n not in unreadable)
            to_read = [r for r in remotes if r.name in readable and not (r.name in hold_l and r.name in hold_r)]
            sources_.settle(sources)  # nothing is staged ahead any more: what the import could not read goes
            for name in ahead.staged.keys() - {r.name for r in to_read}:
                extract.discard(store.con, name, EXTRAS)
            read = read_registers(store, to_read, EXTRAS, run_id, (loyalty.ACTION, rules.ACTION), request.progress,
                                  sources, ahead)
            loyalty_step = _extras_step(store, "loyalty_movements", read, readable, hold_l, run_id)
            rules_step = _extras_step(store, "commercial_rules", read, readable, hold_r, run_id)
            pushable = tuple(n for n in readable if n not in read.failures)
            catalogs = _catalogs_step(store, request, pushable, held("catalogs"), sources)  # a first push diffs these
    finally:
        ahead.close()  # the copying thread stopped with the block
    result = SyncResult(request.process_date, names, (*imports, loyalty_step, rules_step, catalogs), started,
                        dt.datetime.now())
    _log_cycle(store, request, result, run_id)
    return result


def _log_cycle(store: Store, request: SyncRequest, result: SyncResult, run_id: str) -> None:
    lines = result.lines()
    vouchers = [o for s in result.imports() for o in s.outcomes]
    counts = Counts(  # the log row's columns count vouchers, like an import's
        read=sum(o.counts.read for o in vouchers),
        inserted=sum(o.counts.inserted for o in vouchers),
        updated=sum(o.counts.updated for o in vouchers),
        skipped=sum(r.skipped for r in lines),
        rejected=sum(r.held_back for r in lines),
    )
    steps = ", ".join(f"{s.step} {s.exit_code}" for s in result.steps)
    held = sorted({f"{o.register} {o.step}" for o in result.outcomes() if o.status == "held"})
    message = (f"{request.origin}: {result.one_line()} (steps: {steps}; catalogs {request.catalogs})"
               + (f"; held (already reported, retried when their data changes): {', '.join(held)}"
                  if held else ""))
    status = "ok" if result.exit_code == 0 else ("rejected" if result.exit_code == HELD_BACK else "error")
    with store.transaction() as con:
        ledger.log(con, "sync", status, message, mode=request.mode, process_date=request.process_date,
                   counts=counts, run_id=run_id)
