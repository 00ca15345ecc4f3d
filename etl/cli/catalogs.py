"""`posync catalogs …` ("Actualizar catálogos"): load main's catalogs, diff, push, restore, backups, history."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from etl import csvfiles
from etl.catalogs import (
    MODES,
    Edits,
    PushRequest,
    PushResult,
    RegisterPush,
    diff_sql,
    list_backups,
    load_catalog,
    push_catalogs,
    pushes,
    restore_backup,
)
from etl.catalogs.load import CsvOptions
from etl.catalogs.push import never_loaded_note
from etl.cli.options import REMOTE, creating_store, json_option, pass_store, reading_store, remotes_option
from etl.errors import ConfigError
from etl.i18n import _, error_text, ngettext, shown
from etl.render import table, to_json
from etl.schema import CATALOG_TABLES
from etl.store import Store

tables_option = click.option("--table", "-t", "tables", type=click.Choice(CATALOG_TABLES), multiple=True,
                             help="Only this catalog (repeatable). Default: all four.")
MODE_HELP = ("partial: only what changed on main since the last push (insert, update, delete); "
             "total: upsert every main row, delete nothing; replace: delete the register's rows, insert main's.")


@click.group()
def catalogs() -> None:
    """Push main's catalogs (products, customers, taxes, payment methods) to the registers."""


def _checked(check: Callable[[str | None], str | None], value: str | None) -> str | None:
    """A CSV option checked at the command line: a bad one is a usage error (exit 2) before main is opened."""
    try:
        return check(value)
    except ConfigError as err:
        raise click.BadParameter(error_text(err).split(": ", 1)[-1]) from None


@catalogs.command("load")
@click.argument("table_name", metavar="TABLE", type=click.Choice(CATALOG_TABLES))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--merge", is_flag=True, help="Add and update the file's rows, keep main's others "
                                            "(default: the file becomes the catalog).")
@click.option("--encoding", metavar="NAME", callback=lambda _c, _p, v: _checked(csvfiles.encoding_option, v),
              help="The CSV file's text encoding, e.g. utf-8, cp1252, latin-1 (default: found from the file).")
@click.option("--separator", metavar="SEP", callback=lambda _c, _p, v: _checked(csvfiles.separator_option, v),
              help="The CSV file's separator: ',', ';' or 'tab' (default: found from the header).")
@click.option("--decimal-comma/--decimal-point", "decimal_comma", default=None,
              help="Numbers in the CSV file are written 1234,50 (or 1234.50); default: a decimal comma when "
                   "unambiguous.")
@json_option
@creating_store
def load(store: Store, table_name: str, file: Path, merge: bool, encoding: str | None, separator: str | None,
         decimal_comma: bool | None, as_json: bool) -> None:
    """Fill one of main's catalogs from a CSV (with a header) or Parquet file.

    A CSV file may be UTF-8 (with or without a BOM), cp1252 or latin-1, separated by ',', ';' or tabs,
    with decimal points or decimal commas (as Excel writes it in Spanish): each is found from the file
    unless given.
    """
    options = CsvOptions(encoding, separator, decimal_comma)
    r = load_catalog(store, table_name, file, merge, options)
    if as_json:
        click.echo(to_json({**dataclasses.asdict(r), "file": str(r.file)}))
        return
    counts = dict(file=r.file.name, table=r.table, new=r.inserted, changed=r.updated, deleted=r.deleted,
                  unchanged=r.unchanged)
    click.echo(ngettext("%(num)s row from %(file)s merged into main's %(table)s: %(new)s new, %(changed)s changed, "
                        "%(deleted)s deleted, %(unchanged)s unchanged",
                        "%(num)s rows from %(file)s merged into main's %(table)s: %(new)s new, %(changed)s changed, "
                        "%(deleted)s deleted, %(unchanged)s unchanged", r.rows, **counts) if merge else
               ngettext("%(num)s row from %(file)s loaded into main's %(table)s: %(new)s new, %(changed)s changed, "
                        "%(deleted)s deleted, %(unchanged)s unchanged",
                        "%(num)s rows from %(file)s loaded into main's %(table)s: %(new)s new, %(changed)s changed, "
                        "%(deleted)s deleted, %(unchanged)s unchanged", r.rows, **counts))
    if r.csv is not None and not r.csv.plain:
        click.echo(_("read as %(how)s", how=r.csv.describe()))
    if r.missing_columns:
        click.echo(_("columns not in the file, left empty: %(columns)s", columns=", ".join(r.missing_columns)))


