"""`posync validate`, `posync import` ("Importar movimientos del día"), `posync log`, `posync numbering`."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import click

from etl import ledger
from etl.cli.options import (
    DATE,
    REMOTE,
    creating_store,
    date_option,
    json_option,
    pass_store,
    reading_store,
    remotes_option,
)
from etl.numbering import Resolution, resolutions, set_resolution
from etl.pipeline import ImportRequest, ImportResult, import_day
from etl.render import table, terminal_width, to_json
from etl.store import Store
from validators.findings import plural


def _progress(enabled: bool) -> Callable[[str, str], None] | None:
    """Per-register progress on stderr when it is a terminal; silent in cron and pipes."""
    if not enabled or not sys.stderr.isatty():
        return None
    return lambda register, message: click.echo(f"  {register}: {message}", err=True)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text)
        return
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"report written to {output}", err=True)


SUFFIXES = {".html": "html", ".htm": "html", ".json": "json", ".txt": "text"}


def _existing_folder(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """A file to write must have a folder to go to: a usage error before any work is done."""
    if value is not None and not value.absolute().parent.is_dir():
        raise click.BadParameter(f"folder {value.absolute().parent} does not exist; create it or choose another.")
    return value


def report_format(fmt: str | None, output: Path | None) -> str:
    """--format, else what --output's suffix says (.html, .json, .txt), else text.

    An HTML report goes to a file (or a pipe), not to a terminal.
    """
    chosen = fmt or (SUFFIXES.get(output.suffix.lower(), "text") if output is not None else "text")
    if chosen == "html" and output is None and sys.stdout.isatty():
        raise click.UsageError("an HTML report is a file to open in a browser: add --output report.html "
                               "(or redirect it: > report.html).")
    return chosen


@click.command()
@date_option
@remotes_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]),
              help="Report format. Default: what --output's suffix says (.html, .json, .txt), else text.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), callback=_existing_folder,
              help="Write the report here.")
@click.option("--all-or-nothing", is_flag=True, help="Show what --all-or-nothing would hold back.")
@pass_store
def validate(store: Store, process_date: dt.date, remotes: tuple[str, ...], fmt: str | None, output: Path | None,
             all_or_nothing: bool) -> None:
    """Run every check of an import, and show what it would do, without merging anything."""
    from etl.report import render

    chosen = report_format(fmt, output)
    result = import_day(store, ImportRequest(process_date, remotes, all_or_nothing=all_or_nothing,
                                             validate_only=True, progress=_progress(chosen == "text")))
    _write(render(result.report, chosen), output)
    click.get_current_context().exit(result.exit_code)


@click.command("import")
@date_option
@remotes_option
@click.option("--overwrite", is_flag=True, help='Update vouchers already in main ("sobrescribiendo").')
@click.option("--all-or-nothing", is_flag=True, help="Reject the whole batch when any register is rejected.")
@click.option("--reread", is_flag=True,
              help="Read and compare a register again even when this snapshot was already imported identically.")
@json_option
@pass_store
def import_(store: Store, process_date: dt.date, remotes: tuple[str, ...], overwrite: bool, all_or_nothing: bool,
            reread: bool, as_json: bool) -> None:
    """Import the vouchers of a date: only new ones, or with --overwrite also the changed ones."""
    from etl.report import to_json as report_json

    result = import_day(store, ImportRequest(process_date, remotes, overwrite, all_or_nothing, reread=reread,
                                             progress=_progress(not as_json)))
    if as_json:
        click.echo(to_json({"report": report_json(result.report),
                            "counts": {k: v.__dict__ for k, v in result.counts.items()},
                            "changes_at_source": {k: v.as_dict() for k, v in result.changes.items()},
                            "exit_code": result.exit_code}))
    else:
        click.echo(import_summary(result))
    click.get_current_context().exit(result.exit_code)


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
                     "changed at source": left.total if left else 0})
    lines = [f"import {report.process_date}:",
             table(rows, [(k, k) for k in ("register", "status", "read", "inserted", "updated", "skipped",
                                          "held back", "changed at source")])]
    for r in report.registers:
        if r.error:
            lines.append(f"  {r.name}: {r.error}")
    for name, left in result.changes.items():
        lines.append(f"  {name}: {left.sentence()}")
    held = [f for f in report.findings if f.is_rejection]
    if held:
        lines.append("held back:")
        lines += [f"  - {f.message}" for f in held]
    if report.warnings:
        lines.append(f"{plural(len(report.warnings), 'warning')}; see `posync validate --date {report.process_date}`.")
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
        click.echo("no log rows match these filters." if filtered else "the log is empty.")
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
    click.echo(f"{code}: prefix {prefix}, numbers {range_from}-{range_to}"
               + (f", valid {valid_from} to {valid_to}" if valid_from or valid_to else "")
               + (", enforced" if enforce else ""))


@numbering.command("list")
@json_option
@reading_store
def numbering_list(store: Store, as_json: bool) -> None:
    """Every numbering resolution."""
    rows = resolutions(store)
    if as_json:
        click.echo(to_json(rows))
    elif not rows:
        click.echo("no numbering resolutions; add one with `posync numbering set CODE …`.")
    else:
        click.echo(table(rows, [(k, k.replace("_", " ")) for k in rows[0]]))
