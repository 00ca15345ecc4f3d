"""Orchestration only: stage → extract → validate → merge, one main transaction per register.

No rules live here: checks are in validators/, SQL in extract.py and merge.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from etl import changes, crash, extract, ledger, merge, postgres, registers, staging
from etl.changes import Changes
from etl.errors import HELD_BACK, ConfigError, PosyncError
from etl.faults import checkpoint
from etl.ledger import Counts
from etl.mapping import Mapping, load_mapping
from etl.remotes import Remote, all_remotes
from etl.results import Plan, RegisterSummary, Report
from etl.store import Store
from validators import Batches, Context, decide, run_checks

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


@dataclass
class _Staged:
    """Per-register facts gathered while staging."""

    remote: Remote
    status: str = "staged"  # staged | identical | error
    sha: str = ""  # the register file's sha256 (or, read in place, of its staged rows)
    identity: str = ""  # what the batch id is made of: the snapshot, the mapping, the reading rules
    error: str | None = None
    error_code: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, tuple[str, ...]] = field(default_factory=dict)


def import_day(store: Store, request: ImportRequest) -> ImportResult:
    """Import (or only validate) one process date from the selected registers."""
    run_id = ledger.new_run_id()
    root = store.data_dir / "staging"
    staging.cleanup(root)  # leftovers of a killed run: we hold the lock, nobody else uses them
    say = _announcer(store, request)
    remotes = all_remotes(store, request.remotes)
    if not remotes:
        raise ConfigError("no registers to import from; add one with `posync remote add NAME PATH`.")
    extract.create_staging(store.con, TABLES)
    try:
        staged = [_stage_one(store, remote, request, root / run_id, say) for remote in remotes]
    finally:
        staging.cleanup(root)
    checkpoint("validate")
    ready = tuple(s.remote.name for s in staged if s.status == "staged")
    merge.compute_hashes(store.con)
    ctx = Context(request.process_date, dt.date.today(), ready)
    findings = run_checks(Batches(store.con), ctx)
    decision = decide(findings, ready, request.all_or_nothing)
    merge.record_decision(store.con, decision)
    merge.build_plan(store.con)
    changes.stage(store.con, request.process_date)
    plans = merge.plans(store.con, request.process_date)
    # orphan lines/payments are held back by a key no staged voucher has: the register is still partial
    with_rows_held = frozenset(key[0] for key in decision.rejected_keys)
    summaries = [_summary(s, plans.get(s.remote.name, Plan()), decision.rejected_registers, with_rows_held)
                 for s in staged]
    report = Report(request.process_date, dt.datetime.now(), tuple(summaries), tuple(findings),
                    request.all_or_nothing)
    left = {s.remote.name: changes.pending(store.con, s.remote.name, request.process_date, request.overwrite)
            for s in staged if s.status == "staged" and s.remote.name not in decision.rejected_registers}
    for s in staged:  # an identical snapshot found nothing new: what was left before is still left
        if s.status == "identical":
            left.update({c.register: c for c in changes.summaries(store.con, s.remote.name, request.process_date)})
    left = {name: c for name, c in left.items() if c.total}
    counts: dict[str, Counts] = {}
    if not request.validate_only:
        for s in staged:
            counts[s.remote.name] = _merge_one(store, s, request, report, run_id, say, left.get(s.remote.name))
        # a merge that failed and rolled back (disk full…) is an error of that register, shown and exit 1
        report = replace(report, registers=tuple(
            RegisterSummary(r.name, "error", error=s.error) if s.status == "error" else r
            for r, s in zip(report.registers, staged, strict=True)))
    else:
        _log_validation(store, staged, report, request, run_id)
    left = {name: c for name, c in left.items()
            if next(r for r in report.registers if r.name == name).status != "error"}
    return ImportResult(report, counts, _exit_code(staged, report), left)


def _announcer(store: Store, request: ImportRequest) -> Progress:
    """Progress per register: to the caller's callback, and written down where `status` sees it."""
    what = "validate" if request.validate_only else f"import ({request.mode})"

    def say(register: str, message: str) -> None:
        store.stage(f"{what} {request.process_date}: {register} {message}")
        if request.progress is not None:
            request.progress(register, message)

    return say


