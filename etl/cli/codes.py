"""`posync codes list|assign|release`: voucher-code ownership, managed and logged."""

from __future__ import annotations

import click

from etl import codes as codes_lib
from etl.cli.options import REMOTE, json_option, pass_store, reading_store
from etl.i18n import _
from etl.render import table, to_json
from etl.store import Store

reason_option = click.option("--reason", required=True, help="Why (kept in the log beside the change).")


@click.group()
def codes() -> None:
    """Voucher codes and the register that owns each (one owner per code, always)."""


def _held(text: str) -> str:
    """ "caja2 on 2026-11-25 (9)" (as --json gives it) in the reader's words."""
    register, on, rest = text.partition(" on ")
    date, _space, count = rest.partition(" (")
    return _("%(register)s on %(date)s (%(n)s)", register=register, date=date, n=count.rstrip(")")) if on else text


@codes.command("list")
@json_option
@reading_store
def codes_list(store: Store, as_json: bool) -> None:
    """Every voucher code: its owner, dates and vouchers in main, and where it is held back."""
    rows = codes_lib.listing(store)
    if as_json:
        click.echo(to_json(rows))
        return
    if not rows:
        click.echo(_("no voucher codes yet: the first import of a register gives it its codes."))
        return
    for row in rows:
        row["owner_shown"] = (_("%(owner)s (removed)", owner=row["owner"]) if row["owner_removed"]
                              else row["owner"]) or "-"
        row["held_shown"] = ", ".join(_held(h) for h in row["held_back"])
    click.echo(table(rows, [("code", "code"), ("owner_shown", "owner"), ("first_date", "first date"),
                            ("last_date", "last date"), ("vouchers", "vouchers"), ("held_shown", "held back")]))


@codes.command("assign")
@click.argument("code")
@click.argument("register", type=REMOTE)
@reason_option
@pass_store
def codes_assign(store: Store, code: str, register: str, reason: str) -> None:
    """Make REGISTER the owner of CODE (e.g. a register that replaced another); from the next import on."""
    before = codes_lib.assign(store, code, register, reason)
    code = code.strip().upper()
    click.echo(_("%(code)s now belongs to %(register)s (was %(before)s); it takes effect at the next import.",
                 code=code, register=register, before=before) if before else
               _("%(code)s now belongs to %(register)s; it takes effect at the next import.", code=code,
                 register=register))


@codes.command("release")
@click.argument("code")
@reason_option
@pass_store
def codes_release(store: Store, code: str, reason: str) -> None:
    """Free CODE, whose owner was removed or never imported it: the next register to import it cleanly owns it."""
    owner = codes_lib.release(store, code, reason)
    click.echo(_("%(code)s released (was %(owner)s); the next register to import it cleanly owns it.",
                 code=code.strip().upper(), owner=owner))


COMMANDS = (codes,)
