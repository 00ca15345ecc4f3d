"""`posync changes …`: vouchers changed, voided or gone at a register after their import, not applied."""

from __future__ import annotations

import datetime as dt

import click

from etl import changes as changes_lib
from etl.cli.options import PROCESS_DATE, REMOTE, json_option, pass_store, reading_store
from etl.i18n import _, ngettext, word
from etl.render import table, to_json
from etl.store import Store


class VoucherKey(click.ParamType[tuple[str, int], object]):
    """CODE-NUMBER, e.g. FV1-1003."""

    name = "CODE-NUMBER"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, int]:
        code, _dash, number = str(value).rpartition("-")
        if not code or not number.isdigit():
            self.fail(_("%(value)r is not a voucher; write it CODE-NUMBER, e.g. FV1-1003.", value=value), param, ctx)
        return code.strip().upper(), int(number)


@click.group()
def changes() -> None:
    """Vouchers changed, voided or gone at a register after their import, that main has not taken."""


@changes.command("list")
@click.option("--all", "everything", is_flag=True, help="Also the differences accepted as deliberate.")
@json_option
@reading_store
def list_(store: Store, everything: bool, as_json: bool) -> None:
    """Every difference not applied: apply it with `import --overwrite`, or accept it."""
    rows = changes_lib.listing(store, everything)
    if as_json:
        click.echo(to_json(rows))
    elif not rows:
        click.echo(_("no changes at source: main holds what the registers hold."))
    else:
        for row in rows:  # what happened to the voucher at the register, in the reader's words
            row["kind"] = word("change", row["kind"])
        click.echo(table(rows, [("process_date", "date"), ("register", "register"), ("voucher_code", "code"),
                                ("number", "number"), ("kind", "kind"), ("status", "status"), ("seen_at", "seen"),
                                ("reason", "reason")]))


@changes.command("accept")
@click.option("--date", "-d", "process_date", type=PROCESS_DATE, required=True,
              help="The process date of the vouchers.")
@click.option("--remote", "-r", "register", type=REMOTE, required=True, help="The register.")
@click.option("--reason", required=True, help="Why main keeps its version (kept in the log).")
@click.option("--voucher", "vouchers", type=VoucherKey(), multiple=True,
              help="Only this voucher, CODE-NUMBER (repeatable). Default: all of that register and date.")
@json_option
@pass_store
def accept(store: Store, process_date: dt.date, register: str, reason: str, vouchers: tuple[tuple[str, int], ...],
           as_json: bool) -> None:
    """Accept a register's differences as deliberate: main keeps its version, status stops raising them."""
    count = changes_lib.accept(store, process_date, register, reason, vouchers)
    if as_json:
        click.echo(to_json({"accepted": count, "register": register, "process_date": process_date}))
    else:
        click.echo(ngettext("accepted %(num)s difference of %(register)s on %(date)s: main keeps its version; raised "
                            "again only if the register changes them again.",
                            "accepted %(num)s differences of %(register)s on %(date)s: main keeps its version; raised "
                            "again only if the register changes them again.", count, register=register,
                            date=process_date))