@catalogs.command("push")
@click.option("--mode", "-m", type=click.Choice(MODES), required=True, help=MODE_HELP)
@remotes_option
@tables_option
@click.option("--dry-run", is_flag=True, help="Write the SQL each register would run (see --sql-dir); change nothing.")
@click.option("--sql-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the --dry-run SQL files, one per register (default: posync's data folder).")
@click.option("--force", is_flag=True, help="Allow a push that deletes more than half of a register's rows of a table.")
@click.option("--verify", is_flag=True, help="Compare with the register's current rows, not with what main last "
                                             "pushed there, and report rows edited at the register.")
@json_option
@pass_store
def push(store: Store, mode: str, remotes: tuple[str, ...], tables: tuple[str, ...], dry_run: bool,
         sql_dir: Path | None, force: bool, verify: bool, as_json: bool) -> None:
    """Push main's catalogs to the registers: one transaction per register, backed up first."""
    if sql_dir is not None and not dry_run:
        raise click.BadOptionUsage("sql_dir", _("--sql-dir goes with --dry-run (a push applies its SQL itself)."))
    result = push_catalogs(store, PushRequest(mode, remotes, tables, dry_run, sql_dir, force, verify))
    click.echo(to_json(push_json(result)) if as_json else push_summary(result))
    click.get_current_context().exit(result.exit_code)


def _register_json(r: RegisterPush) -> dict[str, Any]:
    doc = dataclasses.asdict(r)
    doc["sql_file"] = str(r.sql_file) if r.sql_file else None
    return doc


def push_json(result: PushResult) -> dict[str, Any]:
    return {"mode": result.mode, "exit_code": result.exit_code, "never_loaded": list(result.never_loaded),
            "registers": [_register_json(r) for r in result.registers]}


def _edits(register: str, edits: tuple[Edits, ...]) -> list[str]:
    """--verify's report: the tables edited at the register, or one line saying none was."""
    lines = [e.describe(register) for e in edits if e.total]
    if edits and not lines:
        lines = [_("%(register)s: no rows edited at the register since the last push", register=register)]
    return lines


def push_summary(result: PushResult) -> str:
    """Per register and table: what the push did; then errors, edits at the registers, SQL files."""
    rows: list[dict[str, object]] = []
    for r in result.registers:
        if not r.tables:
            rows.append({"register": r.register, "status": r.status})
        for t in r.tables:
            rows.append({"register": r.register, "status": r.status, "table": t.table, "inserted": t.inserted,
                         "updated": t.updated, "deleted": t.deleted, "unchanged": t.unchanged})
    lines = [_("catalog push (%(mode)s):", mode=result.mode)]
    if rows:
        lines.append(table(rows, [("register", "register"), ("status", "status"), ("table", "table"),
                                  ("inserted", "inserted"), ("updated", "updated"), ("deleted", "deleted"),
                                  ("unchanged", "unchanged")]))
    if result.note:
        lines.append("  " + _("note: %(note)s", note=shown(result.note)))
    for r in result.registers:
        if r.error:
            lines.append(f"  {r.register}: {shown(r.error)}")
        if r.sql_file:
            lines.append(f"  {r.register}: " + _("SQL written to %(path)s", path=r.sql_file))
        if r.backup_id:
            lines.append(f"  {r.register}: " + _("backup %(backup)s (undo with: posync catalogs restore --remote "
                                                  "%(register)s --backup %(backup)s)", backup=r.backup_id,
                                                  register=r.register))
        lines += [f"  {line}" for line in _edits(r.register, r.edits)]
    return "\n".join(lines)


