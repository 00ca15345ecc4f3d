"""Orchestration only: stage once → for each date: extract → validate → merge, one main transaction
per register and date (its batch).

No rules live here: checks are in validators/, SQL in extract.py and merge.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import duckdb

from etl import changes, crash, extract, ledger, merge, postgres, registers, undo
from etl.catchup import Schedule
from etl.changes import Changes
from etl.errors import HELD_BACK, ConfigError, PosyncError
from etl.faults import checkpoint
from etl.i18n import Said, said_of
from etl.ledger import Counts
from etl.mapping import Mapping
from etl.remotes import Remote, all_remotes
from etl.results import Plan, RegisterSummary, Report
from etl.sources import Source, WillRead, checked, release, staged
from etl.store import Store
from validators import OWNERSHIP_CHECKS, Batches, Context, decide, intruders, run_checks

Progress = Callable[[str, str], None]
TABLES = ("voucher_types", "vouchers", "voucher_lines", "payments")


@dataclass(frozen=True)
class ImportRequest:
    """One import (or, with validate_only, one validation) of a process date."""

    process_date: dt.date
    remotes: tuple[str, ...] = ()
    overwrite: bool = False
    all_or_nothing: bool = False
    validate_only: bool = False
    reread: bool = False  # read and compare again even a snapshot already imported identically
    hold: str = "register"  # what a code clash holds back: the whole register, or only that code's vouchers
    progress: Progress | None = field(default=None, compare=False)

    @property
    def mode(self) -> str:
        return "overwrite" if self.overwrite else "insert"


@dataclass(frozen=True)
class ImportResult:
    report: Report
    counts: dict[str, Counts]
    exit_code: int
    changes: dict[str, Changes] = field(default_factory=dict)  # differences at source left unapplied, by register
    batches: dict[str, str] = field(default_factory=dict)  # register -> the batch it wrote (undo takes it)


@dataclass(frozen=True)
class RangeResult:
    """Each date's result, oldest first; the exit code is the worst of them."""

    days: tuple[ImportResult, ...]
    notes: tuple[str, ...] = ()  # what the date selection decided (a register never imported before…)

    @property
    def exit_code(self) -> int:
        return max((d.exit_code for d in self.days), default=0)




@dataclass
class _Staged:
    """Per-register facts gathered while staging one date."""

    remote: Remote
    status: str = "staged"  # staged | identical | error
    identity: str = ""  # what the batch is read from: the snapshot, the mapping, the reading rules
    error: str | None = None
    error_code: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, tuple[str, ...]] = field(default_factory=dict)


def import_day(store: Store, request: ImportRequest) -> ImportResult:
    """Import (or only validate) one process date from the selected registers."""
    names = tuple(r.name for r in _remotes(store, request.remotes))
    return import_range(store, request, ((request.process_date, names),)).days[0]


def import_range(store: Store, request: ImportRequest, schedule: Schedule,
                 sources: dict[str, Source] | None = None) -> RangeResult:
    """Import (or validate) each scheduled date in order, each register's snapshot taken once for them all.

    Dates go oldest first and each is merged before the next is checked, so ownership a date establishes
    counts for the dates after it. `sources` lets a caller (the sync cycle) keep the snapshots for its
    later steps; without it they are taken here and dropped at the end.
    """
    if sources is None:
        names = tuple(dict.fromkeys(n for _, day_names in schedule for n in day_names))  # in reading order
        remotes = sorted(_remotes(store, names), key=lambda r: names.index(r.name))
        with staged(store, remotes, ledger.new_run_id(), _will_read(store, request, schedule)) as taken:
            return _import_dates(store, request, schedule, taken, release_after=True)
    return _import_dates(store, request, schedule, sources, release_after=False)


def _import_dates(store: Store, request: ImportRequest, schedule: Schedule, sources: dict[str, Source],
                  release_after: bool) -> RangeResult:
    """Each date in order; with release_after, a register's copy goes once its last date is read."""
    if not request.validate_only:
        undo.prune(store)  # what batches past their undo period saved is dropped
    run_id = ledger.new_run_id()
    last = {name: i for i, (_, names) in enumerate(schedule) for name in names}
    for name in last:  # a caller that reads date by date (the sync cycle) has told each source its dates
        sources[name].dates = sources[name].dates or tuple(day for day, names in schedule if name in names)
    days = []
    for i, (day, names) in enumerate(schedule):
        days.append(_import_date(store, replace(request, process_date=day, remotes=names), sources, run_id))
        for name in (n for n in names if release_after and last[n] == i):
            release(store, sources[name])
    return RangeResult(tuple(days))


