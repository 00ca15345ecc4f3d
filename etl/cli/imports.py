"""`posync validate`, `posync import` ("Importar movimientos del día"), `posync log`, `posync numbering`."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from etl import ledger, undo
from etl.catchup import Selection
from etl.cli.options import (
    DATE,
    REMOTE,
    Dates,
    creating_store,
    dates_options,
    hold_option,
    json_option,
    pass_store,
    reading_store,
    remotes_option,
    require_dates,
)
from etl.i18n import _, ngettext, shown
from etl.ledger import Counts
from etl.numbering import Resolution, resolutions, set_resolution
from etl.pipeline import ImportRequest, ImportResult, RangeResult, import_range
from etl.render import table, terminal_width, to_json
from etl.store import Store


def _progress(enabled: bool) -> Callable[[str, str], None] | None:
    """Per-register progress on stderr when it is a terminal; silent in cron and pipes."""
    if not enabled or not sys.stderr.isatty():
        return None
    return lambda register, message: click.echo(f"  {register}: {shown(message)}", err=True)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text)
        return
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(_("report written to %(path)s", path=output), err=True)


SUFFIXES = {".html": "html", ".htm": "html", ".json": "json", ".txt": "text"}


def _existing_folder(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """A file to write must have a folder to go to: a usage error before any work is done."""
    if value is not None and not value.absolute().parent.is_dir():
        raise click.BadParameter(_("folder %(folder)s does not exist; create it or choose another.",
                                   folder=value.absolute().parent))
    return value


def report_format(fmt: str | None, output: Path | None) -> str:
    """--format, else what --output's suffix says (.html, .json, .txt), else text.

    An HTML report goes to a file (or a pipe), not to a terminal.
    """
    chosen = fmt or (SUFFIXES.get(output.suffix.lower(), "text") if output is not None else "text")
    if chosen == "html" and output is None and sys.stdout.isatty():
        raise click.UsageError(_("an HTML report is a file to open in a browser: add --output report.html "
                                 "(or redirect it: > report.html)."))
    return chosen


def _nothing_to_do(selection: Selection) -> bool:
    """--since-last found every register up to date: say so (and why), and exit 0."""
    if selection.schedule:
        return False
    click.echo(_("nothing to import: every register is imported cleanly up to the last date asked for."))
    for note in selection.notes:
        click.echo("  " + _("note: %(note)s", note=shown(note)))
    return True


@click.command()
@dates_options()
@remotes_option
@hold_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]),
              help="Report format. Default: what --output's suffix says (.html, .json, .txt), else text.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), callback=_existing_folder,
              help="Write the report here (a range in HTML: one file per date, the date added to the name).")
@click.option("--all-or-nothing", is_flag=True, help="Show what --all-or-nothing would hold back.")
@pass_store
def validate(store: Store, dates: Dates, remotes: tuple[str, ...], hold: str, fmt: str | None,
             output: Path | None, all_or_nothing: bool) -> None:
    """Run every check of an import, and show what it would do, without merging anything."""
    from etl.report import render
    from etl.report import to_json as report_json

    require_dates(dates)
    chosen = report_format(fmt, output)
    selection = dates.select(store, remotes)
    if _nothing_to_do(selection):
        return
    request = ImportRequest(selection.dates[0], remotes, all_or_nothing=all_or_nothing, validate_only=True,
                            hold=hold, progress=_progress(chosen == "text"))
    result = import_range(store, request, selection.schedule)
    if dates.single:
        _write(render(result.days[0].report, chosen), output)
    elif chosen == "json":
        _write(to_json({"dates": [report_json(d.report) for d in result.days], "notes": list(selection.notes),
                        "exit_code": result.exit_code}), output)
    elif chosen == "html":
        for day in result.days:
            _write(render(day.report, "html"), _dated(output, day.report.process_date))
    else:
        _write(range_summary(result, selection.notes, "validate"), output)
    click.get_current_context().exit(result.exit_code)


def _dated(output: Path | None, day: dt.date) -> Path:
    """report.html → report-2026-11-26.html: a range's HTML reports, one file per date."""
    base = output or Path("report.html")
    return base.with_name(f"{base.stem}-{day}{base.suffix or '.html'}")