def _stage_one(store: Store, remote: Remote, request: ImportRequest, root: Path, say: Progress) -> _Staged:
    """Copy, check and extract one register; a failure is recorded, logged, and the others go on."""
    result = _Staged(remote)
    try:
        with crash.contained(store.data_dir, remote.name, "reading it"):
            mapping = load_mapping(remote.mapping)
            say(remote.name, "copying")
            snapshot = staging.stage(remote.name, remote.path, root)
            result.sha = snapshot.sha256
            result.identity = _identity(snapshot.sha256, mapping)
            if snapshot.sha256 and _already_imported(store, remote.name, request, result.identity):
                result.status = "identical"
                say(remote.name, "already imported, identical")
                return result
            staging.check(snapshot)
            say(remote.name, "reading")
            with registers.opened(store.con, snapshot, mapping) as register:
                extracted = extract.extract_day(store.con, register, request.process_date)
            result.counts, result.unmapped = extracted.counts, extracted.unmapped
            if not snapshot.sha256:  # PostgreSQL, read in place: the date's staged rows are the snapshot
                result.sha = postgres.snapshot_digest(store.con, remote.name, TABLES)
                result.identity = _identity(result.sha, mapping)
                if _already_imported(store, remote.name, request, result.identity):
                    extract.discard(store.con, remote.name, TABLES)
                    result.status, result.counts = "identical", {}
                    say(remote.name, "already imported, identical")
                    return result
            say(remote.name, f"{extracted.counts.get('vouchers', 0):,} vouchers, "
                             f"{extracted.counts.get('voucher_lines', 0):,} lines")
    except PosyncError as err:
        extract.discard(store.con, remote.name, TABLES)
        result.status, result.error, result.error_code = "error", str(err), err.exit_code
        say(remote.name, f"error: {err}")
        with store.transaction() as con:
            ledger.log(con, "validate" if request.validate_only else "import", "error", str(err),
                       register=remote.name, mode=request.mode, process_date=request.process_date)
    finally:
        staging.cleanup(root, remote.name)
    return result


def _identity(sha: str, mapping: Mapping) -> str:
    """A snapshot's identity: the same file read through another mapping, or other rules, is another read."""
    return f"{sha}:{mapping.digest}:{extract.READ_RULES}"


def _already_imported(store: Store, register: str, request: ImportRequest, identity: str) -> bool:
    """Imported cleanly before from the same snapshot, mapping and rules (and no --reread, no validate)."""
    if request.validate_only or request.reread:
        return False
    bid = ledger.batch_id(register, request.process_date, request.mode, identity)
    row = store.con.execute("SELECT status FROM import_batches WHERE batch_id = ?", [bid]).fetchone()
    return bool(row and row[0] == "ok")


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
               say: Progress, left: Changes | None = None) -> Counts:
    """One main transaction: the register's data, its import_batches row and its sync_log row."""
    name = s.remote.name
    summary = _register_summary(report, name)
    if s.status == "error":
        return Counts()
    if s.status == "identical":
        with store.transaction() as con:
            ledger.log(con, "import", "skipped", "already imported, identical snapshot", register=name,
                       mode=request.mode, process_date=request.process_date, run_id=run_id)
        return Counts()
    plan = summary.plan
    bid = ledger.batch_id(name, request.process_date, request.mode, s.identity)
    if summary.status == "rejected":
        counts = Counts(read=summary.vouchers, rejected=summary.vouchers)
        with store.transaction() as con:
            ledger.record_batch(con, bid, name, request.process_date, request.mode, s.sha, counts, "rejected")
            ledger.log(con, "import", "rejected", _rejection_text(report, name), register=name,
                       mode=request.mode, process_date=request.process_date, counts=counts, run_id=run_id)
        say(name, "rejected")
        return counts
    say(name, "merging")
    checkpoint("merge")
    try:
        with store.transaction() as con:
            inserted, updated = merge.merge_register(con, name, request.overwrite)
            changes.record(con, name, request.process_date, request.overwrite)
            skipped = plan.unchanged + (0 if request.overwrite else plan.changed_at_source)
            counts = Counts(summary.vouchers, inserted, updated, skipped, plan.held_back)
            status = "partial" if summary.status == "partial" else "ok"  # a rerun must hold it back again
            checkpoint("log")
            ledger.record_batch(con, bid, name, request.process_date, request.mode, s.sha, counts, status)
            ledger.log(con, "import", status, _merge_text(plan, request.overwrite, s.unmapped, left), register=name,
                       mode=request.mode, process_date=request.process_date, counts=counts, run_id=run_id)
            checkpoint("commit")
    except PosyncError:
        raise
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except Exception as err:  # noqa: BLE001 - the transaction rolled back; record why and go on
        first = crash.first_line(err)
        message = f"register {name}: " + (_disk_full(err) or f"merge failed and was rolled back: {first}")
        if not _disk_full(err):
            message += f"; the details are in {crash.write(store.data_dir, f'{name} merge')}"
        s.status, s.error, s.error_code = "error", message, 1
        with store.transaction() as con:
            ledger.log(con, "import", "error", message, register=name, mode=request.mode,
                       process_date=request.process_date, run_id=run_id)
        say(name, f"error: {message}")
        return Counts()
    say(name, f"inserted {counts.inserted:,}, updated {counts.updated:,}, skipped {counts.skipped:,}")
    return counts


def _disk_full(err: Exception) -> str | None:
    text = str(err)
    if "No space left" in text or "disk full" in text.lower():
        return f"disk full at the main store while merging ({text.splitlines()[0]}); nothing was written"
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