def _will_read(store: Store, request: ImportRequest, schedule: Schedule) -> WillRead | None:
    """Whether a register's snapshot will be read: not when it was imported identically for all its dates."""
    if request.validate_only or request.reread:
        return None
    dates: dict[str, list[dt.date]] = {}
    for day, names in schedule:
        for name in names:
            dates.setdefault(name, []).append(day)
    done = ledger.clean_identities(store.con, request.mode, [d for d, _ in schedule])  # read now, on this thread

    def will_read(remote: Remote, sha: str, mapping: Mapping) -> bool:
        identity = _identity(sha, mapping)
        return not sha or any((remote.name, day, identity) not in done for day in dates[remote.name])

    return will_read


def _remotes(store: Store, names: tuple[str, ...]) -> list[Remote]:
    remotes = all_remotes(store, names)
    if not remotes:
        raise ConfigError(Said("no registers to import from; add one with `posync remote add NAME PATH`."))
    return remotes


def _announcer(store: Store, request: ImportRequest) -> Progress:
    """Progress per register: to the caller's callback, and written down where `status` sees it."""
    what = "validate" if request.validate_only else f"import ({request.mode})"

    def say(register: str, message: str) -> None:
        store.stage(f"{what} {request.process_date}: {register} {message}")
        if request.progress is not None:
            request.progress(register, message)

    return say


def _import_date(store: Store, request: ImportRequest, sources: dict[str, Source], run_id: str) -> ImportResult:
    """One date: extract each register, check them all, then merge each in its own transaction."""
    say = _announcer(store, request)
    extract.create_staging(store.con, TABLES)
    merge.create_hashes(store.con)
    staged_ = [_stage_one(store, sources[name], request, say, run_id) for name in request.remotes]
    checkpoint("validate")
    ready = tuple(s.remote.name for s in staged_ if s.status == "staged")
    ctx = Context(request.process_date, dt.date.today(), ready, hold=request.hold)
    findings = run_checks(Batches(store.con), ctx)
    decision = decide(findings, ready, request.all_or_nothing, request.hold)
    merge.record_decision(store.con, decision)
    merge.build_plan(store.con)
    changes.stage(store.con, request.process_date)
    plans = merge.plans(store.con, request.process_date)
    # orphan lines/payments are held back by a key no staged voucher has: the register is still partial
    with_rows_held = frozenset(key[0] for key in decision.rejected_keys) | {r for r, _ in decision.held_codes}
    summaries = [_summary(s, plans.get(s.remote.name, Plan()), decision.rejected_registers, with_rows_held)
                 for s in staged_]
    report = Report(request.process_date, dt.datetime.now(), tuple(summaries), tuple(findings),
                    request.all_or_nothing, hold=request.hold)
    left = {s.remote.name: changes.pending(store.con, s.remote.name, request.process_date, request.overwrite)
            for s in staged_ if s.status == "staged" and s.remote.name not in decision.rejected_registers}
    for s in staged_:  # an identical snapshot found nothing new: what was left before is still left
        if s.status == "identical":
            left.update({c.register: c for c in changes.summaries(store.con, s.remote.name, request.process_date)})
    left = {name: c for name, c in left.items() if c.total}
    counts: dict[str, Counts] = {}
    batches: dict[str, str] = {}
    if not request.validate_only:
        for s in staged_:
            if s.status == "staged":  # each merge starts from one register's day, not from all before it
                store.shed_memory()
            counts[s.remote.name], bid = _merge_one(store, s, request, report, run_id, say,
                                                   left.get(s.remote.name))
            if bid:
                batches[s.remote.name] = bid
        # a merge that failed and rolled back (disk full…) is an error of that register, shown and exit 1
        report = replace(report, registers=tuple(
            RegisterSummary(r.name, "error", error=s.error) if s.status == "error" else r
            for r, s in zip(report.registers, staged_, strict=True)))
    else:
        _log_validation(store, staged_, report, request, run_id)
    left = {name: c for name, c in left.items()
            if next(r for r in report.registers if r.name == name).status != "error"}
    return ImportResult(report, counts, _exit_code(staged_, report), left, batches)