class _ImportGroup(click.Group):
    """`posync import [OPTIONS]` imports; `posync import undo BATCH` undoes one import."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            raise click.UsageError(_("unexpected argument %(arg)r; `posync import --date D` imports a date, "
                                     "`posync import undo BATCH` undoes an import.", arg=args[0]), ctx)
        return super().parse_args(ctx, args)


@click.group("import", cls=_ImportGroup, invoke_without_command=True)
@dates_options()
@remotes_option
@click.option("--overwrite", is_flag=True, help='Update vouchers already in main ("sobrescribiendo").')
@click.option("--all-or-nothing", is_flag=True, help="Reject the whole batch when any register is rejected.")
@hold_option
@click.option("--reread", is_flag=True,
              help="Read and compare a register again even when this snapshot was already imported identically.")
@json_option
@click.pass_context
def import_(ctx: click.Context, dates: Dates, remotes: tuple[str, ...], overwrite: bool, all_or_nothing: bool,
            hold: str, reread: bool, as_json: bool) -> None:
    """Import the vouchers of a date (or a range): only new ones, or with --overwrite also the changed ones.

    `posync import undo BATCH` puts main back as it was before one import batch (`posync batches list`).
    """
    if ctx.invoked_subcommand is not None:
        given = [p.opts[0] for p in ctx.command.params
                 if ctx.get_parameter_source(p.name or "") is click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(_("%(options)s belong to the import itself, not to `import %(command)s`.",
                                     options=", ".join(given), command=ctx.invoked_subcommand))
        return
    require_dates(dates)
    ctx.invoke(_import, dates=dates, remotes=remotes, overwrite=overwrite, all_or_nothing=all_or_nothing,
               hold=hold, reread=reread, as_json=as_json)


@pass_store
def _import(store: Store, dates: Dates, remotes: tuple[str, ...], overwrite: bool, all_or_nothing: bool,
            hold: str, reread: bool, as_json: bool) -> None:
    from etl.report import to_json as report_json

    selection = dates.select(store, remotes)
    if _nothing_to_do(selection):
        return
    request = ImportRequest(selection.dates[0], remotes, overwrite, all_or_nothing, reread=reread, hold=hold,
                            progress=_progress(not as_json))
    result = import_range(store, request, selection.schedule)

    def day_json(day: ImportResult) -> dict[str, object]:
        return {"report": report_json(day.report), "counts": {k: v.__dict__ for k, v in day.counts.items()},
                "changes_at_source": {k: v.as_dict() for k, v in day.changes.items()},
                "batches": day.batches, "exit_code": day.exit_code}

    if as_json and dates.single:
        click.echo(to_json(day_json(result.days[0])))
    elif as_json:
        click.echo(to_json({"dates": [day_json(d) for d in result.days], "totals": _totals(result).__dict__,
                            "notes": list(selection.notes), "exit_code": result.exit_code}))
    elif dates.single:
        click.echo(import_summary(result.days[0]))
    else:
        click.echo(range_summary(result, selection.notes, "import"))
    click.get_current_context().exit(result.exit_code)


@import_.command("undo")
@click.argument("batch")
@click.option("--cascade", is_flag=True, help="Also undo the later batches that changed its vouchers, newest first.")
@click.option("--dry-run", is_flag=True, help="Show what would change, and change nothing.")
@json_option
@pass_store
def import_undo(store: Store, batch: str, cascade: bool, dry_run: bool, as_json: bool) -> None:
    """Put main back as it was before import batch BATCH (ids: `posync batches list`)."""
    done = undo.undo(store, batch.strip(), cascade, dry_run)
    if as_json:
        click.echo(to_json({"dry_run": dry_run, "undone": [u.__dict__ for u in done]}))
        return
    for u in done:
        click.echo(_("would undo %(what)s", what=u.sentence()) if dry_run else _("undone %(what)s", what=u.sentence()))
    if dry_run:
        click.echo(_("dry run: nothing was changed."))


def import_summary(result: ImportResult) -> str:
    """The per-register result table, then what was held back and why, and what changed at the registers."""
    report = result.report
    rows = []
    for r in report.registers:
        c = result.counts.get(r.name)
        left = result.changes.get(r.name)
        rows.append({"register": r.name, "status": r.status, "read": c.read if c else 0,
                     "inserted": c.inserted if c else 0, "updated": c.updated if c else 0,
                     "skipped": c.skipped if c else 0, "held back": c.rejected if c else 0,
                     "changed at source": left.total if left else 0, "batch": result.batches.get(r.name, "")})
    lines = [_("import %(date)s:", date=report.process_date),
             table(rows, [(k, k) for k in ("register", "status", "read", "inserted", "updated", "skipped",
                                          "held back", "changed at source", "batch")])]
    lines += _details(result)
    if report.warnings:
        lines.append(ngettext("%(num)s warning; see `posync validate --date %(date)s`.",
                              "%(num)s warnings; see `posync validate --date %(date)s`.", len(report.warnings),
                              date=report.process_date))
    return "\n".join(lines)


def _details(result: ImportResult, prefix: str = "") -> list[str]:
    """Errors, changes at source and what was held back, in sentences."""
    from etl.report import finding_text

    lines = [f"  {prefix}{r.name}: {shown(r.error)}" for r in result.report.registers if r.error]
    lines += [f"  {prefix}{name}: {shown(left.sentence())}" for name, left in result.changes.items()]
    held = [f for f in result.report.findings if f.is_rejection]
    if held:
        lines.append(prefix + _("held back:"))
        lines += [f"  - {finding_text(f)}" for f in held]
    return lines


_STATUS_ORDER = ("accepted", "identical", "partial", "rejected", "error")


def _day_status(result: ImportResult) -> str:
    """The worst register status of a date (accepted → ok)."""
    worst = max((r.status for r in result.report.registers), key=_STATUS_ORDER.index, default="accepted")
    return {"accepted": "ok", "identical": "ok"}.get(worst, worst)


def _totals(result: RangeResult) -> Counts:
    every = [c for d in result.days for c in d.counts.values()]
    return Counts(*(sum(getattr(c, f) for c in every) for f in ("read", "inserted", "updated", "skipped", "rejected")))


def range_summary(result: RangeResult, notes: tuple[str, ...], what: str) -> str:
    """A range: one line per date, then the totals, then each date's held-back vouchers, errors and changes."""
    validating = what == "validate"
    rows: list[dict[str, Any]] = []
    for day in result.days:
        plans = [r.plan for r in day.report.registers]
        counts = list(day.counts.values())
        rows.append({
            "date": day.report.process_date, "registers": len(day.report.registers), "status": _day_status(day),
            "read": sum(r.vouchers for r in day.report.registers),
            "new" if validating else "inserted": sum(p.new for p in plans) if validating
            else sum(c.inserted for c in counts),
            "updated": sum(c.updated for c in counts), "skipped": sum(c.skipped for c in counts),
            "held back": sum(p.held_back for p in plans),
            "changed at source": sum(c.total for c in day.changes.values()),
        })
    columns = ["date", "registers", "status", "read", *(["new"] if validating else ["inserted", "updated",
                                                                                     "skipped"]),
               "held back", "changed at source"]
    total = {k: sum(int(r[k]) for r in rows) for k in columns if k not in ("date", "registers", "status")}
    worst = max((r["status"] for r in rows), key=lambda s: ("ok", "partial", "rejected", "error").index(s))
    rows.append({"date": "total", "registers": "", "status": worst, **total})
    first, last = result.days[0].report.process_date, result.days[-1].report.process_date
    heading = (ngettext("validate %(first)s to %(last)s (%(num)s date):", "validate %(first)s to %(last)s (%(num)s "
                        "dates):", len(result.days), first=first, last=last) if validating else
               ngettext("import %(first)s to %(last)s (%(num)s date):", "import %(first)s to %(last)s (%(num)s "
                        "dates):", len(result.days), first=first, last=last))
    lines = [heading,
             table(rows, [(k, k) for k in columns])]
    for day in result.days:
        lines += _details(day, f"{day.report.process_date} ")
    lines += [_("note: %(note)s", note=shown(n)) for n in notes]
    return "\n".join(lines)


