"""`posync remote …` ("Administrar POS remotos"): define, list, edit, remove and open registers."""

from __future__ import annotations

import click

from etl import remotes
from etl.cli.options import REMOTE, creating_store, json_option, pass_store, reading_store
from etl.i18n import _
from etl.render import table, to_json
from etl.store import Store


@click.group()
def remote() -> None:
    """Register, list, edit, remove and open the registers (cajas)."""


@remote.command("add")
@click.argument("name", type=REMOTE)
@click.argument("path")
@click.option("--ip", help="The register's IP address (informative).")
@click.option("--mapping", "-m", default="canonical", show_default=True,
              help="Mapping of the register's schema: canonical, legacy_es or a JSON file.")
@click.option("--no-check", is_flag=True, help="Register a path that is not reachable right now.")
@json_option
@creating_store
def add(store: Store, name: str, path: str, ip: str | None, mapping: str, no_check: bool, as_json: bool) -> None:
    """Register a remote: a SQLite or DuckDB file, a folder holding one, or a PostgreSQL URI.

    A PostgreSQL register is postgresql://user@host:port/db; its password comes from PGPASSWORD or
    ~/.pgpass, never from the URI.
    """
    r = remotes.add(store, name, path, ip, mapping, no_check)
    if as_json:
        click.echo(to_json(r.__dict__))
    else:
        click.echo(_("added %(name)s: %(engine)s database at %(path)s (mapping %(mapping)s)", name=r.name,
                     engine=r.engine, path=r.path, mapping=r.mapping))


@remote.command("list")
@json_option
@reading_store
def list_(store: Store, as_json: bool) -> None:
    """Every register: path, mapping, reachable now, last import, voucher codes it owns."""
    rows = remotes.listing(store)
    if as_json:
        click.echo(to_json(rows))
        return
    if not rows:
        click.echo(_("no registers yet; add one with `posync remote add NAME PATH`."))
        return
    click.echo(table(rows, [("name", "register"), ("ip", "ip"), ("engine", "engine"), ("mapping", "mapping"),
                            ("reachable", "reachable"), ("last_sales", "last sales"), ("last_import", "last import"),
                            ("codes", "codes"),
                            ("path", "path")]))


@remote.command("edit")
@click.argument("name", type=REMOTE)
@click.option("--path", help="New path of the register's database.")
@click.option("--ip", help="New IP address.")
@click.option("--mapping", "-m", help="New mapping.")
@click.option("--no-check", is_flag=True, help="Accept a path that is not reachable right now.")
@json_option
@pass_store
def edit(store: Store, name: str, path: str | None, ip: str | None, mapping: str | None, no_check: bool,
         as_json: bool) -> None:
    """Change a register's path, IP or mapping."""
    r = remotes.edit(store, name, path, ip, mapping, no_check)
    click.echo(to_json(r.__dict__) if as_json else _("updated %(name)s: %(engine)s at %(path)s (mapping %(mapping)s)",
                                                     name=r.name, engine=r.engine, path=r.path, mapping=r.mapping))


@remote.command("remove")
@click.argument("name", type=REMOTE)
@json_option
@pass_store
def remove(store: Store, name: str, as_json: bool) -> None:
    """Forget a register (its imported data and the codes it owns stay in main)."""
    remotes.remove(store, name)
    click.echo(to_json({"removed": name}) if as_json else _("removed %(name)s (its imported data stays in main)",
                                                             name=name))


@remote.command("rename")
@click.argument("old", type=REMOTE)
@click.argument("new", type=REMOTE)
@json_option
@pass_store
def rename(store: Store, old: str, new: str, as_json: bool) -> None:
    """Rename a register, keeping its identity: its data, codes, push state and log move with it."""
    unwritten = remotes.rename(store, old, new)
    if as_json:
        click.echo(to_json({"renamed": old, "to": new, "backups_not_rewritten": unwritten}))
        return
    click.echo(_("renamed %(old)s to %(new)s: its vouchers, codes, push state and log moved with it.", old=old,
                 new=new))
    if unwritten:
        click.echo(_("note: the manifests of backups %(backups)s could not be rewritten; they still name %(old)s.",
                     backups=", ".join(unwritten), old=old), err=True)


@remote.command("open")
@click.argument("name", type=REMOTE)
@json_option
@reading_store
def open_(store: Store, name: str, as_json: bool) -> None:
    """Open the register's folder in the file manager ("Abrir carpeta"), or print it."""
    folder, opened = remotes.open_folder(remotes.get(store, name))
    if as_json:
        click.echo(to_json({"folder": str(folder), "opened": opened}))
    else:
        click.echo(_("opened %(folder)s", folder=folder) if opened else _("folder: %(folder)s", folder=folder))