def _stage_one(store: Store, source: Source, request: ImportRequest, say: Progress, run_id: str) -> _Staged:
    """Extract one register's date from its snapshot; a failure is recorded, logged, and the others go on."""
    remote = source.remote
    result = _Staged(remote)
    try:
        source.wait(say)
        if source.error is not None:
            raise source.error
        with crash.contained(store.data_dir, remote.name, Said("reading it")):
            snapshot, mapping = source.snapshot, source.mapping
            assert snapshot is not None and mapping is not None
            result.identity = _identity(snapshot.sha256, mapping)
            if snapshot.sha256 and _already_imported(store, remote.name, request, result.identity):
                result.status = "identical"
                say(remote.name, Said("already imported, identical"))
                return result
            checked(source, say)
            say(remote.name, Said("reading"))
            if source.register is None:
                source.register = registers.open_register(store.con, snapshot, mapping)
                source.register.memo["dates"] = source.dates
            try:
                extracted = extract.extract_day(store.con, source.register, request.process_date)
            finally:
                source.register.release(store.con)  # the day's rows are staged: drop what was read
            result.counts, result.unmapped = extracted.counts, extracted.unmapped
            if not snapshot.sha256:  # PostgreSQL, read in place: the date's staged rows are the snapshot
                result.identity = _identity(postgres.snapshot_digest(store.con, remote.name, TABLES), mapping)
                if _already_imported(store, remote.name, request, result.identity):
                    extract.discard(store.con, remote.name, TABLES)
                    result.status, result.counts = "identical", {}
                    say(remote.name, Said("already imported, identical"))
                    return result
            merge.add_hashes(store.con, remote.name)
            store.shed_memory()  # its day is staged: what it took to read and stage it is handed back
            say(remote.name, Said("%(vouchers)s vouchers, %(lines)s lines",
                                  vouchers=extracted.counts.get("vouchers", 0),
                                  lines=extracted.counts.get("voucher_lines", 0)))
    except PosyncError as err:
        extract.discard(store.con, remote.name, TABLES)
        merge.drop_hashes(store.con, remote.name)
        result.status, result.error, result.error_code = "error", said_of(err), err.exit_code
        say(remote.name, Said("error: %(message)s", message=said_of(err)))
        with store.transaction() as con:
            ledger.log(con, "validate" if request.validate_only else "import", "error", str(err),
                       register=remote.name, mode=request.mode, process_date=request.process_date, run_id=run_id)
    return result


def _identity(sha: str, mapping: Mapping) -> str:
    """A snapshot's identity: the same file read through another mapping, or other rules, is another read."""
    return f"{sha}:{mapping.digest}:{extract.READ_RULES}"


def _already_imported(store: Store, register: str, request: ImportRequest, identity: str) -> bool:
    """Imported cleanly before from the same snapshot, mapping and rules (and no --reread, no validate)."""
    if request.validate_only or request.reread:
        return False
    return ledger.imported_identically(store.con, register, request.process_date, request.mode, identity)


def _summary(s: _Staged, plan: Plan, rejected: frozenset[str], rows_held: frozenset[str]) -> RegisterSummary:
    name = s.remote.name
    if s.status in ("error", "identical"):
        return RegisterSummary(name, s.status, error=s.error)
    status = "rejected" if name in rejected else ("partial" if plan.held_back or name in rows_held else "accepted")
    return RegisterSummary(
        name, status, s.counts.get("vouchers", 0), s.counts.get("voucher_lines", 0),
        s.counts.get("payments", 0), plan,
    )


def _register_summary(report: Report, name: str) -> RegisterSummary:
    return next(r for r in report.registers if r.name == name)