@click.command()
@click.option("--remote", "-r", "register", type=REMOTE, help="Only this register.")
@click.option("--action", "-a", type=click.Choice(ledger.ACTIONS, case_sensitive=False), help="Only this action.")
@click.option("--since", type=DATE, help="Only rows logged on or after this date.")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), default=50, show_default=True)
@json_option
@reading_store
def log(store: Store, register: str | None, action: str | None, since: dt.date | None, limit: int,
        as_json: bool) -> None:
    """What posync did, newest first ("Examinar log")."""
    rows = ledger.entries(store.con, register, action, since, limit)
    if as_json:
        click.echo(to_json(rows))
        return
    if not rows:
        filtered = register or action or since
        click.echo(_("no log rows match these filters.") if filtered else _("the log is empty."))
        return
    click.echo(table(rows, [("logged_at", "when"), ("register", "register"), ("action", "action"),
                            ("mode", "mode"), ("process_date", "date"), ("read", "read"),
                            ("inserted", "ins"), ("updated", "upd"), ("skipped", "skip"),
                            ("rejected", "held"), ("status", "status"), ("message", "message")],
                     width=terminal_width()))


@click.group()
def numbering() -> None:
    """DIAN numbering resolutions: prefix and authorised range per voucher code."""


@numbering.command("set")
@click.argument("code")
@click.option("--prefix", required=True, help="DIAN prefix of the resolution (e.g. SETT).")
@click.option("--from", "range_from", type=click.IntRange(0), required=True, help="First authorised number.")
@click.option("--to", "range_to", type=click.IntRange(0), required=True, help="Last authorised number.")
@click.option("--valid-from", type=DATE, help="First day the resolution is valid.")
@click.option("--valid-to", type=DATE, help="Last day the resolution is valid.")
@click.option("--enforce", is_flag=True, help="Hold back vouchers outside the range (default: only flag them).")
@creating_store
def numbering_set(store: Store, code: str, prefix: str, range_from: int, range_to: int,
                  valid_from: dt.date | None, valid_to: dt.date | None, enforce: bool) -> None:
    """Set the resolution of one voucher code."""
    set_resolution(store, Resolution(code, prefix, range_from, range_to, valid_from, valid_to, enforce))
    click.echo(_("%(code)s: prefix %(prefix)s, numbers %(first)s-%(last)s", code=code, prefix=prefix,
                 first=str(range_from), last=str(range_to))
               + (_(", valid %(first)s to %(last)s", first=valid_from, last=valid_to) if valid_from or valid_to
                  else "")
               + (_(", enforced") if enforce else ""))