@catalogs.command("diff")
@click.option("--remote", "-r", "register", type=REMOTE, required=True, help="The register to compare with.")
@click.option("--mode", "-m", type=click.Choice(MODES), default="partial", show_default=True, help=MODE_HELP)
@tables_option
@click.option("--verify", is_flag=True, help="Compare with the register's current rows and report rows edited there.")
@pass_store
def diff(store: Store, register: str, mode: str, tables: tuple[str, ...], verify: bool) -> None:
    """Print the SQL a push would run at one register, in its dialect (the summary goes to stderr)."""
    d = diff_sql(store, register, mode, tables, verify)
    if note := never_loaded_note(d.never_loaded):
        click.echo(_("note: %(note)s", note=note), err=True)
    click.echo(d.sql, nl=False)
    for t in d.tables:
        click.echo(_("%(register)s %(table)s: +%(new)s ~%(changed)s -%(deleted)s (unchanged %(unchanged)s)",
                     register=register, table=t.table, new=t.inserted, changed=t.updated, deleted=t.deleted,
                     unchanged=t.unchanged), err=True)
    for line in _edits(register, d.edits):
        click.echo(line, err=True)
    for refusal in d.refusals:
        click.echo(_("warning: %(refusal)s: a push would be refused without --force", refusal=shown(refusal)), err=True)


@catalogs.command("restore")
@click.option("--remote", "-r", "register", type=REMOTE, required=True, help="The register to restore.")
@click.option("--backup", "backup_id", required=True, help="Backup id (see `posync catalogs backups`).")
@json_option
@pass_store
def restore(store: Store, register: str, backup_id: str, as_json: bool) -> None:
    """Undo a push at a register: put back the rows it changed or deleted, remove the rows it added."""
    r = restore_backup(store, register, backup_id)
    if as_json:
        click.echo(to_json(_register_json(r)))
        return
    what = "; ".join(_("%(table)s: %(back)s put back, %(restored)s restored, %(removed)s removed", table=t.table,
                       back=t.inserted, restored=t.updated, removed=t.deleted)
                     for t in r.tables if t.inserted or t.updated or t.deleted)
    if r.status == "unchanged":
        click.echo(_("%(register)s already matches backup %(backup)s; nothing to restore", register=register,
                     backup=backup_id))
    else:
        click.echo(_("restored backup %(backup)s on %(register)s: %(what)s", backup=backup_id, register=register,
                     what=what))
        click.echo(_("the rows it replaced are in backup %(backup)s", backup=r.backup_id))


@catalogs.command("backups")
@click.option("--remote", "-r", "register", type=REMOTE, help="Only this register.")
@json_option
@reading_store
def backups(store: Store, register: str | None, as_json: bool) -> None:
    """The backups taken before pushes, newest first (for `posync catalogs restore`)."""
    found = list_backups(store.data_dir, register)
    if as_json:
        click.echo(to_json([m.to_json() for m in found]))
        return
    if not found:
        click.echo(_("no backups yet; a push saves one before it changes a register."))
        return
    rows = [{"backup": m.backup_id, "register": m.register, "mode": m.mode, "taken": m.created_at.replace("T", " "),
             "rows": ", ".join(_("%(table)s %(saved)s saved/%(added)s added", table=t.table, saved=t.saved,
                                 added=t.inserted) for t in m.tables if t.saved or t.inserted) or _("none")}
            for m in found]
    click.echo(table(rows, [(k, k) for k in ("backup", "register", "mode", "taken", "rows")]))


@catalogs.command("history")
@click.option("--remote", "-r", "register", type=REMOTE, help="Only this register.")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), default=20, show_default=True)
@json_option
@reading_store
def history(store: Store, register: str | None, limit: int, as_json: bool) -> None:
    """Pushes newest first: pending, applied, failed or reconciled."""
    rows = pushes(store, register, limit)
    if as_json:
        click.echo(to_json(rows))
    elif not rows:
        click.echo(_("no pushes yet."))
    else:
        click.echo(table(rows, [("created_at", "when"), ("register", "register"), ("mode", "mode"),
                                ("status", "status"), ("message", "what"), ("backup_id", "backup")]))