def _merge_one(store: Store, s: _Staged, request: ImportRequest, report: Report, run_id: str,
               say: Progress, left: Changes | None = None) -> tuple[Counts, str]:
    """One main transaction: the register's data, its import_batches row and its sync_log row; (counts, batch)."""
    name = s.remote.name
    summary = _register_summary(report, name)
    if s.status == "error":
        return Counts(), ""
    if s.status == "identical":
        with store.transaction() as con:
            ledger.log(con, "import", "skipped", "already imported, identical snapshot", register=name,
                       mode=request.mode, process_date=request.process_date, run_id=run_id)
        return Counts(), ""
    plan = summary.plan
    batch = ledger.Batch(ledger.new_batch_id(), name, request.process_date, request.mode, s.identity, run_id)
    if summary.status == "rejected":
        counts = Counts(read=summary.vouchers, rejected=summary.vouchers)
        with store.transaction() as con:
            ledger.record_batch(con, batch, counts, "rejected")
            _record_held_codes(con, report, name)
            ledger.log(con, "import", "rejected", _rejection_text(report, name), register=name,
                       mode=request.mode, process_date=request.process_date, counts=counts, run_id=run_id)
        say(name, Said("rejected"))
        return counts, batch.batch_id
    say(name, Said("merging"))
    checkpoint("merge")
    try:
        with store.transaction() as con:
            inserted, updated = merge.merge_register(con, name, request.overwrite, batch.batch_id)
            changes.record(con, name, request.process_date, request.overwrite, batch.batch_id)
            skipped = plan.unchanged + (0 if request.overwrite else plan.changed_at_source)
            counts = Counts(summary.vouchers, inserted, updated, skipped, plan.held_back)
            status = "partial" if summary.status == "partial" else "ok"  # a rerun must hold it back again
            _record_held_codes(con, report, name)
            checkpoint("log")
            ledger.record_batch(con, batch, counts, status)
            ledger.log(con, "import", status, _merge_text(plan, request.overwrite, s.unmapped, left), register=name,
                       mode=request.mode, process_date=request.process_date, counts=counts, run_id=run_id)
            checkpoint("commit")
    except PosyncError:
        raise
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except Exception as err:  # noqa: BLE001 - the transaction rolled back; record why and go on
        full = _disk_full(err)
        message = Said("register %(register)s: disk full at the main store while merging (%(why)s); nothing was "
                       "written", register=name, why=full) if full is not None else \
            Said("register %(register)s: merge failed and was rolled back: %(why)s; the details are in %(path)s",
                 register=name, why=crash.first_line(err), path=str(crash.write(store.data_dir, f"{name} merge")))
        s.status, s.error, s.error_code = "error", message, 1
        with store.transaction() as con:
            ledger.log(con, "import", "error", message, register=name, mode=request.mode,
                       process_date=request.process_date, run_id=run_id)
        say(name, Said("error: %(message)s", message=message))
        return Counts(), ""
    say(name, Said("inserted %(inserted)s, updated %(updated)s, skipped %(skipped)s", inserted=counts.inserted,
                   updated=counts.updated, skipped=counts.skipped))
    return counts, batch.batch_id


def _record_held_codes(con: duckdb.DuckDBPyConnection, report: Report, register: str) -> None:
    """The codes this import held back at this register for a clash: what `codes list` shows as held."""
    con.execute("DELETE FROM held_codes WHERE register = ? AND process_date = ?", [register, report.process_date])
    for finding in report.findings:
        if finding.check in OWNERSHIP_CHECKS and register in intruders(finding):
            owner = finding.registers[1] if finding.check == "code_owned_by_other" else None
            con.execute("INSERT INTO held_codes VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP)",
                        [finding.voucher_code, register, report.process_date, owner, finding.code_vouchers(register)])


def _disk_full(err: Exception) -> str | None:
    """The error's first line when it says the disk is full, else None."""
    text = str(err)
    if "No space left" in text or "disk full" in text.lower():
        return text.splitlines()[0]
    return None


def _rejection_text(report: Report, register: str) -> str:
    reasons = [f.message for f in report.findings if f.is_rejection and register in f.registers]
    return "; ".join(reasons[:3]) or "rejected by --all-or-nothing"


def _merge_text(plan: Plan, overwrite: bool, unmapped: dict[str, tuple[str, ...]], left: Changes | None) -> str:
    parts = [f"new {plan.new}", f"unchanged {plan.unchanged}"]
    if plan.changed_at_source and overwrite:
        parts.append(f"{plan.changed_at_source} updated")
    if left is not None:
        parts.append(left.sentence())
    if plan.held_back:
        parts.append(f"{plan.held_back} held back")
    if unmapped:
        parts.append("unmapped columns: " + "; ".join(f"{t}: {', '.join(c)}" for t, c in unmapped.items()))
    return ", ".join(parts)


def _log_validation(store: Store, staged: list[_Staged], report: Report, request: ImportRequest,
                    run_id: str) -> None:
    with store.transaction() as con:
        for s in staged:
            summary = _register_summary(report, s.remote.name)
            if s.status == "error":
                continue
            p = summary.plan
            ledger.log(con, "validate", summary.status, _merge_text(p, request.overwrite, s.unmapped, None),
                       register=s.remote.name, process_date=request.process_date, run_id=run_id,
                       counts=Counts(read=summary.vouchers, rejected=p.held_back))


def _exit_code(staged: list[_Staged], report: Report) -> int:
    codes = [s.error_code for s in staged if s.status == "error"]
    if report.has_rejections:
        codes.append(HELD_BACK)
    return max(codes, default=0)