@numbering.command("list")
@json_option
@reading_store
def numbering_list(store: Store, as_json: bool) -> None:
    """Every numbering resolution."""
    rows = resolutions(store)
    if as_json:
        click.echo(to_json(rows))
    elif not rows:
        click.echo(_("no numbering resolutions; add one with `posync numbering set CODE …`."))
    else:
        click.echo(table(rows, [(k, k.replace("_", " ")) for k in rows[0]]))


@click.group()
def batches() -> None:
    """Import batches: one per register and date imported; `posync import undo BATCH` undoes one."""


@batches.command("list")
@click.option("--date", "-d", "process_date", type=DATE, help="Only batches of this process date.")
@click.option("--remote", "-r", "register", type=REMOTE, help="Only this register's batches.")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), default=50, show_default=True)
@json_option
@reading_store
def batches_list(store: Store, process_date: dt.date | None, register: str | None, limit: int,
                 as_json: bool) -> None:
    """Import batches, newest first: id, register, date, mode, counts, when, and until when it can be undone."""
    rows = undo.listing(store, process_date, register, limit)
    if as_json:
        click.echo(to_json(rows))
    elif not rows:
        click.echo(_("no import batches match.") if process_date or register else _("no import batches yet."))
    else:
        for row in rows:  # "until 2026-12-28" / "nothing to undo": the same words --json gives, said for the reader
            row["undo"] = (_("until %(date)s", date=row["undo"][6:]) if row["undo"].startswith("until ")
                           else _("nothing to undo") if row["undo"] == "nothing to undo" else row["undo"])
        click.echo(table(rows, [("batch", "batch"), ("register", "register"), ("date", "date"), ("mode", "mode"),
                                ("status", "status"), ("read", "read"), ("inserted", "ins"), ("updated", "upd"),
                                ("skipped", "skip"), ("held_back", "held"), ("imported_at", "imported at"),
                                ("undo", "undo")]))
